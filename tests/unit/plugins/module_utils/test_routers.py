# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/routers.py: the seed's dedicated routers
(RouterHttp, RouterHttps, RouterSsl, RouterFast, RouterRaw, RouterForkPty,
RouterTunTap) and forwarders (ForwarderPath, ForwarderCode, ForwarderCache,
ForwarderSocket, ForwarderSubscriptionServer).

Every expected option is checked against uWSGI's option tables (http.c,
fastrouter.c, rawrouter.c, sslrouter.c, forkptyrouter.c, tuntap.c; see
UWSGI-FACTS.md §2): a suffix a router lacks, or one that only master has,
must be refused rather than silently ignored by uWSGI.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.routers import FORWARDERS, ROUTERS

TLS = {'cert': '/etc/ssl/c.pem', 'key': '/etc/ssl/k.pem'}

# A minimal valid item of every router type (the constructor only).
MINIMAL = {
    'http': {'type': 'http', 'bind': ':8080'},
    'https': dict({'type': 'https', 'bind': ':8443'}, **TLS),
    'ssl': dict({'type': 'ssl', 'bind': ':9443'}, **TLS),
    'fast': {'type': 'fast', 'bind': ':3017'},
    'raw': {'type': 'raw', 'bind': ':3018'},
    'forkpty': {'type': 'forkpty', 'bind': '/run/uwsgi/pty.sock'},
    'tuntap': {'type': 'tuntap', 'bind': '/run/uwsgi/tuntap.sock'},
}
CONSTRUCTOR = {
    'http': ['http', ':8080'],
    'https': ['https2', 'addr=:8443,cert=/etc/ssl/c.pem,key=/etc/ssl/k.pem'],
    'ssl': ['sslrouter2', 'addr=:9443,cert=/etc/ssl/c.pem,key=/etc/ssl/k.pem'],
    'fast': ['fastrouter', ':3017'],
    'raw': ['rawrouter', ':3018'],
    'forkpty': ['forkptyrouter', '/run/uwsgi/pty.sock'],
    'tuntap': ['tuntap-router', 'uwsgidev /run/uwsgi/tuntap.sock'],
}
PREFIX = {'http': 'http', 'https': 'http', 'ssl': 'sslrouter', 'fast': 'fastrouter', 'raw': 'rawrouter',
          'forkpty': 'forkptyrouter', 'tuntap': 'tuntap'}
FORWARDING = ('http', 'https', 'ssl', 'fast', 'raw')


def router(kind, **extra):
    item = dict(MINIMAL[kind])
    item.update(extra)
    return item


def compile_router(item, version='2.0', build=None):
    """The options of one router alone (no strict, no master)."""
    return compile_options({'routers': [item], 'master': False}, version, build, strict=False)


def compile_groups(item, version='2.0', build=None):
    """The options of one router without its constructor line."""
    out = compile_router(item, version, build)
    kind = item['type']
    assert out[0] == CONSTRUCTOR[kind]
    return out[1:]


def refusal(item, version='2.0', build=None):
    with pytest.raises(TopologyError) as info:
        compile_router(item, version, build)
    return info.value


# ---------------------------------------------------------------- the seed's surface

class TestSurface:

    def test_router_types(self):
        assert sorted(ROUTERS) == ['fast', 'forkpty', 'http', 'https', 'raw', 'ssl', 'tuntap']

    def test_forwarder_types(self):
        assert sorted(FORWARDERS) == ['cache', 'code', 'path', 'socket', 'subscription_server']

    @pytest.mark.parametrize('kind, groups', [
        ('http', ['basic_params', 'connections_params', 'manage_params', 'owner_params', 'resubscription_params']),
        ('https', ['basic_params', 'connections_params', 'manage_params', 'owner_params', 'resubscription_params']),
        ('ssl', ['basic_params', 'connections_params']),
        ('fast', ['basic_params', 'connections_params', 'owner_params', 'postbuffering_params',
                  'resubscription_params']),
        ('raw', ['basic_params', 'connections_params']),
        ('forkpty', ['basic_params', 'connections_params', 'window_params']),
        ('tuntap', ['basic_params']),
    ])
    def test_groups_are_the_seeds_methods(self, kind, groups):
        assert sorted(ROUTERS[kind].groups) == groups

    @pytest.mark.parametrize('kind, plugin', [
        ('http', 'http'), ('https', 'http'), ('ssl', 'sslrouter'), ('fast', 'fastrouter'), ('raw', 'rawrouter'),
        ('forkpty', 'forkptyrouter'), ('tuntap', 'tuntap'),
    ])
    def test_plugin_names(self, kind, plugin):
        assert ROUTERS[kind].plugin == plugin


# ---------------------------------------------------------------- constructors

class TestConstructors:

    @pytest.mark.parametrize('kind', sorted(MINIMAL))
    def test_minimal(self, kind):
        assert compile_router(MINIMAL[kind]) == [CONSTRUCTOR[kind]]

    @pytest.mark.parametrize('kind', sorted(MINIMAL))
    def test_minimal_on_2_1(self, kind):
        assert compile_router(MINIMAL[kind], '2.1') == [CONSTRUCTOR[kind]]

    @pytest.mark.parametrize('bind', [':80', '0.0.0.0:80', '10.0.0.1:80', '[::]:80', '/run/http.sock', '@http',
                                      '=0', 'localhost:8080'],
                             ids=['port', 'any', 'ip', 'ipv6', 'unix', 'abstract', 'shared', 'hostname'])
    @pytest.mark.parametrize('kind', ['http', 'fast', 'raw', 'forkpty'])
    def test_bind_forms(self, kind, bind):
        assert compile_router({'type': kind, 'bind': bind}) == [[CONSTRUCTOR[kind][0], bind]]

    @pytest.mark.parametrize('kind', ['http', 'https', 'ssl', 'fast', 'raw', 'forkpty'])
    def test_bind_required(self, kind):
        item = dict(MINIMAL[kind])
        del item['bind']
        error = refusal(item)
        assert error.path == 'routers[0].bind'
        assert 'is required' in error.message
        assert '"on"' in error.message

    @pytest.mark.parametrize('bind, fragment', [
        ('8080', 'must be [IP]:port'), (':0', 'no valid port'), (':99999', 'no valid port'), (True, 'string'),
        ('', 'must not be empty'),
    ], ids=['no-colon', 'port-0', 'port-too-big', 'bool', 'empty'])
    @pytest.mark.parametrize('kind', ['http', 'https', 'ssl', 'fast', 'raw', 'forkpty'])
    def test_bad_bind(self, kind, bind, fragment):
        error = refusal(router(kind, bind=bind))
        assert error.path == 'routers[0].bind'
        assert fragment in error.message

    @pytest.mark.parametrize('kind', ['http', 'fast', 'raw', 'forkpty'])
    def test_zerg_replaces_bind(self, kind):
        item = {'type': kind, 'basic_params': {'zerg_server': '/run/zerg.sock'}}
        assert compile_router(item) == [[PREFIX[kind] + '-zerg', '/run/zerg.sock']]

    @pytest.mark.parametrize('kind', ['https', 'ssl'])
    def test_tls_routers_need_bind_even_with_zerg(self, kind):
        # https2/sslrouter2 need addr= (uWSGI exits without it) and build the
        # TLS context for that socket; zerg sockets get none.  Emitting
        # "addr=None" would make uWSGI bind a UNIX socket named "None".
        item = dict(MINIMAL[kind], basic_params={'zerg_server': '/run/zerg.sock'})
        del item['bind']
        error = refusal(item)
        assert error.path == 'routers[0].bind'
        assert 'is required' in error.message


