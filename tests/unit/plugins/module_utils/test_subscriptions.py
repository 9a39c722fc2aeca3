# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/subscriptions.py, the seed class ``Subscriptions``:
every parameter of set_server_params, set_server_verification_params,
set_client_params and subscribe(), the balancing algorithms and the modifiers.

Expected option names and value formats are uWSGI's (see UWSGI-FACTS.md §1):
an option that exists only in master (2.1) is refused on a 2.0 target, which
would silently ignore it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options
from ansible_collections.uwsgi.topology.plugins.module_utils.core import Target
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.subscriptions import (
    MODIFIERS, SUBSCRIBE_KEYS, Subscriptions, algorithms, resolve_modifier,
)

SERVER = '10.0.0.1:2626'
NODE = '10.0.0.5:3031'


def compile_subscriptions(subscriptions, version='2.0', build=None):
    """The options compiled for ``subscriptions`` alone (without ``master``)."""
    out = compile_options({'subscriptions': subscriptions}, version, build, strict=False)
    assert out[0] == ['master', 'true']
    return out[1:]


def refusal(subscriptions, version='2.0', build=None):
    with pytest.raises(TopologyError) as info:
        compile_options({'subscriptions': subscriptions}, version, build, strict=False)
    return info.value


def subscribe2(version='2.0', build=None, **item):
    """The subscribe2 value of one subscription (server/key/address defaulted)."""
    base = {'server': SERVER, 'key': 'example.com', 'address': NODE}
    base.update(item)
    base = dict((k, v) for k, v in base.items() if v is not None)
    out = compile_subscriptions({'subscribe': [base]}, version, build)
    assert len(out) == 1 and out[0][0] == 'subscribe2'
    return out[0][1]


def subscribe_refusal(version='2.0', build=None, **item):
    base = {'server': SERVER, 'key': 'example.com', 'address': NODE}
    base.update(item)
    base = dict((k, v) for k, v in base.items() if v is not None)
    return refusal({'subscribe': [base]}, version, build)


# ---------------------------------------------------------------- the seed's surface

class TestSeedSurface:

    def test_groups(self):
        assert Subscriptions.GROUPS == ('server_params', 'server_verification_params', 'client_params', 'subscribe')

    def test_server_params_are_the_seeds(self):
        assert set(Subscriptions.SERVER_PARAMS) == set([
            'client_notify_address', 'mountpoints_depth', 'require_vassal', 'tolerance', 'tolerance_inactive',
            'key_dot_split', 'balancing_algo'])

    def test_verification_params_are_the_seeds(self):
        assert set(Subscriptions.VERIFICATION_PARAMS) == set([
            'digest_algo', 'dir_cert', 'tolerance', 'no_check_uid', 'dir_credentials', 'pass_unix_credentials'])

    def test_client_params_are_the_seeds(self):
        assert set(Subscriptions.CLIENT_PARAMS) == set([
            'start_unsubscribed', 'clear_on_exit', 'unsubscribe_on_reload', 'announce_interval'])

    def test_subscribe_keys_are_the_seeds(self):
        assert set(SUBSCRIBE_KEYS) == set([
            'server', 'key', 'address', 'address_vassal', 'balancing_weight', 'balancing_algo', 'modifier',
            'signing', 'check_file', 'protocol', 'sni_cert', 'sni_key', 'sni_client_ca'])

    @pytest.mark.parametrize('name, uwsgi_name', [
        ('weighted_round_robin', 'wrr'),
        ('least_reference_count', 'lrc'),
        ('weighted_least_reference_count', 'wlrc'),
        ('ip_hash', 'iphash'),
    ])
    def test_algorithms_class(self, name, uwsgi_name):
        assert getattr(algorithms, name) == uwsgi_name

    def test_empty_spec(self):
        assert compile_subscriptions(None) == []
        assert compile_subscriptions({}) == []
        assert compile_subscriptions({'server_params': {}, 'server_verification_params': {},
                                      'client_params': {}, 'subscribe': []}) == []

    def test_direct_use_of_the_class(self):
        subscriptions = Subscriptions({'server_params': {'tolerance': 5},
                                       'subscribe': [{'server': SERVER, 'key': 'a.com', 'address': NODE}]},
                                      Target('2.0'))
        server, client = [], []
        subscriptions.compile_server(server)
        subscriptions.compile_client(client)
        assert server == [['subscription-tolerance', '5']]
        assert client == [['subscribe2', 'server=10.0.0.1:2626,key=a.com,addr=10.0.0.5:3031']]
        assert subscriptions.signs_check is False


# ---------------------------------------------------------------- set_server_params

SERVER_PARAMS = [
    # (param, value, version, expected)
    ('client_notify_address', '/run/uwsgi/notify.sock', '2.0',
     [['subscription-notify-socket', '/run/uwsgi/notify.sock']]),
    ('client_notify_address', '@notify', '2.0', [['subscription-notify-socket', '@notify']]),
    ('mountpoints_depth', 2, '2.1', [['subscription-mountpoints', '2']]),
    ('mountpoints_depth', 0, '2.1', [['subscription-mountpoints', '0']]),
    ('require_vassal', True, '2.1', [['subscription-vassal-required', 'true']]),
    ('require_vassal', False, '2.1', []),
    ('tolerance', 20, '2.0', [['subscription-tolerance', '20']]),
    ('tolerance', '45', '2.0', [['subscription-tolerance', '45']]),
    ('tolerance_inactive', 30, '2.1', [['subscription-tolerance-inactive', '30']]),
    ('key_dot_split', True, '2.0', [['subscription-dotsplit', 'true']]),
    ('key_dot_split', False, '2.0', []),
    ('balancing_algo', 'weighted_round_robin', '2.0', [['subscription-algo', 'wrr']]),
    ('balancing_algo', 'least_reference_count', '2.0', [['subscription-algo', 'lrc']]),
    ('balancing_algo', 'weighted_least_reference_count', '2.0', [['subscription-algo', 'wlrc']]),
    ('balancing_algo', 'wrr', '2.0', [['subscription-algo', 'wrr']]),
    ('balancing_algo', 'lrc', '2.0', [['subscription-algo', 'lrc']]),
    ('balancing_algo', 'wlrc', '2.0', [['subscription-algo', 'wlrc']]),
    ('balancing_algo', {'name': 'lrc'}, '2.0', [['subscription-algo', 'lrc']]),
    ('balancing_algo', 'ip_hash', '2.1', [['subscription-algo', 'iphash']]),
    ('balancing_algo', 'iphash', '2.1', [['subscription-algo', 'iphash']]),
]


