# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every compiled configuration must be accepted by real uWSGI 2.0 binaries.

A table of named specs covers every router type, every forwarder, every 2.0
parameter of every router group and every 2.0 subscription feature.  Each case is
compiled for the binary's build facts, rendered, written out and checked with
``<uwsgi> --strict --ini FILE --version`` (uWSGI parses the whole file, resolves
users, loads certificates, connects to the zerg server, then exits).  Every case
runs against both binaries, except those whose router the PyPI build lacks
(forkpty, tuntap).  ``test_zz_every_case_and_parameter_covered`` (last in this
file) proves nothing was left out or skipped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

import realbin_support as support
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini
from ansible_collections.uwsgi.topology.plugins.module_utils.core import Param, TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.routers import FORWARDERS, ROUTERS
from ansible_collections.uwsgi.topology.plugins.module_utils.subscriptions import SUBSCRIBE_KEYS, Subscriptions

# case name -> {binary name: 'ok' | 'refused-by-build'}; filled by the tests.
RESULTS = {}
# What the passing cases exercised, for the coverage test.
COVERED = set()

NODE = '127.0.0.1:13031'
SUB_SERVER = '127.0.0.1:12626'


class Case(object):
    """A named spec.  ``build(m, zerg)`` returns the spec for the Material ``m`` and
    the zerg socket path ``zerg`` (used only by the zerg cases)."""

    def __init__(self, name, build, needs=()):
        self.name = name
        self.build = build
        self.needs = tuple(needs)  # 'zerg', 'zlib'

    def spec(self, m, zerg=None):
        return self.build(m, zerg)

    def routers(self, m):
        return set(item['type'] for item in self.spec(m, '/zerg').get('routers') or [])


CASES = []


def case(name, needs=()):
    def register(build):
        assert name not in [c.name for c in CASES], 'duplicate case %s' % name
        CASES.append(Case(name, build, needs))
        return build
    return register


# ------------------------------------------------------------ router building blocks

def tls_router(kind, m, **extra):
    item = {'type': kind, 'bind': '127.0.0.1:18443' if kind == 'https' else '127.0.0.1:18444',
            'cert': m.tls_cert, 'key': m.tls_key}
    item.update(extra)
    return item


def bare_router(kind, m):
    """A router of ``kind`` with only what its constructor needs."""
    if kind in ('https', 'ssl'):
        return tls_router(kind, m)
    return {'type': kind, 'bind': {'http': '127.0.0.1:18080', 'fast': '127.0.0.1:13017',
                                   'raw': '127.0.0.1:13018'}[kind]}


def basic_forwarding(**extra):
    """Every basic_params key of the forwarding routers (corerouters), except the zerg."""
    values = {
        'workers': 2,
        'fallback_node': ['127.0.0.1:13032', '127.0.0.1:13033'],
        'concurrent_events': 128,
        'cheap_mode': True,
        'stats_server': '127.0.0.1:19191',
        'quiet': True,
        'buffer_size': 8192,
    }
    values.update(extra)
    return values


def connections_common(**extra):
    values = {'harakiri': 30, 'timeout_socket': 20, 'retry_delay': 10}
    values.update(extra)
    return values


def http_groups(m):
    """Every 2.0 parameter of the http (and https) router groups, gzip apart (zlib builds only)."""
    return {
        'basic_params': basic_forwarding(keepalive=15, resubscribe_addresses=['127.0.0.1:12627']),
        'connections_params': connections_common(timeout_headers=5, timeout_backend=3),
        'manage_params': {'chunked_input': True, 'chunked_output': True, 'websockets': True,
                          'source_method': True, 'rtsp': True, 'proxy_protocol': True},
        'owner_params': {'uid': 'nobody', 'gid': 'nogroup'},
        'resubscription_params': {'addresses': '127.0.0.1:12628'},
    }


# ------------------------------------------------------------ http

@case('http-full')
def _http_full(m, zerg):
    item = {'type': 'http', 'bind': '127.0.0.1:18080',
            'forward_to': [{'type': 'subscription_server', 'address': SUB_SERVER}, NODE]}
    item.update(http_groups(m))
    return {'routers': [item]}