class TestHttps:

    def test_all_constructor_args(self):
        out = compile_router(router('https', ciphers='HIGH:!aNULL', client_ca='!/etc/ssl/ca.pem', use_spdy=True,
                                    session_context='web', export_cert_var=True), build={'spdy': True})
        assert ['https2', 'addr=:8443,cert=/etc/ssl/c.pem,key=/etc/ssl/k.pem,ciphers=HIGH:!aNULL,'
                          'clientca=!/etc/ssl/ca.pem,spdy=1'] in out
        assert ['https-session-context', 'web'] in out
        assert ['https-export-cert', 'true'] in out

    @pytest.mark.parametrize('client_ca', ['/etc/ssl/ca.pem', '!/etc/ssl/ca.pem'], ids=['optional', 'mandatory'])
    def test_client_ca(self, client_ca):
        assert compile_router(router('https', client_ca=client_ca))[0][1].endswith(',clientca=' + client_ca)

    def test_ciphers(self):
        assert compile_router(router('https', ciphers='ECDHE+AESGCM'))[0][1].endswith(',ciphers=ECDHE+AESGCM')

    def test_spdy(self):
        assert compile_router(router('https', use_spdy=True), build={'spdy': True})[0][1].endswith(',spdy=1')

    def test_spdy_false_emits_nothing(self):
        assert compile_router(router('https', use_spdy=False)) == [CONSTRUCTOR['https']]

    def test_spdy_needs_a_spdy_build(self):
        error = refusal(router('https', use_spdy=True))
        assert error.path == 'routers[0].use_spdy'
        assert 'UWSGI_SPDY' in error.message

    def test_export_cert(self):
        assert compile_router(router('https', export_cert_var=True)) == \
            [CONSTRUCTOR['https'], ['https-export-cert', 'true']]

    def test_export_cert_false(self):
        assert compile_router(router('https', export_cert_var=False)) == [CONSTRUCTOR['https']]

    def test_session_context_is_set_before_https2(self):
        # uwsgi_opt_https2 reads uhttp.https_session_context while the https2
        # option is applied (http/https.c), and uWSGI applies options in file
        # order (config.c uwsgi_configure): a session context after the https2
        # line is never used by that socket.
        out = compile_router(router('https', session_context='web'))
        assert out == [['https-session-context', 'web'], CONSTRUCTOR['https']]

    @pytest.mark.parametrize('missing', ['cert', 'key'])
    def test_cert_and_key_required(self, missing):
        item = router('https')
        del item[missing]
        error = refusal(item)
        assert error.path == 'routers[0].%s' % missing
        assert 'is required' in error.message
        assert 'certificate and its key' in error.message

    @pytest.mark.parametrize('name', ['cert', 'key', 'client_ca'])
    def test_relative_paths(self, name):
        error = refusal(router('https', **{name: 'relative.pem'}))
        assert error.path == 'routers[0].%s' % name
        assert 'must be an absolute path' in error.message

    @pytest.mark.parametrize('name', ['cert', 'key'])
    def test_bang_prefix_only_for_client_ca(self, name):
        # Only clientca takes the '!' (mandatory client certificate) prefix
        # (ssl.c uwsgi_ssl_new_server_context); '!/c.pem' as cert is a file name.
        error = refusal(router('https', **{name: '!/etc/ssl/x.pem'}))
        assert error.path == 'routers[0].%s' % name

    def test_needs_ssl(self):
        error = refusal(MINIMAL['https'], build={'ssl': False})
        assert error.path == 'routers[0].type'
        assert "'https2' needs a uWSGI built with SSL" in error.message

    def test_escaping(self):
        out = compile_router(router('https', cert='/etc/ssl/a,b.pem', key='/etc/ssl/k=1.pem',
                                    client_ca='/ca\\1.pem'))
        assert out[0] == ['https2', 'addr=:8443,cert=/etc/ssl/a\\,b.pem,key=/etc/ssl/k\\=1.pem,'
                                    'clientca=/ca\\\\1.pem']

    def test_shares_http_options(self):
        out = compile_groups(router('https', basic_params={'workers': 2, 'keepalive': True},
                                    manage_params={'websockets': True}))
        assert out == [['http-workers', '2'], ['http-keepalive', '1'], ['http-websockets', 'true']]

    @pytest.mark.parametrize('param', ['use_sni', 'spdy', 'crt'])
    def test_unknown_constructor_args(self, param):
        error = refusal(router('https', **{param: True}))
        assert error.path == 'routers[0].%s' % param
        assert 'unknown parameter' in error.message


class TestSsl:

    def test_all_constructor_args(self):
        out = compile_router(router('ssl', ciphers='HIGH', client_ca='/ca.pem', use_sni=True,
                                    session_context='tls'))
        assert ['sslrouter2', 'addr=:9443,cert=/etc/ssl/c.pem,key=/etc/ssl/k.pem,ciphers=HIGH,clientca=/ca.pem'] \
            in out
        assert ['sslrouter-sni', 'true'] in out
        assert ['sslrouter-session-context', 'tls'] in out

    def test_sni(self):
        assert compile_router(router('ssl', use_sni=True)) == [CONSTRUCTOR['ssl'], ['sslrouter-sni', 'true']]

    def test_sni_false(self):
        assert compile_router(router('ssl', use_sni=False)) == [CONSTRUCTOR['ssl']]

    def test_session_context_is_set_before_sslrouter2(self):
        # uwsgi_opt_sslrouter2 reads usr.ssl_session_context when applied
        # (sslrouter.c:111); uWSGI applies options in file order.
        out = compile_router(router('ssl', session_context='tls'))
        assert out == [['sslrouter-session-context', 'tls'], CONSTRUCTOR['ssl']]

    @pytest.mark.parametrize('param', ['use_spdy', 'export_cert_var'])
    def test_https_only_args_refused(self, param):
        error = refusal(router('ssl', **{param: True}))
        assert error.path == 'routers[0].%s' % param
        assert 'unknown parameter' in error.message

    def test_needs_ssl(self):
        error = refusal(MINIMAL['ssl'], build={'ssl': False})
        assert error.path == 'routers[0].type'
        assert "'sslrouter2' needs a uWSGI built with SSL" in error.message

    @pytest.mark.parametrize('missing', ['cert', 'key'])
    def test_cert_and_key_required(self, missing):
        item = router('ssl')
        del item[missing]
        assert refusal(item).path == 'routers[0].%s' % missing


class TestForkPty:

    def test_default_command(self):
        assert compile_router(MINIMAL['forkpty']) == [['forkptyrouter', '/run/uwsgi/pty.sock']]

    @pytest.mark.parametrize('value, command', [(True, 'forkptyurouter'), (False, 'forkptyrouter'),
                                                ('yes', 'forkptyurouter')])
    def test_uwsgi_protocol(self, value, command):
        assert compile_router(router('forkpty', uwsgi_protocol=value)) == [[command, '/run/uwsgi/pty.sock']]

    @pytest.mark.parametrize('value', [True, False])
    def test_undeferred_refused(self, value):
        error = refusal(router('forkpty', undeferred=value))
        assert error.path == 'routers[0].undeferred'
        assert 'both forkptyrouter and forkptyurouter are undeferred' in error.message
        assert 'uwsgi_protocol: true' in error.message

    def test_no_forwarders(self):
        error = refusal(router('forkpty', forward_to='10.0.0.5:3031'))
        assert error.path == 'routers[0].forward_to'
        assert 'unknown parameter' in error.message

    def test_bad_uwsgi_protocol(self):
        assert refusal(router('forkpty', uwsgi_protocol=1)).path == 'routers[0].uwsgi_protocol'