class TestServerParams:

    @pytest.mark.parametrize('param, value, version, expected', SERVER_PARAMS,
                             ids=['%s=%r@%s' % (p[0], p[1], p[2]) for p in SERVER_PARAMS])
    def test_emitted(self, param, value, version, expected):
        assert compile_subscriptions({'server_params': {param: value}}, version) == expected

    @pytest.mark.parametrize('param, value', [
        ('client_notify_address', '/run/n.sock'), ('tolerance', 20), ('key_dot_split', True),
        ('balancing_algo', 'lrc'),
    ])
    def test_2_0_params_also_on_2_1(self, param, value):
        assert compile_subscriptions({'server_params': {param: value}}, '2.1') == \
            compile_subscriptions({'server_params': {param: value}}, '2.0')

    @pytest.mark.parametrize('param, value, alt', [
        ('mountpoints_depth', 1, 'on 2.0 use distinct keys per application'),
        ('require_vassal', True, 'there is no 2.0 equivalent'),
        ('tolerance_inactive', 30, 'on 2.0 use subscriptions.server_params.tolerance'),
    ])
    def test_master_only_refused_on_2_0(self, param, value, alt):
        error = refusal({'server_params': {param: value}}, '2.0')
        assert error.path == 'subscriptions.server_params.%s' % param
        assert 'exists only in uWSGI 2.1' in error.message
        assert alt in error.message

    def test_ip_hash_refused_on_2_0(self):
        error = refusal({'server_params': {'balancing_algo': 'ip_hash'}}, '2.0')
        assert error.path == 'subscriptions.server_params.balancing_algo'
        assert 'ip_hash exists only in uWSGI 2.1' in error.message
        assert 'silently into wrr' in error.message

    def test_ip_hash_mapping_refused_on_2_0(self):
        error = refusal({'server_params': {'balancing_algo': {'name': 'ip_hash'}}}, '2.0')
        assert error.path == 'subscriptions.server_params.balancing_algo.name'

    @pytest.mark.parametrize('value', ['/run/n.sock', '@n'])
    def test_notify_unix_only_accepted(self, value):
        assert compile_subscriptions({'server_params': {'client_notify_address': value}})[0][1] == value

    @pytest.mark.parametrize('value', ['10.0.0.1:5000', ':5000', 'notify.sock'])
    def test_notify_udp_refused(self, value):
        error = refusal({'server_params': {'client_notify_address': value}})
        assert error.path == 'subscriptions.server_params.client_notify_address'
        assert 'UNIX datagram socket path' in error.message

    @pytest.mark.parametrize('value, path, fragment', [
        ('random', 'balancing_algo', 'unknown balancing algorithm'),
        ('WRR', 'balancing_algo', 'unknown balancing algorithm'),
        (5, 'balancing_algo', 'unknown balancing algorithm'),
        (['wrr'], 'balancing_algo', 'unknown balancing algorithm'),
        ({'backup_level': 1}, 'balancing_algo.name', 'is required'),
        ({'name': 'lrc', 'backup_level': 1}, 'balancing_algo.backup_level', 'per subscription'),
        ({'name': 'lrc', 'zz': 1}, 'balancing_algo.zz', 'unknown parameter'),
    ], ids=['unknown', 'uppercase', 'int', 'list', 'no-name', 'backup-on-router', 'unknown-key'])
    def test_balancing_algo_refused(self, value, path, fragment):
        error = refusal({'server_params': {'balancing_algo': value}}, '2.1')
        assert error.path == 'subscriptions.server_params.' + path
        assert fragment in error.message

    @pytest.mark.parametrize('param, value, fragment', [
        ('tolerance', 0, 'must be >= 1'),
        ('tolerance', True, 'must be an integer'),
        ('tolerance', -5, 'must be >= 1'),
        ('key_dot_split', 1, 'must be a boolean'),
        ('client_notify_address', True, 'must be a string'),
        ('mountpoints_depth', -1, 'must be >= 0'),
    ], ids=['tolerance-0', 'tolerance-bool', 'tolerance-negative', 'dotsplit-int', 'notify-bool',
            'mountpoints-negative'])
    def test_bad_values(self, param, value, fragment):
        error = refusal({'server_params': {param: value}}, '2.1')
        assert error.path == 'subscriptions.server_params.%s' % param
        assert fragment in error.message

    def test_unknown_param(self):
        error = refusal({'server_params': {'tolerance_seconds': 5}})
        assert error.path == 'subscriptions.server_params.tolerance_seconds'
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('value', ['x', ['tolerance'], 5], ids=['str', 'list', 'int'])
    def test_group_not_a_mapping(self, value):
        error = refusal({'server_params': value})
        assert error.path == 'subscriptions.server_params'
        assert 'must be a mapping' in error.message

    def test_table_order(self):
        out = compile_subscriptions({'server_params': {
            'balancing_algo': 'lrc', 'key_dot_split': True, 'tolerance_inactive': 9, 'tolerance': 8,
            'require_vassal': True, 'mountpoints_depth': 1, 'client_notify_address': '/n'}}, '2.1')
        assert out == [
            ['subscription-notify-socket', '/n'],
            ['subscription-mountpoints', '1'],
            ['subscription-vassal-required', 'true'],
            ['subscription-tolerance', '8'],
            ['subscription-tolerance-inactive', '9'],
            ['subscription-dotsplit', 'true'],
            ['subscription-algo', 'lrc'],
        ]