@case('http-gzip', needs=('zlib',))
def _http_gzip(m, zerg):
    return {'routers': [{'type': 'http', 'bind': '127.0.0.1:18080', 'forward_to': NODE,
                         'manage_params': {'gzip': True, 'chunked_output': True}}]}


@case('http-keepalive-flag-and-numeric-owner')
def _http_keepalive_flag(m, zerg):
    return {'routers': [{'type': 'http', 'bind': ':18080', 'forward_to': NODE,
                         'basic_params': {'keepalive': True, 'workers': 1},
                         'owner_params': {'uid': 65534, 'gid': 65534}}]}


@case('http-unix-bind-and-bools-off')
def _http_unix(m, zerg):
    return {'routers': [{'type': 'http', 'bind': m.path('run', 'http.sock'), 'forward_to': NODE,
                         'basic_params': {'keepalive': False, 'cheap_mode': False, 'quiet': False},
                         'manage_params': {'websockets': False}}]}


@case('http-zerg', needs=('zerg',))
def _http_zerg(m, zerg):
    return {'routers': [{'type': 'http', 'forward_to': NODE, 'basic_params': {'zerg_server': zerg}}]}


# ------------------------------------------------------------ https

@case('https-full')
def _https_full(m, zerg):
    item = tls_router('https', m, ciphers='HIGH:!aNULL:!MD5', client_ca='!' + m.tls_ca,
                      session_context='topology', export_cert_var=True, use_spdy=False,
                      forward_to=[{'type': 'subscription_server', 'address': SUB_SERVER}, NODE])
    item.update(http_groups(m))
    return {'routers': [item]}


@case('https-minimal-optional-client-ca')
def _https_minimal(m, zerg):
    return {'routers': [tls_router('https', m, client_ca=m.tls_ca, forward_to=NODE)]}


@case('https-gzip', needs=('zlib',))
def _https_gzip(m, zerg):
    return {'routers': [tls_router('https', m, forward_to=NODE, manage_params={'gzip': True})]}


@case('https-zerg', needs=('zerg',))
def _https_zerg(m, zerg):
    return {'routers': [tls_router('https', m, forward_to=NODE, basic_params={'zerg_server': zerg})]}


@case('http-and-https-one-gateway')
def _http_and_https(m, zerg):
    http = {'type': 'http', 'bind': '127.0.0.1:18080',
            'forward_to': {'type': 'subscription_server', 'address': SUB_SERVER}}
    http.update(http_groups(m))
    return {'routers': [http, tls_router('https', m)]}


# ------------------------------------------------------------ ssl

@case('ssl-full')
def _ssl_full(m, zerg):
    return {'routers': [tls_router(
        'ssl', m, ciphers='HIGH', client_ca='!' + m.tls_ca, session_context='topology-ssl', use_sni=True,
        forward_to=[{'type': 'subscription_server', 'address': SUB_SERVER}, NODE],
        basic_params=basic_forwarding(),
        connections_params=connections_common(retry_max=5))]}


@case('ssl-zerg', needs=('zerg',))
def _ssl_zerg(m, zerg):
    return {'routers': [tls_router('ssl', m, forward_to=NODE, basic_params={'zerg_server': zerg})]}


# ------------------------------------------------------------ fast

@case('fast-full')
def _fast_full(m, zerg):
    return {'routers': [{
        'type': 'fast', 'bind': '127.0.0.1:13017',
        'forward_to': [{'type': 'subscription_server', 'address': SUB_SERVER}, NODE],
        'basic_params': basic_forwarding(fallback_nokey=True),
        'connections_params': connections_common(),
        'postbuffering_params': {'size': 65536, 'store_dir': m.postbuf_dir},
        'owner_params': {'uid': 'nobody', 'gid': 'nogroup'},
        'resubscription_params': {'addresses': ['127.0.0.1:12627', '127.0.0.1:12628'],
                                  'bind_to': '127.0.0.1:12629'},
    }]}


@case('fast-zerg', needs=('zerg',))
def _fast_zerg(m, zerg):
    return {'routers': [{'type': 'fast', 'forward_to': NODE, 'basic_params': {'zerg_server': zerg}}]}