class TestTunTap:

    @pytest.mark.parametrize('extra, value', [
        ({}, 'uwsgidev /run/uwsgi/tuntap.sock'),
        ({'device': 'emperor0'}, 'emperor0 /run/uwsgi/tuntap.sock'),
        ({'stats_server': '/run/uwsgi/tt-stats.sock'}, 'uwsgidev /run/uwsgi/tuntap.sock /run/uwsgi/tt-stats.sock'),
        ({'stats_server': '127.0.0.1:9191', 'gateway': '10.0.0.1:4040'},
         'uwsgidev /run/uwsgi/tuntap.sock 127.0.0.1:9191 10.0.0.1:4040'),
        ({'device': 'tun0', 'stats_server': '/s', 'gateway': '192.168.0.1:5000'},
         'tun0 /run/uwsgi/tuntap.sock /s 192.168.0.1:5000'),
        ({'bind': '@tuntap'}, 'uwsgidev @tuntap'),
    ], ids=['default-device', 'device', 'stats', 'stats-gateway', 'all', 'abstract'])
    def test_constructor(self, extra, value):
        assert compile_router(router('tuntap', **extra)) == [['tuntap-router', value]]

    def test_gateway_needs_stats_server(self):
        error = refusal(router('tuntap', gateway='10.0.0.1:4040'))
        assert error.path == 'routers[0].gateway'
        assert 'fourth positional field' in error.message
        assert 'stats_server' in error.message

    @pytest.mark.parametrize('gateway', ['0.0.0.0:4040', ':4040'], ids=['zero-address', 'port-only'])
    def test_gateway_is_a_bind_address(self, gateway):
        # tuntap.c binds the gateway with bind_to_udp(uttr->gateway, 0, 0): an
        # empty host or 0.0.0.0 is INADDR_ANY, a legitimate local address.
        out = compile_router(router('tuntap', stats_server='/s', gateway=gateway))
        assert out == [['tuntap-router', 'uwsgidev /run/uwsgi/tuntap.sock /s ' + gateway]]

    @pytest.mark.parametrize('gateway, fragment', [
        ('/run/gw.sock', 'must be [IPv4]:port'),
        ('10.0.0.1', 'must be [IPv4]:port'),
        ('gw.example.com:4040', 'no host names'),
    ], ids=['unix', 'no-port', 'hostname'])
    def test_bad_gateway(self, gateway, fragment):
        error = refusal(router('tuntap', stats_server='/s', gateway=gateway))
        assert error.path == 'routers[0].gateway'
        assert fragment in error.message

    @pytest.mark.parametrize('bind', ['127.0.0.1:4000', ':4000', 'tuntap.sock'])
    def test_bind_must_be_unix(self, bind):
        error = refusal(router('tuntap', bind=bind))
        assert error.path == 'routers[0].bind'
        assert 'must be a UNIX socket path' in error.message

    @pytest.mark.parametrize('name, value', [('device', 'emperor0'), ('stats_server', '/s'),
                                             ('gateway', '10.0.0.1:1')])
    def test_constructor_args_need_bind(self, name, value):
        error = refusal({'type': 'tuntap', name: value})
        assert error.path == 'routers[0].bind'
        assert 'is required with %s' % name in error.message

    def test_spaces_refused(self):
        error = refusal(router('tuntap', device='emperor 0'))
        assert error.path == 'routers[0]'
        assert 'must not contain spaces' in error.message

    def test_vassal_side_only(self):
        item = {'type': 'tuntap', 'device_connect': [{'device_name': 'uwsgi0', 'socket': '/run/tt.sock'}]}
        assert compile_router(item) == [['tuntap-device', 'uwsgi0 /run/tt.sock']]

    @pytest.mark.parametrize('param, value, expected', [
        ('use_credentials', True, [['tuntap-use-credentials', 'true']]),
        ('use_credentials', False, []),
        ('use_credentials', 'addr_by_uid', [['tuntap-use-credentials', 'addr_by_uid']]),
        ('stats_server', '/run/tt-stats.sock', [['tuntap-router-stats', '/run/tt-stats.sock']]),
    ], ids=['credentials', 'credentials-false', 'credentials-symbol', 'stats'])
    def test_basic_params(self, param, value, expected):
        assert compile_groups(router('tuntap', basic_params={param: value})) == expected

    @pytest.mark.parametrize('param', ['workers', 'zerg_server', 'fallback_node', 'quiet', 'cheap_mode'])
    def test_not_a_corerouter(self, param):
        error = refusal(router('tuntap', basic_params={param: 1}))
        assert error.path == 'routers[0].basic_params.%s' % param
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('param', ['forward_to', 'connections_params'])
    def test_no_forwarders_or_connections(self, param):
        error = refusal(router('tuntap', **{param: {}}))
        assert error.path == 'routers[0].%s' % param

    # ------------------------------------------------ lists

    @pytest.mark.parametrize('rule, expected', [
        ({'direction': 'in', 'action': 'allow', 'src': '192.168.0.1', 'dst': '192.168.0.0/24'},
         ['tuntap-router-firewall-in', 'allow 192.168.0.1 192.168.0.0/24']),
        ({'direction': 'out', 'action': 'deny', 'src': '192.168.0.0/24', 'dst': '192.168.0.0/24'},
         ['tuntap-router-firewall-out', 'deny 192.168.0.0/24 192.168.0.0/24']),
        ({'direction': 'out', 'action': 'deny'}, ['tuntap-router-firewall-out', 'deny']),
        ({'direction': 'in', 'action': 'allow', 'src': '0.0.0.0', 'dst': '10.0.0.0/8'},
         ['tuntap-router-firewall-in', 'allow 0.0.0.0 10.0.0.0/8']),
    ], ids=['in-allow', 'out-deny', 'policy', 'any-source'])
    def test_firewall_rules(self, rule, expected):
        assert compile_router(router('tuntap', firewall_rules=[rule]))[1:] == [expected]

    @pytest.mark.parametrize('rule, path, fragment', [
        ({'action': 'allow'}, 'direction', 'is required'),
        ({'direction': 'up', 'action': 'allow'}, 'direction', 'must be one of in, out'),
        ({'direction': 'in'}, 'action', 'is required'),
        ({'direction': 'in', 'action': 'route'}, 'action', 'must be one of allow, deny'),
        ({'direction': 'in', 'action': 'allow', 'src': '10.0.0.0/8'}, 'dst', 'go together'),
        ({'direction': 'in', 'action': 'allow', 'dst': '10.0.0.0/8'}, 'src', 'go together'),
        ({'direction': 'in', 'action': 'allow', 'src': '10.0.0/8', 'dst': '10.0.0.1'}, 'src', 'IPv4 address'),
        ({'direction': 'in', 'action': 'allow', 'src': '10.0.0.0/33', 'dst': '10.0.0.1'}, 'src', 'IPv4 address'),
        ({'direction': 'in', 'action': 'allow', 'src': '10.0.0.1', 'dst': 'host'}, 'dst', 'IPv4 address'),
        ({'direction': 'in', 'action': 'allow', 'src': '10.0.0.1', 'dst': '300.0.0.1'}, 'dst', 'IPv4 address'),
        ({'direction': 'in', 'action': 'allow', 'src': '10.0.0.1', 'dst': '10.0.0.1/x'}, 'dst', 'IPv4 address'),
        ({'direction': 'in', 'action': 'allow', 'zz': 1}, 'zz', 'unknown parameter'),
    ], ids=['no-direction', 'bad-direction', 'no-action', 'bad-action', 'src-only', 'dst-only', 'short-ip',
            'mask-33', 'host', 'octet-300', 'mask-word', 'unknown'])
    def test_bad_firewall_rules(self, rule, path, fragment):
        error = refusal(router('tuntap', firewall_rules=[rule]))
        assert error.path == 'routers[0].firewall_rules[0].%s' % path
        assert fragment in error.message

    def test_cidr_bad_type(self):
        error = refusal(router('tuntap', firewall_rules=[{'direction': 'in', 'action': 'allow', 'src': ['10.0.0.1'],
                                                          'dst': '10.0.0.1'}]))
        assert error.path == 'routers[0].firewall_rules[0].src'

    @pytest.mark.parametrize('name', ['firewall_rules', 'routes'])
    def test_mask_0_needs_the_zero_address(self, name):
        # firewall.c computes the mask as 0xffffffff << (32 - mask): /0 shifts a
        # 32-bit value by 32 (x86 shifts by 0: a full /32 mask). Only 0.0.0.0/0
        # still means "any" (uWSGI skips a zero address).
        rule = {'src': '10.0.0.0/0', 'dst': '10.0.0.1'}
        rule.update({'direction': 'in', 'action': 'allow'} if name == 'firewall_rules' else {'gateway': '1.1.1.1:1'})
        error = refusal(router('tuntap', **{name: [rule]}))
        assert error.path == 'routers[0].%s[0].src' % name
        assert '/32' in error.message
        rule['src'] = '0.0.0.0/0'
        assert len(compile_router(router('tuntap', **{name: [rule]}))) == 2

    def test_routes(self):
        out = compile_router(router('tuntap', routes=[
            {'src': '192.168.0.0/24', 'dst': '10.0.0.0/8', 'gateway': '192.168.0.254:4040'},
            {'src': '192.168.1.0/24', 'dst': '0.0.0.0', 'gateway': '10.1.1.1:4041'},
        ]))
        assert out[1:] == [
            ['tuntap-router-route', '192.168.0.0/24 10.0.0.0/8 192.168.0.254:4040'],
            ['tuntap-router-route', '192.168.1.0/24 0.0.0.0 10.1.1.1:4041'],
        ]

    @pytest.mark.parametrize('rule, path, fragment', [
        ({'src': '10.0.0.0/8', 'dst': '10.0.0.0/8', 'gateway': '10.0.0.1'}, 'gateway', 'with a port'),
        ({'src': '10.0.0.0/8', 'dst': '10.0.0.0/8', 'gateway': '/run/gw.sock'}, 'gateway', 'UDP address'),
        ({'src': '10.0.0.0/8', 'dst': '10.0.0.0/8'}, 'gateway', 'is required'),
        ({'dst': '10.0.0.0/8', 'gateway': '10.0.0.1:1'}, 'src', 'is required'),
        ({'src': '10.0.0.0/8', 'gateway': '10.0.0.1:1'}, 'dst', 'is required'),
        ({'src': 'x', 'dst': '10.0.0.0/8', 'gateway': '10.0.0.1:1'}, 'src', 'IPv4 address'),
        ({'src': '10.0.0.0/8', 'dst': '10.0.0.0/8', 'gateway': '10.0.0.1:1', 'via': 1}, 'via', 'unknown'),
    ], ids=['gateway-no-port', 'gateway-unix', 'no-gateway', 'no-src', 'no-dst', 'bad-src', 'unknown'])
    def test_bad_routes(self, rule, path, fragment):
        error = refusal(router('tuntap', routes=[rule]))
        assert error.path == 'routers[0].routes[0].%s' % path
        assert fragment in error.message

    @pytest.mark.parametrize('rule, expected', [
        ({'device_name': 'uwsgi0'}, 'uwsgi0'),
        ({'device_name': 'uwsgi0', 'socket': '/run/tt.sock'}, 'uwsgi0 /run/tt.sock'),
    ], ids=['device', 'device-socket'])
    def test_device_connect(self, rule, expected):
        assert compile_router(router('tuntap', device_connect=[rule]))[1:] == [['tuntap-device', expected]]

    @pytest.mark.parametrize('field', ['src', 'dst'])
    @pytest.mark.parametrize('mask', ['24', '8', '0', '31'])
    def test_device_rule_masks_refused(self, field, mask):
        # common.c uwsgi_tuntap_peer_send_rules: 0xffffffff << (mask - 32), a
        # negative shift for anything but /32.
        rule = {'direction': 'in', 'src': '10.0.0.2', 'dst': '10.0.0.1', 'action': 'allow'}
        rule[field] = ('0.0.0.0/' if mask == '0' else '10.0.0.0/') + mask
        error = refusal(router('tuntap', device_rules=[rule]))
        assert error.path == 'routers[0].device_rules[0].%s' % field

    def test_device_connect_needs_name(self):
        error = refusal(router('tuntap', device_connect=[{'socket': '/s'}]))
        assert error.path == 'routers[0].device_connect[0].device_name'

    @pytest.mark.parametrize('rule, expected', [
        ({'direction': 'in', 'src': '10.0.0.2', 'dst': '10.0.0.1', 'action': 'allow'},
         'in 10.0.0.2 10.0.0.1 allow'),
        ({'direction': 'in', 'src': '10.0.0.2/32', 'dst': '10.0.0.1/32', 'action': 'allow'},
         'in 10.0.0.2/32 10.0.0.1/32 allow'),
        ({'direction': 'out', 'src': '10.0.0.1', 'dst': '0.0.0.0', 'action': 'deny'}, 'out 10.0.0.1 0.0.0.0 deny'),
        ({'direction': 'out', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'route', 'target': '10.0.0.254:4040'},
         'out 10.0.0.1 8.8.8.8 route 10.0.0.254:4040'),
        ({'direction': 'out', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'gateway',
          'target': '10.0.0.254:4040'}, 'out 10.0.0.1 8.8.8.8 gateway 10.0.0.254:4040'),
    ], ids=['allow', 'allow-32', 'deny', 'route', 'gateway'])
    def test_device_rules(self, rule, expected):
        assert compile_router(router('tuntap', device_rules=[rule]))[1:] == [['tuntap-device-rule', expected]]

    @pytest.mark.parametrize('rule, path, fragment', [
        ({'direction': 'out', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'route'}, 'target', 'is required'),
        ({'direction': 'out', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'allow', 'target': '1.1.1.1:1'},
         'target', 'applies only'),
        ({'direction': 'out', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'gateway', 'target': '1.1.1.1'},
         'target', 'with a port'),
        ({'direction': 'out', 'dst': '8.8.8.8', 'action': 'allow'}, 'src', 'is required'),
        ({'direction': 'sideways', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'allow'}, 'direction', 'in, out'),
        ({'direction': 'in', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'drop'}, 'action', 'must be one of'),
    ], ids=['route-no-target', 'allow-with-target', 'target-no-port', 'no-src', 'bad-direction', 'bad-action'])
    def test_bad_device_rules(self, rule, path, fragment):
        error = refusal(router('tuntap', device_rules=[rule]))
        assert error.path == 'routers[0].device_rules[0].%s' % path
        assert fragment in error.message

    @pytest.mark.parametrize('name', ['firewall_rules', 'routes', 'device_connect', 'device_rules'])
    @pytest.mark.parametrize('value', [{'a': 1}, 'x', 5], ids=['mapping', 'str', 'int'])
    def test_list_not_a_list(self, name, value):
        error = refusal(router('tuntap', **{name: value}))
        assert error.path == 'routers[0].%s' % name
        assert 'must be a list' in error.message

    @pytest.mark.parametrize('name', ['firewall_rules', 'routes', 'device_connect', 'device_rules'])
    def test_list_item_not_a_mapping(self, name):
        error = refusal(router('tuntap', **{name: ['x']}))
        assert error.path == 'routers[0].%s[0]' % name
        assert 'must be a mapping' in error.message

    def test_list_order(self):
        out = compile_router(router('tuntap', basic_params={'stats_server': '/s'},
                                    device_rules=[{'direction': 'in', 'src': '1.1.1.1', 'dst': '2.2.2.2',
                                                   'action': 'deny'}],
                                    device_connect=[{'device_name': 'tun0'}],
                                    routes=[{'src': '1.1.1.1', 'dst': '2.2.2.2', 'gateway': '3.3.3.3:1'}],
                                    firewall_rules=[{'direction': 'in', 'action': 'deny'}]))
        assert [name for name, _v in out] == [
            'tuntap-router', 'tuntap-router-stats', 'tuntap-router-firewall-in', 'tuntap-router-route',
            'tuntap-device', 'tuntap-device-rule']