# ---------------------------------------------------------------- set_server_verification_params

class TestVerificationParams:

    def test_sign_check(self):
        assert compile_subscriptions({'server_verification_params': {
            'digest_algo': 'SHA1', 'dir_cert': '/etc/uwsgi/keys'}}) == \
            [['subscriptions-sign-check', 'SHA1:/etc/uwsgi/keys']]

    @pytest.mark.parametrize('digest', ['SHA256', 'sha512', 'SHA3-256', 'md5'])
    def test_digests(self, digest):
        out = compile_subscriptions({'server_verification_params': {'digest_algo': digest, 'dir_cert': '/k'}})
        assert out == [['subscriptions-sign-check', '%s:/k' % digest]]

    @pytest.mark.parametrize('given, missing', [
        ({'digest_algo': 'SHA1'}, 'dir_cert'),
        ({'dir_cert': '/etc/uwsgi/keys'}, 'digest_algo'),
    ])
    def test_sign_check_needs_both(self, given, missing):
        error = refusal({'server_verification_params': given})
        assert error.path == 'subscriptions.server_verification_params.%s' % missing
        assert 'is required with' in error.message
        assert '<digest>:<directory' in error.message

    def test_sign_check_needs_ssl(self):
        error = refusal({'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/k'}},
                        build={'ssl': False})
        assert error.path == 'subscriptions.server_verification_params.digest_algo'
        assert 'needs a uWSGI built with SSL' in error.message

    @pytest.mark.parametrize('digest', ['SHA 1', 'S', 'SHA1:x', 'x' * 33, '/etc'], ids=lambda d: d[:10])
    def test_bad_digest(self, digest):
        error = refusal({'server_verification_params': {'digest_algo': digest, 'dir_cert': '/k'}})
        assert error.path == 'subscriptions.server_verification_params.digest_algo'
        assert 'OpenSSL digest name' in error.message

    @pytest.mark.parametrize('directory', ['keys', 'etc/keys', '~/keys'])
    def test_relative_cert_dir(self, directory):
        error = refusal({'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': directory}})
        assert error.path == 'subscriptions.server_verification_params.dir_cert'
        assert 'must be an absolute path' in error.message

    @pytest.mark.parametrize('param, value, expected', [
        ('tolerance', 3600, [['subscriptions-sign-check-tolerance', '3600']]),
        ('no_check_uid', 1000, [['subscriptions-sign-skip-uid', '1000']]),
        ('no_check_uid', '33', [['subscriptions-sign-skip-uid', '33']]),
        ('no_check_uid', [33, 1000], [['subscriptions-sign-skip-uid', '33'], ['subscriptions-sign-skip-uid', '1000']]),
        ('pass_unix_credentials', True, [['subscriptions-use-credentials', 'true']]),
        ('pass_unix_credentials', False, []),
        ('dir_credentials', '/etc/uwsgi/creds', [['subscriptions-credentials-check', '/etc/uwsgi/creds/']]),
        ('dir_credentials', '/etc/uwsgi/creds/', [['subscriptions-credentials-check', '/etc/uwsgi/creds/']]),
        ('dir_credentials', '/etc/c//', [['subscriptions-credentials-check', '/etc/c/']]),
        ('dir_credentials', ['/etc/c', '/srv/d/'],
         [['subscriptions-credentials-check', '/etc/c/'], ['subscriptions-credentials-check', '/srv/d/']]),
    ], ids=['tolerance', 'skip-uid', 'skip-uid-digits', 'skip-uid-list', 'use-credentials',
            'use-credentials-false', 'credentials-slash-added', 'credentials-slash-kept', 'credentials-slashes',
            'credentials-list'])
    def test_emitted(self, param, value, expected):
        assert compile_subscriptions({'server_verification_params': {param: value}}) == expected

    def test_trailing_slash_is_added(self):
        # uWSGI concatenates <dir><key> with no separator (subscription.c:55-72).
        out = compile_subscriptions({'server_verification_params': {'dir_credentials': '/etc/c'}})
        assert out == [['subscriptions-credentials-check', '/etc/c/']]

    @pytest.mark.parametrize('value, path', [
        ('creds', 'dir_credentials'),
        (['/ok', 'creds'], 'dir_credentials[1]'),
        ([], 'dir_credentials'),
    ], ids=['relative', 'relative-in-list', 'empty-list'])
    def test_bad_credentials_dir(self, value, path):
        error = refusal({'server_verification_params': {'dir_credentials': value}})
        assert error.path == 'subscriptions.server_verification_params.' + path

    @pytest.mark.parametrize('param, value', [
        ('tolerance', 3600),
        ('no_check_uid', 1000),
    ])
    def test_ssl_only_options_refused_without_ssl(self, param, value):
        # core/uwsgi.c (2.0:645-648, master:664-667): subscriptions-sign-check,
        # -sign-check-tolerance and -sign-skip-uid are all inside #ifdef UWSGI_SSL.
        error = refusal({'server_verification_params': {param: value}}, build={'ssl': False})
        assert error.path == 'subscriptions.server_verification_params.%s' % param
        assert 'SSL' in error.message

    @pytest.mark.parametrize('param, value', [
        ('dir_credentials', '/etc/c'),
        ('pass_unix_credentials', True),
    ])
    def test_non_ssl_options_accepted_without_ssl(self, param, value):
        assert compile_subscriptions({'server_verification_params': {param: value}}, build={'ssl': False})

    @pytest.mark.parametrize('param, value, fragment', [
        ('tolerance', 0, 'must be >= 1'),
        ('no_check_uid', -1, 'must be >= 1'),
        ('no_check_uid', 0, 'must be >= 1'),
        ('no_check_uid', 'www-data', 'must be a numeric uid'),
        ('no_check_uid', [1000, 'nobody'], 'atoi()'),
        ('pass_unix_credentials', 'maybe', 'must be a boolean'),
    ], ids=['tolerance-0', 'skip-uid-negative', 'skip-uid-root', 'skip-uid-name', 'skip-uid-name-in-list',
            'credentials-word'])
    def test_bad_values(self, param, value, fragment):
        error = refusal({'server_verification_params': {param: value}})
        assert error.path.startswith('subscriptions.server_verification_params.%s' % param)
        assert fragment in error.message

    def test_unknown_param(self):
        error = refusal({'server_verification_params': {'digest': 'SHA1'}})
        assert error.path == 'subscriptions.server_verification_params.digest'

    def test_order(self):
        out = compile_subscriptions({'server_verification_params': {
            'dir_credentials': '/c', 'pass_unix_credentials': True, 'no_check_uid': 5, 'tolerance': 60,
            'dir_cert': '/k', 'digest_algo': 'SHA256'}})
        assert out == [
            ['subscriptions-sign-check', 'SHA256:/k'],
            ['subscriptions-sign-check-tolerance', '60'],
            ['subscriptions-sign-skip-uid', '5'],
            ['subscriptions-use-credentials', 'true'],
            ['subscriptions-credentials-check', '/c/'],
        ]