# ------------------------------------------------------------ raw

@case('raw-full')
def _raw_full(m, zerg):
    return {'routers': [{
        'type': 'raw', 'bind': '127.0.0.1:13018',
        'forward_to': [{'type': 'subscription_server', 'address': SUB_SERVER}, NODE],
        'basic_params': basic_forwarding(),
        'connections_params': connections_common(retry_max=4, use_xclient=True),
    }]}


@case('raw-zerg', needs=('zerg',))
def _raw_zerg(m, zerg):
    return {'routers': [{'type': 'raw', 'forward_to': NODE, 'basic_params': {'zerg_server': zerg}}]}


# ------------------------------------------------------------ forkpty (Debian only)

@case('forkpty-full')
def _forkpty_full(m, zerg):
    return {'routers': [{
        'type': 'forkpty', 'bind': '127.0.0.1:13019', 'uwsgi_protocol': False,
        'basic_params': {'workers': 2, 'fallback_node': '127.0.0.1:13032', 'concurrent_events': 32,
                         'cheap_mode': True, 'stats_server': '127.0.0.1:19193', 'run_command': '/bin/sh'},
        'connections_params': {'harakiri': 60, 'timeout_socket': 30},
        'window_params': {'cols': 132, 'rows': 43},
    }]}


@case('forkpty-uwsgi-protocol')
def _forkpty_u(m, zerg):
    return {'routers': [{'type': 'forkpty', 'bind': m.path('run', 'pty.sock'), 'uwsgi_protocol': True,
                         'basic_params': {'run_command': '/bin/bash'}}]}


@case('forkpty-zerg', needs=('zerg',))
def _forkpty_zerg(m, zerg):
    return {'routers': [{'type': 'forkpty', 'basic_params': {'zerg_server': zerg}}]}


# ------------------------------------------------------------ tuntap (Debian only)

@case('tuntap-full')
def _tuntap_full(m, zerg):
    return {'routers': [{
        'type': 'tuntap', 'bind': m.path('run', 'tuntap.sock'), 'device': 'uwsgi0',
        'stats_server': '127.0.0.1:19194', 'gateway': '127.0.0.1:15000',
        'basic_params': {'use_credentials': True},
        'firewall_rules': [
            {'direction': 'in', 'action': 'deny', 'src': '10.0.0.0/24', 'dst': '10.0.1.0/24'},
            {'direction': 'in', 'action': 'allow', 'src': '10.0.0.1', 'dst': '10.0.1.0/24'},
            {'direction': 'out', 'action': 'allow'},
        ],
        'routes': [{'src': '10.0.0.0/24', 'dst': '192.168.0.0/16', 'gateway': '127.0.0.1:15001'}],
        'device_connect': [{'device_name': 'uwsgi1', 'socket': m.path('run', 'tuntap.sock')}],
        'device_rules': [
            {'direction': 'in', 'action': 'allow', 'src': '10.0.0.1', 'dst': '10.0.0.2/32'},
            {'direction': 'out', 'action': 'deny', 'src': '10.0.0.2/32', 'dst': '10.0.0.9'},
            {'direction': 'out', 'action': 'route', 'src': '10.0.0.2/32', 'dst': '10.1.0.1',
             'target': '127.0.0.1:15002'},
            {'direction': 'out', 'action': 'gateway', 'src': '10.0.0.2/32', 'dst': '10.2.0.1',
             'target': '127.0.0.1:15003'},
        ],
    }]}


@case('tuntap-router-stats-param')
def _tuntap_stats(m, zerg):
    return {'routers': [{'type': 'tuntap', 'bind': m.path('run', 'tuntap.sock'),
                         'basic_params': {'stats_server': '127.0.0.1:19195', 'use_credentials': False}}]}


@case('tuntap-device-side-only')
def _tuntap_device(m, zerg):
    return {'routers': [{'type': 'tuntap', 'device_connect': [{'device_name': 'uwsgi0'}],
                         'device_rules': [{'direction': 'in', 'action': 'deny', 'src': '10.9.9.9',
                                           'dst': '10.0.0.2/32'}]}]}


# ------------------------------------------------------------ every router in one instance