# ---------------------------------------------------------------- parameter groups

def _common_basic(kind):
    p = PREFIX[kind]
    return [
        (kind, 'basic_params', 'workers', 2, '2.0', [[p + '-workers', '2']]),
        (kind, 'basic_params', 'zerg_server', '/run/zerg.sock', '2.0', [[p + '-zerg', '/run/zerg.sock']]),
        (kind, 'basic_params', 'fallback_node', '10.0.0.9:3031', '2.0', [[p + '-fallback', '10.0.0.9:3031']]),
        (kind, 'basic_params', 'fallback_node', ['10.0.0.8:1', '/run/f.sock'], '2.0',
         [[p + '-fallback', '10.0.0.8:1'], [p + '-fallback', '/run/f.sock']]),
        (kind, 'basic_params', 'concurrent_events', 128, '2.0', [[p + '-events', '128']]),
        (kind, 'basic_params', 'cheap_mode', True, '2.0', [[p + '-cheap', 'true']]),
        (kind, 'basic_params', 'cheap_mode', False, '2.0', []),
        (kind, 'basic_params', 'stats_server', '127.0.0.1:9191', '2.0', [[p + '-stats', '127.0.0.1:9191']]),
        (kind, 'connections_params', 'harakiri', 60, '2.0', [[p + '-harakiri', '60']]),
        (kind, 'connections_params', 'harakiri', 0, '2.0', [[p + '-harakiri', '0']]),
        (kind, 'connections_params', 'timeout_socket', 30, '2.0', [[p + '-timeout', '30']]),
    ]