# ---------------------------------------------------------------- set_client_params

CLIENT_PARAMS = [
    ('start_unsubscribed', True, '2.0', [['start-unsubscribed', 'true']]),
    ('start_unsubscribed', False, '2.0', []),
    ('clear_on_exit', True, '2.1', [['subscription-clear-on-shutdown', 'true']]),
    ('unsubscribe_on_reload', True, '2.0', [['unsubscribe-on-graceful-reload', 'true']]),
    ('announce_interval', 5, '2.0', [['subscribe-freq', '5']]),
    ('announce_interval', '30', '2.0', [['subscribe-freq', '30']]),
]


class TestClientParams:

    @pytest.mark.parametrize('param, value, version, expected', CLIENT_PARAMS,
                             ids=['%s=%r@%s' % (p[0], p[1], p[2]) for p in CLIENT_PARAMS])
    def test_emitted(self, param, value, version, expected):
        assert compile_subscriptions({'client_params': {param: value}}, version) == expected

    def test_clear_on_exit_refused_on_2_0(self):
        error = refusal({'client_params': {'clear_on_exit': True}}, '2.0')
        assert error.path == 'subscriptions.client_params.clear_on_exit'
        assert 'exists only in uWSGI 2.1' in error.message
        assert "'subscription-clear-on-shutdown'" in error.message

    @pytest.mark.parametrize('param, value, fragment', [
        ('announce_interval', 0, 'must be >= 1'),
        ('announce_interval', 'often', 'must be an integer'),
        ('start_unsubscribed', 'sometimes', 'must be a boolean'),
        ('unsubscribe_on_reload', 1, 'must be a boolean'),
    ])
    def test_bad_values(self, param, value, fragment):
        error = refusal({'client_params': {param: value}})
        assert error.path == 'subscriptions.client_params.%s' % param
        assert fragment in error.message

    def test_unknown_param(self):
        error = refusal({'client_params': {'interval': 5}})
        assert error.path == 'subscriptions.client_params.interval'

    def test_order(self):
        out = compile_subscriptions({'client_params': {
            'announce_interval': 3, 'unsubscribe_on_reload': True, 'clear_on_exit': True,
            'start_unsubscribed': True}}, '2.1')
        assert out == [
            ['start-unsubscribed', 'true'],
            ['subscription-clear-on-shutdown', 'true'],
            ['unsubscribe-on-graceful-reload', 'true'],
            ['subscribe-freq', '3'],
        ]


# ---------------------------------------------------------------- subscribe()