@case('all-routers-one-instance')
def _all_routers(m, zerg):
    return {'routers': [
        {'type': 'http', 'bind': '127.0.0.1:18080', 'forward_to': NODE},
        tls_router('https', m),
        tls_router('ssl', m, forward_to=NODE),
        {'type': 'fast', 'bind': '127.0.0.1:13017',
         'forward_to': {'type': 'subscription_server', 'address': SUB_SERVER}},
        {'type': 'raw', 'bind': '127.0.0.1:13018', 'forward_to': NODE},
        {'type': 'forkpty', 'bind': '127.0.0.1:13019'},
        {'type': 'tuntap', 'bind': m.path('run', 'tuntap.sock')},
    ]}


@case('all-pypi-routers-one-instance')
def _all_pypi_routers(m, zerg):
    return {'routers': [
        {'type': 'http', 'bind': '127.0.0.1:18080', 'forward_to': NODE},
        tls_router('https', m),
        tls_router('ssl', m, forward_to=NODE),
        {'type': 'fast', 'bind': '127.0.0.1:13017', 'forward_to': NODE},
        {'type': 'raw', 'bind': '127.0.0.1:13018', 'forward_to': NODE},
    ]}


# ------------------------------------------------------------ forwarders x forwarding routers

def forwarder_specs(m):
    """forwarder case name -> (forward_to value, extra raw options)."""
    return {
        'path-base': ({'type': 'path', 'sockets_dir': m.sockets_dir}, None),
        'path-pattern': ({'type': 'path', 'sockets_dir': m.sockets_dir + '/%s.sock'}, None),
        'code': ({'type': 'code', 'script': m.code_script, 'func': 'route', 'modifier': 'wsgi'}, None),
        'code-default-modifier': ({'type': 'code', 'script': m.code_script, 'func': 'route'}, None),
        'cache': ({'type': 'cache', 'cache_name': 'nodes'}, [['cache2', 'name=nodes,items=64']]),
        'socket-index': ({'type': 'socket', 'socket': 1},
                         [['socket', '127.0.0.1:13040'], ['socket', m.path('run', 'node.sock')]]),
        'subscription-server-udp': ({'type': 'subscription_server', 'address': SUB_SERVER}, None),
        'subscription-server-unix': ({'type': 'subscription_server', 'address': m.path('run', 'sub.sock')},
                                     None),
        'static-nodes': (['127.0.0.1:13031', '127.0.0.1:13032', m.path('run', 'node.sock')], None),
    }


FORWARDER_NAMES = ('path-base', 'path-pattern', 'code', 'code-default-modifier', 'cache', 'socket-index',
                   'subscription-server-udp', 'subscription-server-unix', 'static-nodes')
FORWARDING_ROUTERS = ('http', 'https', 'ssl', 'fast', 'raw')


def _forwarder_case(kind, forwarder):
    def build(m, zerg):
        forward_to, options = forwarder_specs(m)[forwarder]
        item = bare_router(kind, m)
        item['forward_to'] = forward_to
        spec = {'routers': [item]}
        if options:
            spec['options'] = options
        return spec
    return build


for _kind in FORWARDING_ROUTERS:
    for _forwarder in FORWARDER_NAMES:
        case('forward-%s-%s' % (_kind, _forwarder))(_forwarder_case(_kind, _forwarder))


@case('forward-http-every-forwarder')
def _every_forwarder(m, zerg):
    specs = forwarder_specs(m)
    forward_to = [specs[name][0] for name in FORWARDER_NAMES if name != 'static-nodes']
    forward_to += specs['static-nodes'][0]
    options = specs['cache'][1] + specs['socket-index'][1]
    return {'options': options, 'routers': [{'type': 'http', 'bind': '127.0.0.1:18080',
                                             'forward_to': forward_to}]}


# ------------------------------------------------------------ subscriptions: router side

def subscription_router():
    return {'type': 'http', 'bind': '127.0.0.1:18080',
            'forward_to': {'type': 'subscription_server', 'address': SUB_SERVER}}