def _forwarding_basic(kind):
    p = PREFIX[kind]
    return _common_basic(kind) + [
        (kind, 'basic_params', 'quiet', True, '2.0', [[p + '-quiet', 'true']]),
        (kind, 'basic_params', 'quiet', False, '2.0', []),
        (kind, 'basic_params', 'buffer_size', 65536, '2.0', [[p + '-buffer-size', '65536']]),
        (kind, 'connections_params', 'retry_delay', 30, '2.0', [[p + '-gracetime', '30']]),
    ]


def _http_like(kind):
    return _forwarding_basic(kind) + [
        (kind, 'basic_params', 'keepalive', True, '2.0', [['http-keepalive', '1']]),
        (kind, 'basic_params', 'keepalive', 'yes', '2.0', [['http-keepalive', '1']]),
        (kind, 'basic_params', 'keepalive', 15, '2.0', [['http-keepalive', '15']]),
        (kind, 'basic_params', 'keepalive', '20', '2.0', [['http-keepalive', '20']]),
        (kind, 'basic_params', 'keepalive', 1, '2.0', [['http-keepalive', '1']]),
        (kind, 'basic_params', 'keepalive', False, '2.0', []),
        (kind, 'basic_params', 'keepalive', 0, '2.0', []),
        (kind, 'basic_params', 'resubscribe_addresses', '10.0.0.9:2626', '2.0',
         [['http-resubscribe', '10.0.0.9:2626']]),
        (kind, 'basic_params', 'resubscribe_addresses', ['10.0.0.9:2626', '/run/r.sock'], '2.0',
         [['http-resubscribe', '10.0.0.9:2626'], ['http-resubscribe', '/run/r.sock']]),
        (kind, 'connections_params', 'timeout_headers', 10, '2.0', [['http-headers-timeout', '10']]),
        (kind, 'connections_params', 'timeout_backend', 5, '2.0', [['http-connect-timeout', '5']]),
        (kind, 'manage_params', 'chunked_input', True, '2.0', [['http-chunked-input', 'true']]),
        (kind, 'manage_params', 'chunked_output', True, '2.0', [['http-auto-chunked', 'true']]),
        (kind, 'manage_params', 'gzip', True, '2.0', [['http-auto-gzip', 'true']]),
        (kind, 'manage_params', 'websockets', True, '2.0', [['http-websockets', 'true']]),
        (kind, 'manage_params', 'source_method', True, '2.0', [['http-manage-source', 'true']]),
        (kind, 'manage_params', 'rtsp', True, '2.0', [['http-manage-rtsp', 'true']]),
        (kind, 'manage_params', 'proxy_protocol', True, '2.0', [['http-enable-proxy-protocol', 'true']]),
        (kind, 'manage_params', 'websockets', False, '2.0', []),
        (kind, 'owner_params', 'uid', 'www-data', '2.0', [['http-uid', 'www-data']]),
        (kind, 'owner_params', 'uid', 33, '2.0', [['http-uid', '33']]),
        (kind, 'owner_params', 'gid', 'www-data', '2.0', [['http-gid', 'www-data']]),
        (kind, 'owner_params', 'gid', 0, '2.0', [['http-gid', '0']]),
        (kind, 'resubscription_params', 'addresses', '10.0.0.9:2626', '2.0',
         [['http-resubscribe', '10.0.0.9:2626']]),
        (kind, 'resubscription_params', 'addresses', ['10.0.0.9:2626', '@r'], '2.0',
         [['http-resubscribe', '10.0.0.9:2626'], ['http-resubscribe', '@r']]),
    ]


GROUP_CASES = (
    _http_like('http') + _http_like('https') + _forwarding_basic('ssl') + _forwarding_basic('fast')
    + _forwarding_basic('raw') + _common_basic('forkpty') + [
        ('ssl', 'connections_params', 'retry_max', 5, '2.0', [['sslrouter-max-retries', '5']]),
        ('raw', 'connections_params', 'retry_max', 5, '2.0', [['rawrouter-max-retries', '5']]),
        ('raw', 'connections_params', 'use_xclient', True, '2.0', [['rawrouter-xclient', 'true']]),
        ('fast', 'basic_params', 'fallback_nokey', True, '2.0', [['fastrouter-fallback-on-no-key', 'true']]),
        ('fast', 'basic_params', 'subscription_key', 'example.com', '2.1', [['fastrouter-force-key', 'example.com']]),
        ('fast', 'basic_params', 'emperor_command_socket', '/run/emperor.sock', '2.1',
         [['fastrouter-emperor-socket', '/run/emperor.sock']]),
        ('fast', 'connections_params', 'retry_max', 4, '2.1', [['fastrouter-max-retries', '4']]),
        ('fast', 'connections_params', 'defer', 5, '2.1', [['fastrouter-defer-connect-timeout', '5']]),
        ('fast', 'postbuffering_params', 'size', 8192, '2.0', [['fastrouter-post-buffering', '8192']]),
        ('fast', 'postbuffering_params', 'store_dir', '/var/tmp', '2.0',
         [['fastrouter-post-buffering-dir', '/var/tmp']]),
        ('fast', 'owner_params', 'uid', 'uwsgi', '2.0', [['fastrouter-uid', 'uwsgi']]),
        ('fast', 'owner_params', 'gid', 1000, '2.0', [['fastrouter-gid', '1000']]),
        ('fast', 'resubscription_params', 'addresses', '10.0.0.9:2626', '2.0',
         [['fastrouter-resubscribe', '10.0.0.9:2626']]),
        ('fast', 'resubscription_params', 'bind_to', '10.0.0.2:0', '2.0',
         [['fastrouter-resubscribe-bind', '10.0.0.2:0']]),
        ('forkpty', 'basic_params', 'run_command', '/bin/zsh', '2.0', [['forkptyrouter-command', '/bin/zsh']]),
        ('forkpty', 'window_params', 'cols', 120, '2.0', [['forkptyrouter-cols', '120']]),
        ('forkpty', 'window_params', 'rows', 40, '2.0', [['forkptyrouter-rows', '40']]),
    ]
)


def _case_id(case):
    return '%s-%s.%s=%r@%s' % case[:5]