class TestSubscribeValues:

    def test_minimal(self):
        assert subscribe2() == 'server=10.0.0.1:2626,key=example.com,addr=10.0.0.5:3031'

    def test_brief_example(self):
        assert subscribe2(balancing_weight=2, signing=['SHA1', '/k.pem']) == \
            'server=10.0.0.1:2626,key=example.com,addr=10.0.0.5:3031,weight=2,sign=SHA1:/k.pem'

    @pytest.mark.parametrize('server', ['10.0.0.1:2626', '/run/uwsgi/subscribe.sock', '@sub', '%(ROUTER):2626'],
                             ids=['udp', 'unix', 'abstract', 'placeholder'])
    def test_server_forms(self, server):
        assert subscribe2(server=server).startswith('server=%s,key=' % server)

    @pytest.mark.parametrize('address, pair', [
        ('10.0.0.5:3031', 'addr=10.0.0.5:3031'),
        ('/run/uwsgi/app.sock', 'addr=/run/uwsgi/app.sock'),
        ('@app', 'addr=@app'),
        (0, 'socket=0'),
        (3, 'socket=3'),
    ], ids=['ipv4', 'unix', 'abstract', 'socket-0', 'socket-3'])
    def test_address_forms(self, address, pair):
        assert subscribe2(address=address) == 'server=10.0.0.1:2626,key=example.com,' + pair

    @pytest.mark.parametrize('key', ['example.com', 'example.com:8080', 'a-b_c.example.org', 'x' * 255])
    def test_keys(self, key):
        assert ',key=%s,' % key in subscribe2(key=key)

    @pytest.mark.parametrize('key', ['example.com/app', 'example.com/a/b'])
    def test_key_mountpoint_on_2_1(self, key):
        assert ',key=%s,' % key in subscribe2('2.1', key=key)

    @pytest.mark.parametrize('weight', [1, 2, 100, '7'])
    def test_weight(self, weight):
        assert subscribe2(balancing_weight=weight).endswith(',weight=%s' % weight)

    @pytest.mark.parametrize('modifier, pairs', [
        (0, 'modifier1=0'),
        (5, 'modifier1=5'),
        ('9', 'modifier1=9'),
        (255, 'modifier1=255'),
        ('psgi', 'modifier1=5'),
        ({'modifier1': 'php', 'modifier2': 2}, 'modifier1=14,modifier2=2'),
        ({'modifier1': 7}, 'modifier1=7'),
        ({'modifier1': 0, 'modifier2': 0}, 'modifier1=0,modifier2=0'),
    ], ids=['zero', 'int', 'digit-string', 'max', 'name', 'mapping-with-modifier2', 'mapping', 'zeros'])
    def test_modifier(self, modifier, pairs):
        assert subscribe2(modifier=modifier).endswith(',' + pairs)

    @pytest.mark.parametrize('name, number', sorted(dict(
        wsgi=0, psgi=5, lua=6, rack=7, jvm=8, cgi=9, manage=10, gccgo=11, php=14, mono=15, spooler=17,
        symcall=18, ssi=19, eval=22, xslt=23, v8=24, gridfs=25, fastfunc=26, glusterfs=27, rados=28,
        manage_path_info=30, message=31, message_array=32, message_marshal=33, webdav=35, snmp=48, raw=72,
        multicast_announce=73, multicast=74, cluster_node=95, remote_logging=96, reload_brutal=97, reload=98,
        config_from_node=99).items()))
    def test_modifier_names(self, name, number):
        assert MODIFIERS[name] == number
        assert subscribe2(modifier=name).endswith(',modifier1=%d' % number)

    def test_every_modifier_name_is_tested(self):
        assert len(MODIFIERS) == 34

    @pytest.mark.parametrize('signing, sign', [
        (['SHA1', '/etc/uwsgi/keys/example.com.pem'], 'SHA1:/etc/uwsgi/keys/example.com.pem'),
        (('SHA256', '/k.pem'), 'SHA256:/k.pem'),
    ], ids=['list', 'tuple'])
    def test_signing(self, signing, sign):
        assert subscribe2(signing=signing).endswith(',sign=' + sign)

    def test_check_file(self):
        assert subscribe2(check_file='/etc/uwsgi/maintenance').endswith(',check=/etc/uwsgi/maintenance')

    def test_sni(self):
        value = subscribe2(sni_key='/etc/ssl/k.pem', sni_cert='/etc/ssl/c.pem', sni_client_ca='/etc/ssl/ca.pem')
        assert value.endswith(',sni_key=/etc/ssl/k.pem,sni_crt=/etc/ssl/c.pem,sni_ca=/etc/ssl/ca.pem')

    def test_sni_without_ca(self):
        value = subscribe2(sni_key='/k.pem', sni_cert='/c.pem')
        assert value.endswith(',sni_key=/k.pem,sni_crt=/c.pem')
        assert 'sni_ca' not in value

    def test_sni_needs_no_ssl_on_the_node(self):
        # The SNI files are paths on the router; the announcing node needs no SSL.
        assert 'sni_crt=/c.pem' in subscribe2(build={'ssl': False}, sni_key='/k.pem', sni_cert='/c.pem')

    @pytest.mark.parametrize('item, pair', [
        ({'address_vassal': 'app1'}, 'vassal=app1'),
        ({'balancing_algo': 'weighted_round_robin'}, 'algo=wrr'),
        ({'balancing_algo': 'least_reference_count'}, 'algo=lrc'),
        ({'balancing_algo': 'weighted_least_reference_count'}, 'algo=wlrc'),
        ({'balancing_algo': 'ip_hash'}, 'algo=iphash'),
        ({'balancing_algo': {'name': 'wlrc', 'backup_level': 1}}, 'algo=wlrc,backup=1'),
        ({'balancing_algo': {'name': 'wrr', 'backup_level': 0}}, 'algo=wrr,backup=0'),
        ({'protocol': 'http'}, 'proto=http'),
        ({'protocol': 'uwsgi'}, 'proto=uwsgi'),
    ], ids=['vassal', 'algo-wrr', 'algo-lrc', 'algo-wlrc', 'algo-iphash', 'algo-backup', 'algo-backup-0',
            'proto-http', 'proto-uwsgi'])
    def test_master_only_keys_on_2_1(self, item, pair):
        assert subscribe2('2.1', **item).endswith(',' + pair)

    def test_full_pair_order_on_2_1(self):
        value = subscribe2(
            '2.1', key='example.com/app', address='/run/app.sock', address_vassal='app',
            balancing_weight=3, balancing_algo={'name': 'lrc', 'backup_level': 2},
            modifier={'modifier1': 'wsgi', 'modifier2': 1}, signing=['SHA1', '/k.pem'],
            check_file='/etc/down', protocol='http', sni_key='/k', sni_cert='/c', sni_client_ca='/ca')
        assert value == ('server=10.0.0.1:2626,key=example.com/app,addr=/run/app.sock,vassal=app,weight=3,'
                         'algo=lrc,backup=2,modifier1=0,modifier2=1,sign=SHA1:/k.pem,check=/etc/down,'
                         'proto=http,sni_key=/k,sni_crt=/c,sni_ca=/ca')

    def test_input_order_kept(self):
        out = compile_subscriptions({'subscribe': [
            {'server': SERVER, 'key': 'b.com', 'address': NODE},
            {'server': '/run/s.sock', 'key': 'a.com', 'address': 1},
            {'server': SERVER, 'key': 'c.com', 'address': '/run/c.sock'},
        ]})
        assert out == [
            ['subscribe2', 'server=10.0.0.1:2626,key=b.com,addr=10.0.0.5:3031'],
            ['subscribe2', 'server=/run/s.sock,key=a.com,socket=1'],
            ['subscribe2', 'server=10.0.0.1:2626,key=c.com,addr=/run/c.sock'],
        ]

    def test_same_key_twice(self):
        out = compile_subscriptions({'subscribe': [
            {'server': SERVER, 'key': 'a.com', 'address': NODE},
            {'server': '10.0.0.2:2626', 'key': 'a.com', 'address': NODE},
        ]})
        assert [name for name, _v in out] == ['subscribe2', 'subscribe2']