@case('subscriptions-server-params')
def _sub_server(m, zerg):
    return {'routers': [subscription_router()], 'subscriptions': {'server_params': {
        'client_notify_address': m.path('run', 'notify.sock'), 'tolerance': 30,
        'key_dot_split': True, 'balancing_algo': 'weighted_least_reference_count'}}}


def _algo_case(algo):
    def build(m, zerg):
        return {'routers': [subscription_router()], 'subscriptions': {'server_params': {'balancing_algo': algo}}}
    return build


for _algo in ('weighted_round_robin', 'least_reference_count', 'weighted_least_reference_count',
              'wrr', 'lrc', 'wlrc'):
    case('subscriptions-algo-%s' % _algo)(_algo_case(_algo))


@case('subscriptions-algo-mapping-form')
def _sub_algo_mapping(m, zerg):
    return {'routers': [subscription_router()], 'subscriptions': {'server_params': {
        'balancing_algo': {'name': 'least_reference_count'}}}}


@case('subscriptions-verification-full')
def _sub_verification(m, zerg):
    router = subscription_router()
    router['forward_to'] = {'type': 'subscription_server', 'address': m.path('run', 'sub.sock')}
    return {'routers': [router], 'subscriptions': {'server_verification_params': {
        'digest_algo': 'SHA1', 'dir_cert': m.pub_dir, 'tolerance': 600, 'no_check_uid': [65534, 33],
        'dir_credentials': [m.cred_dir, m.sockets_dir + '/'], 'pass_unix_credentials': True}}}


@case('subscriptions-verification-sha256-single-values')
def _sub_verification_sha256(m, zerg):
    return {'routers': [{'type': 'fast', 'bind': '127.0.0.1:13017',
                         'forward_to': {'type': 'subscription_server', 'address': SUB_SERVER}}],
            'subscriptions': {'server_verification_params': {
                'digest_algo': 'SHA256', 'dir_cert': m.pub_dir, 'no_check_uid': 65534,
                'dir_credentials': m.cred_dir}}}


@case('subscriptions-credentials-only')
def _sub_credentials(m, zerg):
    router = subscription_router()
    router['forward_to'] = {'type': 'subscription_server', 'address': m.path('run', 'sub.sock')}
    return {'routers': [router], 'subscriptions': {'server_verification_params': {
        'dir_credentials': m.cred_dir, 'pass_unix_credentials': True}}}


# ------------------------------------------------------------ subscriptions: node side

def node_options(m):
    return [['socket', '127.0.0.1:13031'], ['socket', m.path('run', 'node.sock')]]


@case('subscriptions-client-params')
def _sub_client(m, zerg):
    return {'options': node_options(m), 'subscriptions': {
        'client_params': {'start_unsubscribed': True, 'unsubscribe_on_reload': True, 'announce_interval': 5},
        'subscribe': [{'server': SUB_SERVER, 'key': 'app.example.com', 'address': '127.0.0.1:13031'}]}}


@case('subscriptions-subscribe-full')
def _sub_subscribe_full(m, zerg):
    return {'options': node_options(m), 'subscriptions': {'subscribe': [
        {'server': SUB_SERVER, 'key': 'signed.example.com', 'address': '127.0.0.1:13031',
         'balancing_weight': 3, 'modifier': 'wsgi', 'signing': ['SHA1', m.node_private],
         'check_file': m.check_file, 'sni_key': m.tls_key, 'sni_cert': m.tls_cert, 'sni_client_ca': m.tls_ca},
        {'server': m.path('run', 'sub.sock'), 'key': 'other.example.com:8443', 'address': m.path('run', 'node.sock'),
         'balancing_weight': 3, 'modifier': {'modifier1': 0, 'modifier2': 1},
         'signing': ['SHA256', m.node_private], 'sni_key': m.tls_key, 'sni_cert': m.tls_cert},
    ]}}


@case('subscriptions-subscribe-socket-index')
def _sub_socket_index(m, zerg):
    return {'options': node_options(m), 'subscriptions': {'subscribe': [
        {'server': SUB_SERVER, 'key': 'a.example.com', 'address': 0, 'modifier': 0},
        {'server': SUB_SERVER, 'key': 'b.example.com', 'address': 1, 'modifier': '5'},
    ]}}