class TestGroups:

    @pytest.mark.parametrize('kind, group, param, value, version, expected', GROUP_CASES,
                             ids=[_case_id(c) for c in GROUP_CASES])
    def test_emitted(self, kind, group, param, value, version, expected):
        assert compile_groups(router(kind, **{group: {param: value}}), version) == expected

    @pytest.mark.parametrize('kind, group, param, value, version, expected',
                             [c for c in GROUP_CASES if c[4] == '2.0'],
                             ids=[_case_id(c) for c in GROUP_CASES if c[4] == '2.0'])
    def test_2_0_options_also_on_2_1(self, kind, group, param, value, version, expected):
        assert compile_groups(router(kind, **{group: {param: value}}), '2.1') == expected

    @pytest.mark.parametrize('group, param, value, option', [
        ('basic_params', 'subscription_key', 'example.com', 'force-key'),
        ('basic_params', 'emperor_command_socket', '/run/e.sock', 'emperor-socket'),
        ('connections_params', 'retry_max', 3, 'max-retries'),
        ('connections_params', 'defer', 5, 'defer-connect-timeout'),
    ])
    def test_fastrouter_master_only_refused_on_2_0(self, group, param, value, option):
        error = refusal(router('fast', **{group: {param: value}}), '2.0')
        assert error.path == 'routers[0].%s.%s' % (group, param)
        assert 'exists only in uWSGI 2.1' in error.message
        assert "'fastrouter-%s'" % option in error.message

    @pytest.mark.parametrize('kind', ['http', 'https'])
    def test_gzip_needs_zlib(self, kind):
        error = refusal(router(kind, manage_params={'gzip': True}), build={'zlib': False})
        assert error.path == 'routers[0].manage_params.gzip'
        assert "auto-gzip' needs a uWSGI built with zlib" in error.message

    @pytest.mark.parametrize('kind, group, param', [
        # absent from uWSGI's option tables (UWSGI-FACTS.md §2)
        ('http', 'connections_params', 'retry_max'),
        ('https', 'connections_params', 'retry_max'),
        ('http', 'basic_params', 'fallback_nokey'),
        ('http', 'basic_params', 'subscription_key'),
        ('ssl', 'basic_params', 'keepalive'),
        ('raw', 'basic_params', 'keepalive'),
        ('fast', 'basic_params', 'keepalive'),
        ('fast', 'connections_params', 'timeout_headers'),
        ('raw', 'connections_params', 'defer'),
        ('ssl', 'connections_params', 'use_xclient'),
        ('forkpty', 'basic_params', 'quiet'),
        ('forkpty', 'basic_params', 'buffer_size'),
        ('forkpty', 'connections_params', 'retry_delay'),
        ('forkpty', 'connections_params', 'retry_max'),
    ])
    def test_param_absent_from_router(self, kind, group, param):
        error = refusal(router(kind, **{group: {param: 1}}))
        assert error.path == 'routers[0].%s.%s' % (group, param)
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('kind, group', [
        ('http', 'postbuffering_params'), ('https', 'postbuffering_params'), ('http', 'window_params'),
        ('ssl', 'owner_params'), ('ssl', 'manage_params'), ('ssl', 'resubscription_params'),
        ('raw', 'owner_params'), ('raw', 'resubscription_params'), ('raw', 'postbuffering_params'),
        ('fast', 'manage_params'), ('forkpty', 'owner_params'), ('forkpty', 'resubscription_params'),
        ('tuntap', 'owner_params'),
    ])
    def test_group_absent_from_router(self, kind, group):
        error = refusal(router(kind, **{group: {}}))
        assert error.path == 'routers[0].%s' % group
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('kind', ['http', 'https'])
    def test_http_has_no_resubscribe_bind(self, kind):
        error = refusal(router(kind, resubscription_params={'bind_to': '10.0.0.2:0'}))
        assert error.path == 'routers[0].resubscription_params.bind_to'
        assert 'no resubscribe-bind' in error.message

    @pytest.mark.parametrize('kind, group, param, value, fragment', [
        ('http', 'basic_params', 'workers', 0, 'must be >= 1'),
        ('http', 'basic_params', 'workers', True, 'must be an integer'),
        ('http', 'basic_params', 'workers', -1, 'must be >= 1'),
        ('http', 'basic_params', 'workers', 'two', 'must be an integer'),
        ('http', 'basic_params', 'concurrent_events', 0, 'must be >= 1'),
        ('http', 'basic_params', 'buffer_size', 0, 'must be >= 1'),
        ('http', 'basic_params', 'cheap_mode', 1, 'must be a boolean'),
        ('http', 'basic_params', 'quiet', 'loud', 'must be a boolean'),
        ('http', 'basic_params', 'keepalive', -1, 'must be >= 0'),
        ('http', 'basic_params', 'keepalive', 'sometimes', 'must be a boolean'),
        ('http', 'basic_params', 'keepalive', [1], 'must be a'),
        ('http', 'basic_params', 'stats_server', '', 'must not be empty'),
        ('http', 'basic_params', 'fallback_node', [], 'empty list'),
        ('http', 'connections_params', 'harakiri', -1, 'must be >= 0'),
        ('http', 'connections_params', 'timeout_socket', 0, 'must be >= 1'),
        ('http', 'owner_params', 'uid', -1, 'non-negative'),
        ('http', 'owner_params', 'gid', True, 'must be a string'),
        ('http', 'manage_params', 'websockets', 'on', 'must be a boolean'),
        ('fast', 'postbuffering_params', 'size', 0, 'must be >= 1'),
        ('forkpty', 'window_params', 'cols', 0, 'must be >= 1'),
        ('forkpty', 'window_params', 'rows', 'tall', 'must be an integer'),
        ('raw', 'connections_params', 'retry_max', -1, 'must be >= 0'),
    ], ids=lambda v: str(v)[:20])
    def test_bad_values(self, kind, group, param, value, fragment):
        error = refusal(router(kind, **{group: {param: value}}))
        assert error.path == 'routers[0].%s.%s' % (group, param)
        assert fragment in error.message

    @pytest.mark.parametrize('kind', sorted(MINIMAL))
    @pytest.mark.parametrize('value', ['x', ['workers'], 5, True], ids=['str', 'list', 'int', 'bool'])
    def test_group_not_a_mapping(self, kind, value):
        error = refusal(router(kind, basic_params=value))
        assert error.path == 'routers[0].basic_params'
        assert 'must be a mapping' in error.message

    @pytest.mark.parametrize('kind', sorted(MINIMAL))
    def test_unknown_param(self, kind):
        error = refusal(router(kind, basic_params={'processes': 2}))
        assert error.path == 'routers[0].basic_params.processes'
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('address, fragment', [
        ('router.example.com:2626', '255.255.255.255'),
        (':2626', 'wildcard'),
        ('[::1]:2626', 'IPv6'),
    ], ids=['hostname', 'wildcard', 'ipv6'])
    @pytest.mark.parametrize('where', ['basic', 'resubscription'])
    def test_bad_resubscribe_address(self, where, address, fragment):
        if where == 'basic':
            item, path = router('http', basic_params={'resubscribe_addresses': [address]}), \
                'routers[0].basic_params.resubscribe_addresses[0]'
        else:
            item, path = router('fast', resubscription_params={'addresses': address}), \
                'routers[0].resubscription_params.addresses'
        error = refusal(item)
        assert error.path == path
        assert fragment in error.message

    @pytest.mark.parametrize('kind', FORWARDING)
    @pytest.mark.parametrize('node', ['backend.example.com:3031', ':3031'], ids=['hostname', 'wildcard'])
    def test_fallback_node_is_a_node_address(self, kind, node):
        # Fallback nodes are connected like static nodes (uwsgi_connectn ->
        # connect_to_tcp -> inet_addr): a host name is 255.255.255.255 and an
        # empty host INADDR_ANY, exactly what forward_to refuses for <r>-to.
        error = refusal(router(kind, basic_params={'fallback_node': node}))
        assert error.path == 'routers[0].basic_params.fallback_node'

    def test_group_order_and_keepalive_last(self):
        out = compile_groups(router('http', basic_params={'keepalive': 5, 'workers': 2, 'quiet': True},
                                    owner_params={'uid': 'u'}, manage_params={'websockets': True},
                                    connections_params={'harakiri': 9}))
        assert out == [
            ['http-workers', '2'], ['http-quiet', 'true'], ['http-keepalive', '5'],
            ['http-harakiri', '9'], ['http-websockets', 'true'], ['http-uid', 'u'],
        ]

    def test_null_values_are_skipped(self):
        assert compile_groups(router('http', basic_params={'workers': None, 'keepalive': None},
                                     connections_params=None)) == []


# ---------------------------------------------------------------- forwarders

FORWARDER_CASES = [
    ({'type': 'path', 'sockets_dir': '/run/uwsgi/sockets/'}, 'use-base', '/run/uwsgi/sockets/'),
    ({'type': 'path', 'sockets_dir': '/s/%s.sock'}, 'use-pattern', '/s/%s.sock'),
    ({'type': 'path', 'sockets_dir': '/run/%s/uwsgi.sock'}, 'use-pattern', '/run/%s/uwsgi.sock'),
    ({'type': 'code', 'script': 'mod', 'func': 'func'}, 'use-code-string', '0:mod:func'),
    ({'type': 'code', 'script': 'router.py', 'func': 'route', 'modifier': 'psgi'}, 'use-code-string',
     '5:router.py:route'),
    ({'type': 'code', 'script': 'r.lua', 'func': 'f', 'modifier': 6}, 'use-code-string', '6:r.lua:f'),
    ({'type': 'code', 'script': 'r.rb', 'func': 'f', 'modifier': {'modifier1': 'rack'}}, 'use-code-string',
     '7:r.rb:f'),
    ({'type': 'cache', 'cache_name': 'nodes'}, 'use-cache', 'nodes'),
    ({'type': 'socket'}, 'use-socket', '0'),
    ({'type': 'socket', 'socket': 0}, 'use-socket', '0'),
    ({'type': 'socket', 'socket': 2}, 'use-socket', '2'),
    ({'type': 'socket', 'socket': '1'}, 'use-socket', '1'),
    ({'type': 'subscription_server', 'address': '127.0.0.1:2626'}, 'subscription-server', '127.0.0.1:2626'),
    ({'type': 'subscription_server', 'address': ':2626'}, 'subscription-server', ':2626'),
    ({'type': 'subscription_server', 'address': '0.0.0.0:2626'}, 'subscription-server', '0.0.0.0:2626'),
    ({'type': 'subscription_server', 'address': '/run/uwsgi/sub.sock'}, 'subscription-server',
     '/run/uwsgi/sub.sock'),
    ({'type': 'subscription_server', 'address': '@sub'}, 'subscription-server', '@sub'),
]