class TestSubscribeEscaping:

    @pytest.mark.parametrize('key, escaped', [
        ('a,b.com', 'a\\,b.com'),
        ('a=b.com', 'a\\=b.com'),
        ('a\\b.com', 'a\\\\b.com'),
    ], ids=['comma', 'equals', 'backslash'])
    def test_key(self, key, escaped):
        assert subscribe2(key=key) == 'server=10.0.0.1:2626,key=%s,addr=10.0.0.5:3031' % escaped

    def test_check_file(self):
        assert subscribe2(check_file='/etc/a,b=c\\d').endswith(',check=/etc/a\\,b\\=c\\\\d')

    def test_sni_paths(self):
        value = subscribe2(sni_key='/k,1.pem', sni_cert='/c=1.pem', sni_client_ca='/ca\\1.pem')
        assert value.endswith(',sni_key=/k\\,1.pem,sni_crt=/c\\=1.pem,sni_ca=/ca\\\\1.pem')

    def test_signing_key_path(self):
        assert subscribe2(signing=['SHA1', '/keys/a,b.pem']).endswith(',sign=SHA1:/keys/a\\,b.pem')

    def test_unix_addresses(self):
        value = subscribe2(server='/run/s,1.sock', address='/run/a=1.sock')
        assert value == 'server=/run/s\\,1.sock,key=example.com,addr=/run/a\\=1.sock'

    def test_vassal(self):
        assert subscribe2('2.1', address_vassal='v,1').endswith(',vassal=v\\,1')