@case('subscriptions-router-and-node-one-instance')
def _sub_both(m, zerg):
    return {
        'options': node_options(m),
        'routers': [{'type': 'fast', 'bind': '127.0.0.1:13017',
                     'forward_to': {'type': 'subscription_server', 'address': SUB_SERVER}}],
        'subscriptions': {
            'server_params': {'tolerance': 20, 'balancing_algo': 'lrc'},
            'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': m.pub_dir},
            'client_params': {'announce_interval': 2},
            'subscribe': [{'server': SUB_SERVER, 'key': 'app.test', 'address': '127.0.0.1:13031',
                           'signing': ['SHA1', m.node_private]}]}}


# ------------------------------------------------------------ the tests

def _case_binaries():
    pairs = []
    for item in CASES:
        # forkpty/tuntap cases name their routers statically; use a dummy Material-free probe.
        routers = _static_routers(item)
        for binary in support.BINARY_NAMES:
            if binary == 'pypi' and not routers.issubset(support.PYPI_ROUTERS):
                continue
            pairs.append(pytest.param(item, binary, id='%s[%s]' % (item.name, binary)))
    return pairs


class _Probe(object):
    """A Material stand-in that names paths without creating them (for collection time)."""

    def __getattr__(self, name):
        return '/probe/' + name

    def path(self, *parts):
        return '/probe/' + '/'.join(parts)


def _static_routers(item):
    return set(router['type'] for router in item.spec(_Probe(), '/probe/zerg').get('routers') or [])


@pytest.mark.parametrize('item,binary_name', _case_binaries())
def test_case_is_accepted_by_real_uwsgi(item, binary_name, binaries, material, tmp_path, request):
    binary = binaries[binary_name]
    zerg = request.getfixturevalue('zerg_socket') if 'zerg' in item.needs else None
    spec = item.spec(material, zerg)
    if 'zlib' in item.needs and not binary.build['zlib']:
        # The build has no http-auto-gzip: the compiler must refuse, not emit a dead option.
        with pytest.raises(TopologyError, match='zlib'):
            compile_options(spec, '2.0', binary.build)
        RESULTS.setdefault(item.name, {})[binary_name] = 'refused-by-build'
        return
    options = compile_options(spec, '2.0', binary.build)
    text = render_ini(options)
    ini = tmp_path / ('%s.ini' % item.name)
    ini.write_text(text)
    code, output = support.validate(binary.path, str(ini))
    assert code == 0, ('uWSGI %s (%s) refused case %s (exit %d)\n----- %s -----\n%s----- uwsgi output -----\n%s'
                       % (binary.version, binary.path, item.name, code, ini, text, output))
    assert binary.version in output
    RESULTS.setdefault(item.name, {})[binary_name] = 'ok'
    COVERED.update(_coverage_of(spec))


def _coverage_of(spec):
    """What a spec exercises: (router, 'group', param), (router, 'constructor', key),
    (router, 'list', name), ('forwarder', kind), ('subscriptions', group, key)."""
    out = set()
    for router in spec.get('routers') or []:
        kind = router['type']
        out.add(('router', kind))
        for key, value in router.items():
            if isinstance(value, dict) and key.endswith('_params'):
                for name in value:
                    out.add((kind, key, name))
            elif isinstance(value, list) and key in ROUTERS[kind].lists:
                out.add((kind, 'list', key))
            elif key not in ('type',):
                out.add((kind, 'constructor', key))
        forward_to = router.get('forward_to')
        for target in forward_to if isinstance(forward_to, list) else [forward_to] if forward_to else []:
            if isinstance(target, dict):
                name = target['type']
                if name == 'path':
                    name = 'path-pattern' if '%s' in target['sockets_dir'] else 'path-base'
                out.add(('forwarder', name))
            else:
                out.add(('forwarder', 'static'))
    subscriptions = spec.get('subscriptions') or {}
    for group, values in subscriptions.items():
        if group == 'subscribe':
            for item in values:
                for key in item:
                    out.add(('subscriptions', group, key))
                if isinstance(item.get('address'), int):
                    out.add(('subscriptions', group, 'address=socket-index'))
        else:
            for key in values:
                out.add(('subscriptions', group, key))
    return out