class TestForwarders:

    @pytest.mark.parametrize('kind', FORWARDING)
    @pytest.mark.parametrize('forwarder, suffix, value', FORWARDER_CASES,
                             ids=['%s-%s' % (c[0]['type'], c[2]) for c in FORWARDER_CASES])
    def test_forwarder(self, kind, forwarder, suffix, value):
        assert compile_groups(router(kind, forward_to=forwarder)) == [[PREFIX[kind] + '-' + suffix, value]]

    @pytest.mark.parametrize('kind', FORWARDING)
    @pytest.mark.parametrize('node', ['10.0.0.5:3031', '/run/uwsgi/app.sock', '@app'])
    def test_static_node(self, kind, node):
        assert compile_groups(router(kind, forward_to=node)) == [[PREFIX[kind] + '-to', node]]

    def test_several_in_order(self):
        out = compile_groups(router('fast', forward_to=[
            {'type': 'subscription_server', 'address': '127.0.0.1:2626'},
            '10.0.0.5:3031',
            {'type': 'cache', 'cache_name': 'map'},
            '10.0.0.6:3031',
        ]))
        assert out == [
            ['fastrouter-subscription-server', '127.0.0.1:2626'],
            ['fastrouter-to', '10.0.0.5:3031'],
            ['fastrouter-use-cache', 'map'],
            ['fastrouter-to', '10.0.0.6:3031'],
        ]

    def test_forwarders_before_groups(self):
        out = compile_groups(router('raw', basic_params={'workers': 2}, forward_to='10.0.0.5:3031'))
        assert out == [['rawrouter-to', '10.0.0.5:3031'], ['rawrouter-workers', '2']]

    @pytest.mark.parametrize('node, fragment', [
        ('backend.example.com:3031', '255.255.255.255'),
        (':3031', 'wildcard'),
        ('0.0.0.0:3031', 'wildcard'),
        ('[::1]:3031', 'IPv6'),
        ('3031', 'numeric IPv4'),
    ], ids=['hostname', 'port-only', 'zero-address', 'ipv6', 'bare-port'])
    def test_bad_static_node(self, node, fragment):
        error = refusal(router('http', forward_to=node))
        assert error.path == 'routers[0].forward_to'
        assert fragment in error.message
        assert 'static node address' in error.message

    def test_bad_static_node_in_list(self):
        error = refusal(router('http', forward_to=['10.0.0.5:3031', 'backend:3031']))
        assert error.path == 'routers[0].forward_to[1]'

    @pytest.mark.parametrize('forwarder, path', [
        ({'type': 'nope'}, 'routers[0].forward_to.type'),
        ({'sockets_dir': '/s/'}, 'routers[0].forward_to.type'),
        ({'type': None}, 'routers[0].forward_to.type'),
    ], ids=['unknown', 'missing', 'null'])
    def test_unknown_forwarder(self, forwarder, path):
        error = refusal(router('http', forward_to=forwarder))
        assert error.path == path
        assert 'unknown forwarder' in error.message
        assert 'cache, code, path, socket, subscription_server' in error.message

    def test_unknown_forwarder_in_list(self):
        error = refusal(router('http', forward_to=['10.0.0.5:3031', {'type': 'dns'}]))
        assert error.path == 'routers[0].forward_to[1].type'

    @pytest.mark.parametrize('forwarder', [
        {'type': 'path', 'sockets_dir': '/s/'}, {'type': 'code', 'script': 's', 'func': 'f'},
        {'type': 'cache', 'cache_name': 'c'}, {'type': 'socket', 'socket': 0},
        {'type': 'subscription_server', 'address': ':2626'},
    ], ids=lambda f: f['type'])
    @pytest.mark.parametrize('value', [True, False])
    def test_name_separator_strip_refused(self, forwarder, value):
        error = refusal(router('fast', forward_to=dict(forwarder, name_separator_strip=value)))
        assert error.path == 'routers[0].forward_to.name_separator_strip'
        assert 'not a uWSGI option' in error.message

    @pytest.mark.parametrize('forwarder, param', [
        ({'type': 'path', 'sockets_dir': '/s/', 'pattern': '/x'}, 'pattern'),
        ({'type': 'cache', 'cache_name': 'c', 'socket': 0}, 'socket'),
        ({'type': 'socket', 'path': '/x'}, 'path'),
        ({'type': 'subscription_server', 'address': ':2626', 'key': 'x'}, 'key'),
        ({'type': 'code', 'script': 's', 'func': 'f', 'modifier2': 1}, 'modifier2'),
    ], ids=['path', 'cache', 'socket', 'subscription_server', 'code'])
    def test_unknown_forwarder_param(self, forwarder, param):
        error = refusal(router('fast', forward_to=forwarder))
        assert error.path == 'routers[0].forward_to.%s' % param
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('forwarder, param', [
        ({'type': 'path'}, 'sockets_dir'),
        ({'type': 'code', 'func': 'f'}, 'script'),
        ({'type': 'code', 'script': 's'}, 'func'),
        ({'type': 'cache'}, 'cache_name'),
        ({'type': 'subscription_server'}, 'address'),
    ], ids=['path', 'code-script', 'code-func', 'cache', 'subscription_server'])
    def test_required_forwarder_param(self, forwarder, param):
        error = refusal(router('fast', forward_to=forwarder))
        assert error.path == 'routers[0].forward_to.%s' % param
        assert 'is required' in error.message

    @pytest.mark.parametrize('sockets_dir', ['sockets/', 'run/%s.sock', '%s.sock'])
    def test_path_must_be_absolute(self, sockets_dir):
        error = refusal(router('fast', forward_to={'type': 'path', 'sockets_dir': sockets_dir}))
        assert error.path == 'routers[0].forward_to.sockets_dir'
        assert 'must be an absolute directory or pattern' in error.message

    @pytest.mark.parametrize('forwarder, path, fragment', [
        ({'type': 'code', 'script': 'a:b', 'func': 'f'}, 'script', 'must not contain ":"'),
        ({'type': 'code', 'script': 's', 'func': 'a:b'}, 'func', 'must not contain ":"'),
        ({'type': 'code', 'script': 's', 'func': 'f', 'modifier': {'modifier1': 0, 'modifier2': 1}},
         'modifier.modifier2', 'only modifier1'),
        ({'type': 'code', 'script': 's', 'func': 'f', 'modifier': 'python'}, 'modifier', 'unknown modifier'),
        ({'type': 'code', 'script': 's', 'func': 'f', 'modifier': 300}, 'modifier', 'must be <= 255'),
    ], ids=['colon-script', 'colon-func', 'modifier2', 'unknown-modifier', 'modifier-too-big'])
    def test_bad_code(self, forwarder, path, fragment):
        error = refusal(router('http', forward_to=forwarder))
        assert error.path == 'routers[0].forward_to.%s' % path
        assert fragment in error.message

    @pytest.mark.parametrize('socket', ['/run/uwsgi/app.sock', 'app.sock', ':3031'])
    def test_socket_given_a_path(self, socket):
        # <r>-use-socket is read with atoi(): a path would silently mean socket 0.
        error = refusal(router('http', forward_to={'type': 'socket', 'socket': socket}))
        assert error.path == 'routers[0].forward_to.socket'
        assert 'zero-based index' in error.message
        assert 'not a path' in error.message

    @pytest.mark.parametrize('socket, fragment', [(-1, 'must be >= 0'), (True, 'must be an integer'),
                                                  (None, 'must be an integer')],
                             ids=['negative', 'bool', 'null'])
    def test_bad_socket_index(self, socket, fragment):
        error = refusal(router('http', forward_to={'type': 'socket', 'socket': socket}))
        assert error.path == 'routers[0].forward_to.socket'
        assert fragment in error.message

    @pytest.mark.parametrize('address', ['2626', 'localhost'], ids=['bare-port', 'bare-host'])
    def test_bad_subscription_server_address(self, address):
        error = refusal(router('http', forward_to={'type': 'subscription_server', 'address': address}))
        assert error.path == 'routers[0].forward_to.address'

    @pytest.mark.parametrize('address', ['=0', '[::]:2626', 'router.example.com:2626'],
                             ids=['shared-socket', 'ipv6', 'hostname'])
    def test_subscription_server_is_udp_ipv4_or_unix(self, address):
        # cr_common.c uwsgi_corerouter_setup_sockets: a subscription socket is
        # bind_to_udp() when the name holds ':' (inet_addr, no DNS, no IPv6),
        # else bind_to_unix_dgram(): "=0" is not a shared socket there but a
        # UNIX socket file named "=0".
        error = refusal(router('http', forward_to={'type': 'subscription_server', 'address': address}))
        assert error.path == 'routers[0].forward_to.address'

    @pytest.mark.parametrize('value', [5, True], ids=['int', 'bool'])
    def test_bad_forward_to_type(self, value):
        error = refusal(router('http', forward_to=value))
        assert error.path == 'routers[0].forward_to'

    def test_use_pattern_survives_render_ini(self):
        # The INI renderer doubles '%' so uWSGI's %s magic variable is not expanded.
        from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import render_ini
        out = compile_router(router('fast', forward_to={'type': 'path', 'sockets_dir': '/s/%s.sock'}))
        assert 'fastrouter-use-pattern = /s/%%s.sock' in render_ini(out).splitlines()