class TestSubscribeRefusals:

    def test_unknown_key(self):
        error = subscribe_refusal(weight=2)
        assert error.path == 'subscriptions.subscribe[0].weight'
        assert 'unknown parameter' in error.message

    def test_unknown_key_second_item(self):
        error = refusal({'subscribe': [{'server': SERVER, 'key': 'a', 'address': NODE},
                                       {'server': SERVER, 'key': 'b', 'address': NODE, 'addr': NODE}]})
        assert error.path == 'subscriptions.subscribe[1].addr'

    @pytest.mark.parametrize('item, missing', [
        ({'key': 'a.com', 'address': NODE}, 'server'),
        ({'server': SERVER, 'address': NODE}, 'key'),
        ({'address': NODE}, 'server'),
        ({'server': SERVER, 'key': None, 'address': NODE}, 'key'),
    ], ids=['no-server', 'no-key', 'neither', 'key-null'])
    def test_server_and_key_required(self, item, missing):
        error = refusal({'subscribe': [item]})
        assert error.path == 'subscriptions.subscribe[0].%s' % missing
        assert 'is required' in error.message
        assert 'silently drops' in error.message

    @pytest.mark.parametrize('server', ['router.example.com:2626', 'localhost:2626', 'router'])
    def test_host_name_server(self, server):
        error = subscribe_refusal(server=server)
        assert error.path == 'subscriptions.subscribe[0].server'
        assert '255.255.255.255' in error.message
        assert 'sendto(): Permission denied' in error.message

    @pytest.mark.parametrize('server', ['[::1]:2626', '[2001:db8::1]:2626'])
    def test_ipv6_server(self, server):
        error = subscribe_refusal(server=server)
        assert error.path == 'subscriptions.subscribe[0].server'
        assert 'IPv6' in error.message

    @pytest.mark.parametrize('server', [':2626', '0.0.0.0:2626'], ids=['port-only', 'zero-address'])
    def test_wildcard_server(self, server):
        error = subscribe_refusal(server=server)
        assert error.path == 'subscriptions.subscribe[0].server'
        assert 'wildcard address' in error.message

    @pytest.mark.parametrize('address', [':3031', '0.0.0.0:3031'], ids=['port-only', 'zero-address'])
    def test_wildcard_address(self, address):
        # The router connects to the announced address with inet_addr():
        # 0.0.0.0 and an empty host are INADDR_ANY, the router's own host.
        error = subscribe_refusal(address=address)
        assert error.path == 'subscriptions.subscribe[0].address'
        assert 'wildcard address' in error.message
        assert '10.0.0.5:3031' in error.message

    @pytest.mark.parametrize('address', ['app.example.com:3031', 'localhost:3031', 'app.sock'])
    def test_host_name_address(self, address):
        error = subscribe_refusal(address=address)
        assert error.path == 'subscriptions.subscribe[0].address'
        assert '255.255.255.255' in error.message

    def test_ipv6_address(self):
        error = subscribe_refusal(address='[::1]:3031')
        assert error.path == 'subscriptions.subscribe[0].address'
        assert 'IPv6' in error.message

    def test_missing_address(self):
        error = refusal({'subscribe': [{'server': SERVER, 'key': 'a.com'}]})
        assert error.path == 'subscriptions.subscribe[0].address'
        assert 'is required' in error.message
        assert '":3031"' in error.message

    @pytest.mark.parametrize('address, fragment', [
        (-1, 'must be >= 0'),
        (True, 'must be a string'),
        ([NODE], 'must be a string'),
        ('', 'must not be empty'),
    ], ids=['negative-socket', 'bool', 'list', 'empty'])
    def test_bad_address(self, address, fragment):
        error = subscribe_refusal(address=address)
        assert error.path == 'subscriptions.subscribe[0].address'
        assert fragment in error.message

    def test_unix_server_with_colon(self):
        # send_subscription(): strchr(host, ':') makes it UDP to inet_addr("/run/sub").
        error = subscribe_refusal(server='/run/sub:1.sock')
        assert error.path == 'subscriptions.subscribe[0].server'

    def test_signing_as_string(self):
        error = subscribe_refusal(signing='SHA1:/k')
        assert error.path == 'subscriptions.subscribe[0].signing'
        assert 'two-item list' in error.message
        assert "got the string 'SHA1:/k'" in error.message

    @pytest.mark.parametrize('signing', [['SHA1'], ['SHA1', '/k.pem', 'x'], [], {'SHA1': '/k'}, 5],
                             ids=['one', 'three', 'empty', 'mapping', 'int'])
    def test_signing_wrong_shape(self, signing):
        error = subscribe_refusal(signing=signing)
        assert error.path == 'subscriptions.subscribe[0].signing'
        assert 'two-item list [digest, private_key_path]' in error.message

    def test_signing_without_ssl(self):
        error = subscribe_refusal(build={'ssl': False}, signing=['SHA1', '/k.pem'])
        assert error.path == 'subscriptions.subscribe[0].signing'
        assert 'needs a uWSGI built with SSL' in error.message

    @pytest.mark.parametrize('signing, path, fragment', [
        (['SHA 1', '/k.pem'], 'signing[0]', 'OpenSSL digest name'),
        (['SHA1', 'k.pem'], 'signing[1]', 'absolute path'),
        ([None, '/k.pem'], 'signing[0]', 'must be a string'),
        (['SHA1', ''], 'signing[1]', 'must not be empty'),
    ], ids=['digest', 'relative-key', 'none-digest', 'empty-key'])
    def test_signing_parts(self, signing, path, fragment):
        error = subscribe_refusal(signing=signing)
        assert error.path == 'subscriptions.subscribe[0].' + path
        assert fragment in error.message

    @pytest.mark.parametrize('item, param, fragment', [
        ({'address_vassal': 'app'}, 'address_vassal', "'vassal'"),
        ({'balancing_algo': 'lrc'}, 'balancing_algo', 'subscriptions.server_params.balancing_algo'),
        ({'balancing_algo': 'ip_hash'}, 'balancing_algo', 'subscriptions.server_params.balancing_algo'),
        ({'protocol': 'http'}, 'protocol', "'proto'"),
    ], ids=['address_vassal', 'balancing_algo', 'balancing_algo-iphash', 'protocol'])
    def test_master_only_keys_refused_on_2_0(self, item, param, fragment):
        error = subscribe_refusal('2.0', **item)
        assert error.path == 'subscriptions.subscribe[0].%s' % param
        assert 'exists only in uWSGI 2.1' in error.message
        assert fragment in error.message

    def test_balancing_algo_names_the_2_0_alternative(self):
        error = subscribe_refusal('2.0', balancing_algo='weighted_least_reference_count')
        assert 'on 2.0 use the router-side algorithm: subscriptions.server_params.balancing_algo' in error.message

    @pytest.mark.parametrize('key', ['example.com/app', '/'])
    def test_key_with_mountpoint_on_2_0(self, key):
        error = subscribe_refusal('2.0', key=key)
        assert error.path == 'subscriptions.subscribe[0].key'
        assert 'mountpoint' in error.message
        assert '2.1' in error.message

    @pytest.mark.parametrize('key, fragment', [
        ('x' * 256, 'at most 255 bytes'),
        (u'\u00e9' * 128, 'at most 255 bytes'),
        ('a b.com', 'must not contain spaces'),
        ('', 'must not be empty'),
        (True, 'must be a string'),
        ('a\nb', 'line break'),
    ], ids=['256-bytes', '256-utf8-bytes', 'space', 'empty', 'bool', 'newline'])
    def test_bad_key(self, key, fragment):
        error = subscribe_refusal('2.1', key=key)
        assert error.path == 'subscriptions.subscribe[0].key'
        assert fragment in error.message

    @pytest.mark.parametrize('weight, fragment', [
        (0, 'must be >= 1'), (-2, 'must be >= 1'), (True, 'must be an integer'), ('heavy', 'must be an integer'),
        (1.5, 'must be an integer'),
    ], ids=['zero', 'negative', 'bool', 'word', 'float'])
    def test_bad_weight(self, weight, fragment):
        error = subscribe_refusal(balancing_weight=weight)
        assert error.path == 'subscriptions.subscribe[0].balancing_weight'
        assert fragment in error.message

    @pytest.mark.parametrize('modifier, path, fragment', [
        ('python', 'modifier', 'unknown modifier name'),
        (256, 'modifier', 'must be <= 255'),
        (-1, 'modifier', 'must be >= 0'),
        (True, 'modifier', 'must be an integer'),
        ({'modifier2': 1}, 'modifier.modifier1', 'is required'),
        ({'modifier1': 5, 'modifier2': 256}, 'modifier.modifier2', 'must be <= 255'),
        ({'modifier1': 'nope'}, 'modifier.modifier1', 'unknown modifier name'),
        ({'modifier1': 5, 'modifier3': 1}, 'modifier.modifier3', 'unknown parameter'),
        ([5], 'modifier', 'must be an integer'),
    ], ids=['unknown-name', 'too-big', 'negative', 'bool', 'no-modifier1', 'modifier2-too-big',
            'mapping-unknown-name', 'unknown-key', 'list'])
    def test_bad_modifier(self, modifier, path, fragment):
        error = subscribe_refusal(modifier=modifier)
        assert error.path == 'subscriptions.subscribe[0].' + path
        assert fragment in error.message

    @pytest.mark.parametrize('check_file', ['maintenance', './down'])
    def test_relative_check_file(self, check_file):
        error = subscribe_refusal(check_file=check_file)
        assert error.path == 'subscriptions.subscribe[0].check_file'
        assert 'absolute path' in error.message

    @pytest.mark.parametrize('protocol', ['fastcgi', 'https', 'h', 'HTTP'])
    def test_bad_protocol(self, protocol):
        error = subscribe_refusal('2.1', protocol=protocol)
        assert error.path == 'subscriptions.subscribe[0].protocol'
        assert 'must be uwsgi or http' in error.message

    @pytest.mark.parametrize('item, missing', [
        ({'sni_key': '/k.pem'}, 'sni_cert'),
        ({'sni_cert': '/c.pem'}, 'sni_key'),
        ({'sni_client_ca': '/ca.pem'}, 'sni_key'),
        ({'sni_cert': '/c.pem', 'sni_client_ca': '/ca.pem'}, 'sni_key'),
    ], ids=['key-only', 'cert-only', 'ca-only', 'cert-and-ca'])
    def test_sni_needs_key_and_cert(self, item, missing):
        error = subscribe_refusal(**item)
        assert error.path == 'subscriptions.subscribe[0].%s' % missing
        assert 'both sni_key and sni_cert' in error.message

    @pytest.mark.parametrize('param', ['sni_key', 'sni_cert', 'sni_client_ca'])
    def test_sni_relative_path(self, param):
        item = {'sni_key': '/k', 'sni_cert': '/c', 'sni_client_ca': '/ca'}
        item[param] = 'relative.pem'
        error = subscribe_refusal(**item)
        assert error.path == 'subscriptions.subscribe[0].%s' % param
        assert 'absolute path on the router host' in error.message

    @pytest.mark.parametrize('value', [{'server': SERVER}, 'x', 5], ids=['mapping', 'str', 'int'])
    def test_subscribe_not_a_list(self, value):
        error = refusal({'subscribe': value})
        assert error.path == 'subscriptions.subscribe'
        assert 'must be a list of subscriptions' in error.message

    @pytest.mark.parametrize('item', ['10.0.0.1:2626:a.com', 5, ['server'], True], ids=['str', 'int', 'list', 'bool'])
    def test_subscription_not_a_mapping(self, item):
        error = refusal({'subscribe': [item]})
        assert error.path == 'subscriptions.subscribe[0]'
        assert 'must be a mapping' in error.message

    def test_unknown_group(self):
        error = refusal({'subscribe_to': []})
        assert error.path == 'subscriptions.subscribe_to'
        assert 'unknown parameter' in error.message

    @pytest.mark.parametrize('value', ['x', ['subscribe'], 5], ids=['str', 'list', 'int'])
    def test_subscriptions_not_a_mapping(self, value):
        error = refusal(value)
        assert error.path == 'subscriptions'
        assert 'must be a mapping' in error.message