def _expected_coverage():
    """Every 2.0 feature the compiler knows, read from its own tables."""
    expected = set()
    why_not = {}
    for kind, cls in ROUTERS.items():
        expected.add(('router', kind))
        for group, table in cls.groups.items():
            for name, param in table.items():
                if isinstance(param, Param) and param.since != '2.1':
                    expected.add((kind, group, name))
        for name in cls.lists:
            expected.add((kind, 'list', name))
        for name in cls.constructor:
            expected.add((kind, 'constructor', name))
    # Constructor keys that cannot be validated on these builds (the compiler refuses them).
    why_not[('https', 'constructor', 'use_spdy')] = 'use_spdy: true needs a UWSGI_SPDY build; false emits nothing'
    why_not[('forkpty', 'constructor', 'undeferred')] = 'always refused (say uwsgi_protocol)'
    for name in FORWARDERS:
        expected.add(('forwarder', name))
    expected.discard(('forwarder', 'path'))
    expected.update([('forwarder', 'path-base'), ('forwarder', 'path-pattern'), ('forwarder', 'static')])
    for group, table in (('server_params', Subscriptions.SERVER_PARAMS),
                         ('server_verification_params', Subscriptions.VERIFICATION_PARAMS),
                         ('client_params', Subscriptions.CLIENT_PARAMS)):
        for name, param in table.items():
            if param is None or param.since != '2.1':
                expected.add(('subscriptions', group, name))
    master_only_keys = ('address_vassal', 'balancing_algo', 'protocol')
    for name in SUBSCRIBE_KEYS:
        if name not in master_only_keys:
            expected.add(('subscriptions', 'subscribe', name))
    expected.add(('subscriptions', 'subscribe', 'address=socket-index'))
    return expected, why_not


def test_binaries_are_the_expected_builds(binaries):
    """Both binaries exist, are 2.0 releases, and the PyPI build really lacks forkpty and tuntap
    (so running those cases on Debian's build only is a fact, not a convenience)."""
    pypi, debian = binaries['pypi'], binaries['debian']
    assert pypi.version.startswith('2.0.') and debian.version.startswith('2.0.')
    code, output = support.run([pypi.path, '--help'])
    assert code == 0, output
    assert '--forkptyrouter' not in output and '--tuntap-router' not in output
    for option in ('--https2', '--sslrouter2', '--fastrouter', '--rawrouter', '--subscriptions-sign-check'):
        assert option in output, '%s lacks %s' % (pypi.path, option)
    assert os.path.basename(debian.path).startswith('uwsgi')


def test_zz_every_case_and_parameter_covered():
    """Last test of the file: nothing was skipped silently, nothing is left uncovered."""
    names = [item.name for item in CASES]
    ran = dict((name, RESULTS.get(name, {})) for name in names)
    not_run = [name for name, results in ran.items() if not results]
    assert not not_run, ('cases that ran on no binary: %s (this test checks what the case tests of this file '
                         'did: run the whole file, not a selection)' % ', '.join(not_run))
    for item in CASES:
        routers = _static_routers(item)
        wanted = set(support.BINARY_NAMES) if routers.issubset(support.PYPI_ROUTERS) else {'debian'}
        assert set(ran[item.name]) == wanted, '%s ran on %s, expected %s' % (
            item.name, sorted(ran[item.name]), sorted(wanted))
    covered_routers = set(r for _tag, r in (c for c in COVERED if c[0] == 'router' and len(c) == 2))
    assert covered_routers == set(support.ALL_ROUTERS), 'router types not validated: %s' % (
        ', '.join(sorted(set(support.ALL_ROUTERS) - covered_routers)))
    expected, why_not = _expected_coverage()
    missing = sorted(expected - COVERED - set(why_not))
    assert not missing, 'compiler features no passing case exercised: %s' % missing
    counts = dict((b, sum(1 for r in ran.values() if r.get(b) == 'ok')) for b in support.BINARY_NAMES)
    print('\nreal-binary validation: %d cases; accepted per binary: %s; refused by build: %s' % (
        len(names), counts, sorted(n for n, r in ran.items() if 'refused-by-build' in r.values())))