# ---------------------------------------------------------------- router list

class TestRouterList:

    def compile_many(self, routers, version='2.0', build=None):
        return compile_options({'routers': routers, 'master': False}, version, build, strict=False)

    def refused_many(self, routers, version='2.0', build=None):
        with pytest.raises(TopologyError) as info:
            self.compile_many(routers, version, build)
        return info.value

    @pytest.mark.parametrize('value', ['http', {'type': 'http'}, 5], ids=['str', 'mapping', 'int'])
    def test_routers_not_a_list(self, value):
        error = self.refused_many(value)
        assert error.path == 'routers'
        assert 'must be a list of routers' in error.message

    @pytest.mark.parametrize('item', ['http', 5, ['http'], None], ids=['str', 'int', 'list', 'null'])
    def test_router_not_a_mapping(self, item):
        error = self.refused_many([item])
        assert error.path == 'routers[0]'
        assert 'must be a mapping with a type' in error.message

    @pytest.mark.parametrize('kind', [None, 'httprouter', 'fastrouter', 'HTTP', 5, True],
                             ids=repr)
    def test_unknown_type(self, kind):
        item = {'bind': ':80'}
        if kind is not None:
            item['type'] = kind
        error = self.refused_many([item])
        assert error.path == 'routers[0].type'
        assert 'unknown router type' in error.message
        assert 'choose one of' in error.message

    @pytest.mark.parametrize('kind', [['http'], {'http': 1}], ids=['list', 'mapping'])
    def test_unhashable_type(self, kind):
        error = self.refused_many([{'type': kind, 'bind': ':80'}])
        assert error.path == 'routers[0].type'

    @pytest.mark.parametrize('kind', [['path'], {'a': 1}], ids=['list', 'mapping'])
    def test_unhashable_forwarder_type(self, kind):
        error = self.refused_many([router('http', forward_to={'type': kind})])
        assert error.path == 'routers[0].forward_to.type'

    @pytest.mark.parametrize('kind', sorted(MINIMAL))
    def test_unknown_top_level_key(self, kind):
        error = self.refused_many([router(kind, on=':80')])
        assert error.path == 'routers[0].on'
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('kind, build_routers', [
        ('forkpty', ['http', 'https', 'ssl', 'fast', 'raw']),
        ('tuntap', ['http', 'fast']),
        ('https', ['http']),
        ('ssl', 'raw'),
    ])
    def test_type_not_in_build(self, kind, build_routers):
        error = self.refused_many([MINIMAL[kind]], build={'routers': build_routers})
        assert error.path == 'routers[0].type'
        assert 'the target uWSGI build has no %s router' % kind in error.message

    def test_type_in_build(self):
        assert self.compile_many([MINIMAL['fast']], build={'routers': ['fast']}) == [CONSTRUCTOR['fast']]

    def test_build_without_any_router(self):
        error = self.refused_many([MINIMAL['http']], build={'routers': []})
        assert error.path == 'routers[0].type'
        assert 'it has: none' in error.message

    def test_routers_in_order(self):
        out = self.compile_many([MINIMAL['raw'], MINIMAL['http'], MINIMAL['tuntap'], MINIMAL['fast']])
        assert out == [CONSTRUCTOR['raw'], CONSTRUCTOR['http'], CONSTRUCTOR['tuntap'], CONSTRUCTOR['fast']]

    def test_each_router_emits_its_own_lines_in_order(self):
        out = self.compile_many([
            router('fast', forward_to='10.0.0.5:3031', basic_params={'workers': 2}),
            router('raw', forward_to='10.0.0.6:3031'),
        ])
        assert out == [CONSTRUCTOR['fast'], ['fastrouter-to', '10.0.0.5:3031'], ['fastrouter-workers', '2'],
                       CONSTRUCTOR['raw'], ['rawrouter-to', '10.0.0.6:3031']]

    # ------------------------------------------------ one gateway per prefix

    def test_http_and_https_both_forwarding_refused(self):
        error = self.refused_many([router('http', forward_to='10.0.0.5:3031'),
                                   router('https', forward_to='10.0.0.5:3031')])
        assert error.path == 'routers[1].forward_to'
        assert 'routers[0] already configures the http-* options' in error.message

    @pytest.mark.parametrize('group', ['basic_params', 'connections_params', 'manage_params', 'owner_params',
                                       'resubscription_params'])
    def test_http_and_https_both_with_a_group_refused(self, group):
        error = self.refused_many([router('http', forward_to='10.0.0.5:3031'), router('https', **{group: {}})])
        assert error.path == 'routers[1].%s' % group

    def test_http_and_https_one_carrying_options_accepted(self):
        out = self.compile_many([
            router('http', forward_to={'type': 'subscription_server', 'address': '127.0.0.1:2626'},
                   basic_params={'workers': 2}),
            router('https'),
        ])
        assert out == [
            CONSTRUCTOR['http'], ['http-subscription-server', '127.0.0.1:2626'], ['http-workers', '2'],
            CONSTRUCTOR['https'],
        ]

    def test_https_carrying_options_http_plain_accepted(self):
        out = self.compile_many([MINIMAL['http'], router('https', forward_to='10.0.0.5:3031')])
        assert out == [CONSTRUCTOR['http'], CONSTRUCTOR['https'], ['http-to', '10.0.0.5:3031']]

    def test_two_fastrouters_both_configured_refused(self):
        error = self.refused_many([router('fast', basic_params={'workers': 2}),
                                   router('fast', bind=':3019', basic_params={'quiet': True})])
        assert error.path == 'routers[1].basic_params'
        assert 'fastrouter-*' in error.message

    def test_two_fastrouter_sockets_accepted(self):
        out = self.compile_many([router('fast', forward_to='10.0.0.5:3031'), router('fast', bind=':3019')])
        assert out == [CONSTRUCTOR['fast'], ['fastrouter-to', '10.0.0.5:3031'], ['fastrouter', ':3019']]

    def test_different_prefixes_each_configured_accepted(self):
        out = self.compile_many([router('fast', forward_to='10.0.0.5:3031'),
                                 router('raw', forward_to='10.0.0.5:3032'),
                                 router('http', forward_to='10.0.0.5:3033')])
        assert [name for name, _v in out] == ['fastrouter', 'fastrouter-to', 'rawrouter', 'rawrouter-to', 'http',
                                              'http-to']

    def test_two_tuntap_with_rules_refused(self):
        rules = [{'direction': 'in', 'action': 'deny'}]
        error = self.refused_many([router('tuntap', firewall_rules=rules),
                                   router('tuntap', bind='/run/b.sock', firewall_rules=rules)])
        assert error.path == 'routers[1].firewall_rules'