class TestWeights2_0:
    """uWSGI 2.0 writes a subscription's weight into the global uwsgi.weight:
    every announce of the instance then carries the last one parsed."""

    @staticmethod
    def spec(*weights):
        items = []
        for i, weight in enumerate(weights):
            item = {'server': SERVER, 'key': 'k%d.com' % i, 'address': NODE}
            if weight is not None:
                item['balancing_weight'] = weight
            items.append(item)
        return {'subscribe': items}

    @pytest.mark.parametrize('weights', [(1, 2), (None, 2), (3, 3, 4), (2, None)],
                             ids=['1-2', 'unset-2', '3-3-4', '2-unset'])
    def test_differing_weights_refused_on_2_0(self, weights):
        error = refusal(self.spec(*weights), '2.0')
        assert error.path == 'subscriptions.subscribe'
        assert 'global to the instance' in error.message
        assert 'same balancing_weight' in error.message
        assert 'subscriptions.subscribe[0]=' in error.message

    @pytest.mark.parametrize('weights', [(1, 2), (None, 2), (3, 3, 4)], ids=['1-2', 'unset-2', '3-3-4'])
    def test_differing_weights_accepted_on_2_1(self, weights):
        out = compile_subscriptions(self.spec(*weights), '2.1')
        assert len(out) == len(weights)

    @pytest.mark.parametrize('weights', [(2, 2), (None, None), (None, 1), (5,), (7, '7')],
                             ids=['2-2', 'unset-unset', 'unset-1', 'single', 'int-and-string'])
    def test_equal_weights_accepted_on_2_0(self, weights):
        out = compile_subscriptions(self.spec(*weights), '2.0')
        assert len(out) == len(weights)


# ---------------------------------------------------------------- module functions

class TestResolve:

    @pytest.mark.parametrize('value, expected', [
        ('weighted_round_robin', ('wrr', None)),
        ('ip_hash', ('iphash', None)),
        ({'name': 'lrc', 'backup_level': 3}, ('lrc', 3)),
        ({'name': 'wlrc', 'backup_level': None}, ('wlrc', None)),
    ])
    def test_resolve(self, value, expected):
        assert algorithms.resolve(value, 'p', Target('2.1')) == expected

    def test_resolve_negative_backup(self):
        with pytest.raises(TopologyError) as info:
            algorithms.resolve({'name': 'lrc', 'backup_level': -1}, 'p', Target('2.1'))
        assert info.value.path == 'p.backup_level'

    @pytest.mark.parametrize('value, expected', [
        (5, (5, None)), ('5', (5, None)), ('psgi', (5, None)), ({'modifier1': 'lua', 'modifier2': 3}, (6, 3)),
    ])
    def test_resolve_modifier(self, value, expected):
        assert resolve_modifier(value, 'p') == expected
