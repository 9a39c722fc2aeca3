# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/compiler.py: compile_options (spec keys, option
order, plugin lines, strict/master, raw options, cross-checks, version and
build input) and render_ini; plus a fuzz test that feeds malformed specs and
accepts nothing but a result or a TopologyError."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import compiler
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import (
    DEFAULT_VERSION, VERSIONS, compile_options, render_ini,
)
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

TLS = {'cert': '/etc/ssl/c.pem', 'key': '/etc/ssl/k.pem'}
SUBSCRIBE_A = {'server': '10.0.0.1:2626', 'key': 'a.example.com', 'address': '10.0.0.5:3031'}
SUBSCRIBE_B = {'server': '/run/uwsgi/sub.sock', 'key': 'b.example.com', 'address': 0}


def refusal(spec, version=None, build=None, strict=True):
    with pytest.raises(TopologyError) as info:
        compile_options(spec, version, build, strict)
    return info.value


def names(options):
    return [name for name, _value in options]


# ---------------------------------------------------------------- module surface

class TestSurface:

    def test_exports(self):
        assert VERSIONS == ('2.0', '2.1')
        assert DEFAULT_VERSION == '2.0'
        assert set(compiler.__all__) >= set(['compile_options', 'render_ini', 'TopologyError'])

    def test_spec_keys(self):
        assert set(compiler.SPEC_KEYS) == set(['subscriptions', 'routers', 'options', 'plugins', 'master'])

    @pytest.mark.parametrize('spec', [None, {}], ids=['none', 'empty'])
    def test_empty_spec(self, spec):
        assert compile_options(spec) == [['strict', 'true'], ['master', 'true']]

    @pytest.mark.parametrize('spec', ['x', ['routers'], 5, True], ids=['str', 'list', 'int', 'bool'])
    def test_spec_not_a_mapping(self, spec):
        error = refusal(spec)
        assert error.path == ''
        assert 'must be a mapping' in error.message

    @pytest.mark.parametrize('key', ['router', 'subscription', 'vassal', 'strict', 'version'])
    def test_unknown_top_level_key(self, key):
        error = refusal({key: 1})
        assert error.path == key
        assert 'unknown parameter' in error.message
        assert 'known here: master, options, plugins, routers, subscriptions' in error.message

    def test_result_is_list_of_string_pairs(self):
        out = compile_options({'routers': [{'type': 'http', 'bind': ':80', 'basic_params': {'workers': 2}}],
                               'options': {'processes': 4}})
        for pair in out:
            assert isinstance(pair, list) and len(pair) == 2
            assert all(isinstance(part, str) for part in pair)

    def test_input_is_not_modified(self):
        spec = {'routers': [{'type': 'http', 'bind': ':80', 'basic_params': {'keepalive': True, 'workers': 2},
                             'forward_to': [{'type': 'subscription_server', 'address': ':2626'}]}],
                'subscriptions': {'server_params': {'balancing_algo': 'lrc'}, 'subscribe': [dict(SUBSCRIBE_A)]}}
        before = copy.deepcopy(spec)
        compile_options(spec)
        assert spec == before

    def test_deterministic(self):
        spec = {'routers': [{'type': 'fast', 'bind': ':3017', 'basic_params': {'workers': 2, 'quiet': True}}],
                'subscriptions': {'subscribe': [SUBSCRIBE_A, SUBSCRIBE_B]}}
        assert compile_options(spec) == compile_options(copy.deepcopy(spec))


# ---------------------------------------------------------------- version and build

class TestVersionAndBuild:

    @pytest.mark.parametrize('version', ['2.2', '3.0', '1.9', '2', 'master', '2.0.30'])
    def test_unknown_version(self, version):
        error = refusal({}, version)
        assert error.path == 'version'
        assert 'must be one of 2.0, 2.1' in error.message

    @pytest.mark.parametrize('version', ['2.0', '2.1', None, 2.0, 2.1])
    def test_known_versions(self, version):
        assert compile_options({}, version) == [['strict', 'true'], ['master', 'true']]

    @pytest.mark.parametrize('fact', ['openssl', 'pcre', 'routers_list'])
    def test_unknown_build_fact(self, fact):
        error = refusal({}, '2.0', {fact: True})
        assert error.path == 'build.%s' % fact
        assert 'unknown build fact' in error.message

    @pytest.mark.parametrize('fact', ['ssl', 'plugin_build', 'zlib', 'spdy'])
    @pytest.mark.parametrize('value', ['yes', 1, 0, 'true', [True]], ids=repr)
    def test_non_bool_build_fact(self, fact, value):
        error = refusal({}, '2.0', {fact: value})
        assert error.path == 'build.%s' % fact
        assert 'must be a boolean' in error.message

    @pytest.mark.parametrize('build', ['ssl', ['ssl'], 3], ids=['str', 'list', 'int'])
    def test_build_not_a_mapping(self, build):
        assert refusal({}, '2.0', build).path == 'build'

    @pytest.mark.parametrize('fact, good, bad', [
        ('ssl', True, 1), ('ssl', False, 0), ('plugin_build', True, 1), ('zlib', False, 0),
        ('spdy', True, 1.0),
    ], ids=['ssl-1', 'ssl-0', 'plugin_build-1', 'zlib-0', 'spdy-1.0'])
    def test_build_validation_does_not_depend_on_earlier_calls(self, fact, good, bad):
        # A cache keyed on (version, build items) must not let 1 (== True,
        # same hash) through because {fact: True} was compiled before.
        compile_options({}, '2.0', {fact: good})
        error = refusal({}, '2.0', {fact: bad})
        assert error.path == 'build.%s' % fact

    def test_version_validation_does_not_depend_on_earlier_calls(self):
        compile_options({}, '2.0', {'ssl': True})
        assert refusal({}, '2.2', {'ssl': True}).path == 'version'

    def test_distinct_builds_are_distinct(self):
        spec = {'routers': [{'type': 'https', 'bind': ':443', 'cert': '/c', 'key': '/k'}]}
        compile_options(spec, '2.0', {'ssl': True})
        assert refusal(spec, '2.0', {'ssl': False}).path == 'routers[0].type'
        compile_options(spec, '2.0', {'ssl': True})

    def test_routers_fact_list_and_tuple(self):
        spec = {'routers': [{'type': 'fast', 'bind': ':1'}]}
        assert compile_options(spec, '2.0', {'routers': ['fast']}, strict=False)[-1] == ['fastrouter', ':1']
        assert refusal(spec, '2.0', {'routers': ['http']}).path == 'routers[0].type'
        assert compile_options(spec, '2.0', {'routers': ['fast']}, strict=False)[-1] == ['fastrouter', ':1']


# ---------------------------------------------------------------- strict, master

class TestStrictAndMaster:

    def test_strict_default(self):
        assert compile_options({})[0] == ['strict', 'true']

    @pytest.mark.parametrize('strict, expected', [(True, True), (False, False), ('yes', True), ('false', False)])
    def test_strict(self, strict, expected):
        assert (['strict', 'true'] in compile_options({}, strict=strict)) is expected

    @pytest.mark.parametrize('strict', [1, None, 'maybe'], ids=repr)
    def test_bad_strict(self, strict):
        error = refusal({}, strict=strict)
        assert error.path == 'strict'
        assert 'must be a boolean' in error.message

    @pytest.mark.parametrize('master, expected', [
        (None, [['master', 'true']]), (True, [['master', 'true']]), ('yes', [['master', 'true']]),
        (False, []), ('no', []),
    ], ids=['default', 'true', 'yes', 'false', 'no'])
    def test_master(self, master, expected):
        assert compile_options({'master': master}, strict=False) == expected

    @pytest.mark.parametrize('master', [1, 'on', [True]], ids=repr)
    def test_bad_master(self, master):
        error = refusal({'master': master})
        assert error.path == 'master'
        assert 'must be a boolean' in error.message

    @pytest.mark.parametrize('subscriptions', [
        {'subscribe': [SUBSCRIBE_A]},
        {'client_params': {'announce_interval': 5}},
        {'client_params': {'start_unsubscribed': True}},
    ], ids=['subscribe', 'announce_interval', 'start_unsubscribed'])
    def test_master_false_with_subscriptions_refused(self, subscriptions):
        error = refusal({'master': False, 'subscriptions': subscriptions})
        assert error.path == 'master'
        assert 'must be true for subscriptions' in error.message

    def test_master_false_with_router_side_subscriptions_accepted(self):
        out = compile_options({'master': False, 'subscriptions': {'server_params': {'tolerance': 20}},
                               'routers': [{'type': 'fast', 'bind': ':1', 'forward_to': {
                                   'type': 'subscription_server', 'address': ':2626'}}]}, strict=False)
        assert out == [['fastrouter', ':1'], ['fastrouter-subscription-server', ':2626'],
                       ['subscription-tolerance', '20']]

    def test_master_false_with_client_params_false_accepted(self):
        assert compile_options({'master': False, 'subscriptions': {'client_params': {'start_unsubscribed': False}}},
                               strict=False) == []


# ---------------------------------------------------------------- plugins

class TestPlugins:

    PLUGIN = {'plugin_build': True}

    @pytest.mark.parametrize('kind, plugin, item', [
        ('http', 'http', {'bind': ':80'}),
        ('https', 'http', dict({'bind': ':443'}, **TLS)),
        ('ssl', 'sslrouter', dict({'bind': ':443'}, **TLS)),
        ('fast', 'fastrouter', {'bind': ':1'}),
        ('raw', 'rawrouter', {'bind': ':1'}),
        ('forkpty', 'forkptyrouter', {'bind': '/run/p.sock'}),
        ('tuntap', 'tuntap', {'bind': '/run/t.sock'}),
    ])
    def test_plugin_per_router(self, kind, plugin, item):
        out = compile_options({'routers': [dict(item, type=kind)]}, '2.0', self.PLUGIN)
        assert out[:3] == [['plugin', plugin], ['strict', 'true'], ['master', 'true']]
        assert names(out).count('plugin') == 1

    def test_http_and_https_load_http_once(self):
        out = compile_options({'routers': [{'type': 'http', 'bind': ':80'},
                                           dict({'type': 'https', 'bind': ':443'}, **TLS)]}, '2.0', self.PLUGIN)
        assert out[0] == ['plugin', 'http']
        assert names(out).count('plugin') == 1

    def test_each_plugin_once_in_router_order(self):
        out = compile_options({'routers': [
            {'type': 'raw', 'bind': ':1'}, {'type': 'fast', 'bind': ':2'}, {'type': 'raw', 'bind': ':3'},
            {'type': 'http', 'bind': ':4'}, dict({'type': 'https', 'bind': ':5'}, **TLS),
            {'type': 'fast', 'bind': ':6'},
        ]}, '2.0', self.PLUGIN)
        assert [v for n, v in out if n == 'plugin'] == ['rawrouter', 'fastrouter', 'http']

    def test_extra_plugins_appended(self):
        out = compile_options({'routers': [{'type': 'http', 'bind': ':80'}], 'plugins': ['python3', 'http', 'ping']},
                              '2.0', self.PLUGIN)
        assert out[:5] == [['plugin', 'http'], ['plugin', 'python3'], ['plugin', 'ping'], ['strict', 'true'],
                           ['master', 'true']]

    def test_extra_plugin_as_string(self):
        out = compile_options({'plugins': 'python3'}, '2.0', self.PLUGIN)
        assert out == [['plugin', 'python3'], ['strict', 'true'], ['master', 'true']]

    def test_extra_plugins_deduplicated(self):
        out = compile_options({'plugins': ['python3', 'python3']}, '2.0', self.PLUGIN)
        assert names(out).count('plugin') == 1

    def test_plugin_lines_without_strict(self):
        out = compile_options({'routers': [{'type': 'fast', 'bind': ':1'}]}, '2.0', self.PLUGIN, strict=False)
        assert out == [['plugin', 'fastrouter'], ['master', 'true'], ['fastrouter', ':1']]

    @pytest.mark.parametrize('plugins, path', [
        ([None], 'plugins[0]'), (['python3', ''], 'plugins[1]'), ([True], 'plugins[0]'), ({'a': 1}, 'plugins[0]'),
    ], ids=['none', 'empty', 'bool', 'mapping'])
    def test_bad_plugins_on_plugin_build(self, plugins, path):
        assert refusal({'plugins': plugins}, '2.0', self.PLUGIN).path == path

    @pytest.mark.parametrize('build', [None, {'plugin_build': False}], ids=['default', 'explicit'])
    def test_no_plugin_lines_on_monolithic_builds(self, build):
        out = compile_options({'routers': [{'type': 'http', 'bind': ':80'}, {'type': 'tuntap', 'bind': '/t'}],
                               'plugins': ['python3']}, '2.0', build)
        assert 'plugin' not in names(out)
        assert out[:2] == [['strict', 'true'], ['master', 'true']]

    @pytest.mark.parametrize('plugins', [{'a': 1}, 5, True], ids=['mapping', 'int', 'bool'])
    def test_bad_plugins_type_on_monolithic_builds(self, plugins):
        error = refusal({'plugins': plugins})
        assert error.path == 'plugins'
        assert 'must be a list of plugin names' in error.message


# ---------------------------------------------------------------- raw options

class TestRawOptions:

    def test_mapping(self):
        out = compile_options({'options': {'socket': ':3031', 'processes': 4, 'enable-threads': True,
                                           'disable-logging': False, 'env': ['A=1', 'B=2']}}, strict=False)
        assert out == [['master', 'true'], ['socket', ':3031'], ['processes', '4'], ['enable-threads', 'true'],
                       ['env', 'A=1'], ['env', 'B=2']]

    def test_pairs(self):
        out = compile_options({'options': [['socket', ':3031'], ['socket', '/run/a.sock'], ('vacuum', True),
                                           ['workers', 2]]}, strict=False)
        assert out == [['master', 'true'], ['socket', ':3031'], ['socket', '/run/a.sock'], ['vacuum', 'true'],
                       ['workers', '2']]

    def test_after_master_before_routers(self):
        out = compile_options({'routers': [{'type': 'fast', 'bind': ':1'}], 'options': {'socket': ':3031'}})
        assert out == [['strict', 'true'], ['master', 'true'], ['socket', ':3031'], ['fastrouter', ':1']]

    @pytest.mark.parametrize('name', ['plugin', 'plugins', 'strict', 'master'])
    def test_compiler_owned_names_refused(self, name):
        error = refusal({'options': {name: 'x'}})
        assert error.path == 'options.%s' % name
        assert 'is set by the compiler' in error.message

    def test_compiler_owned_names_refused_in_pairs(self):
        error = refusal({'options': [['socket', ':1'], ['plugin', 'python3']]})
        assert error.path == 'options[1]'
        assert "use the spec's plugins key" in error.message

    @pytest.mark.parametrize('name', ['-socket', 'a b', 'a=b', '', 'sock%et', '[uwsgi]', 'a\nb'],
                             ids=['dash', 'space', 'equals', 'empty', 'percent', 'section', 'newline'])
    def test_bad_names(self, name):
        error = refusal({'options': {name: 'x'}})
        assert error.path == 'options.%s' % name
        assert 'is not a uWSGI option name' in error.message

    @pytest.mark.parametrize('name', [5, None, True, ['a']], ids=['int', 'none', 'bool', 'list'])
    def test_bad_name_types_in_pairs(self, name):
        error = refusal({'options': [[name, 'x']]})
        assert error.path == 'options[0]'
        assert 'is not a uWSGI option name' in error.message

    @pytest.mark.parametrize('pair', ['socket', ['socket'], ['a', 'b', 'c'], {'socket': ':1'}, 5, None],
                             ids=['str', 'one', 'three', 'mapping', 'int', 'none'])
    def test_bad_pairs(self, pair):
        error = refusal({'options': [pair]})
        assert error.path == 'options[0]'
        assert 'must be a [name, value] pair' in error.message

    @pytest.mark.parametrize('value, fragment', [
        (None, 'must be a string'), ({}, 'must be a string'), ('', 'must not be empty'), ('a\nb', 'line break'),
        ([None], 'must be a string'), (1.5, 'must be a string'),
    ], ids=['none', 'mapping', 'empty', 'newline', 'list-none', 'float'])
    def test_bad_values(self, value, fragment):
        error = refusal({'options': {'socket': value}})
        assert error.path == 'options.socket'
        assert fragment in error.message

    @pytest.mark.parametrize('options', ['socket=:1', 5, True], ids=['str', 'int', 'bool'])
    def test_options_wrong_type(self, options):
        error = refusal({'options': options})
        assert error.path == 'options'
        assert 'must be a mapping or a list of [name, value] pairs' in error.message


# ---------------------------------------------------------------- order

class TestOrder:

    SPEC = {
        'plugins': ['python3', 'http'],
        'options': [['socket', '10.0.0.5:3031'], ['processes', 4]],
        'routers': [
            {'type': 'http', 'bind': ':80', 'forward_to': {'type': 'subscription_server', 'address': ':2626'},
             'basic_params': {'workers': 1}},
            dict({'type': 'https', 'bind': ':443'}, **TLS),
            {'type': 'fast', 'bind': ':3017', 'forward_to': '10.0.0.6:3031'},
            {'type': 'raw', 'bind': ':3018'},
            dict({'type': 'ssl', 'bind': ':9443'}, **TLS),
            {'type': 'forkpty', 'bind': '/run/pty.sock'},
            {'type': 'tuntap', 'bind': '/run/tt.sock'},
        ],
        'subscriptions': {
            'subscribe': [SUBSCRIBE_A, SUBSCRIBE_B],
            'client_params': {'announce_interval': 5},
            'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/etc/uwsgi/keys'},
            'server_params': {'tolerance': 20},
        },
    }

    def test_full_order(self):
        out = compile_options(self.SPEC, '2.0', {'plugin_build': True})
        assert out == [
            ['plugin', 'http'],
            ['plugin', 'fastrouter'],
            ['plugin', 'rawrouter'],
            ['plugin', 'sslrouter'],
            ['plugin', 'forkptyrouter'],
            ['plugin', 'tuntap'],
            ['plugin', 'python3'],
            ['strict', 'true'],
            ['master', 'true'],
            ['socket', '10.0.0.5:3031'],
            ['processes', '4'],
            ['http', ':80'],
            ['http-subscription-server', ':2626'],
            ['http-workers', '1'],
            ['https2', 'addr=:443,cert=/etc/ssl/c.pem,key=/etc/ssl/k.pem'],
            ['fastrouter', ':3017'],
            ['fastrouter-to', '10.0.0.6:3031'],
            ['rawrouter', ':3018'],
            ['sslrouter2', 'addr=:9443,cert=/etc/ssl/c.pem,key=/etc/ssl/k.pem'],
            ['forkptyrouter', '/run/pty.sock'],
            ['tuntap-router', 'uwsgidev /run/tt.sock'],
            ['subscription-tolerance', '20'],
            ['subscriptions-sign-check', 'SHA1:/etc/uwsgi/keys'],
            ['subscribe-freq', '5'],
            ['subscribe2', 'server=10.0.0.1:2626,key=a.example.com,addr=10.0.0.5:3031'],
            ['subscribe2', 'server=/run/uwsgi/sub.sock,key=b.example.com,socket=0'],
        ]

    def test_full_order_monolithic_non_strict(self):
        out = compile_options(self.SPEC, '2.0', None, strict=False)
        assert 'plugin' not in names(out)
        assert out[0] == ['master', 'true']
        assert out[1:] == compile_options(self.SPEC, '2.0', {'plugin_build': True})[9:]

    def test_subscribe2_lines_last_in_input_order(self):
        spec = {'subscriptions': {'subscribe': [dict(SUBSCRIBE_A, key='z.com'), dict(SUBSCRIBE_A, key='a.com'),
                                                dict(SUBSCRIBE_A, key='m.com')]},
                'routers': [{'type': 'fast', 'bind': ':1'}], 'options': {'socket': ':3031'}}
        out = compile_options(spec)
        assert names(out)[-3:] == ['subscribe2'] * 3
        assert [v.split(',')[1] for n, v in out if n == 'subscribe2'] == ['key=z.com', 'key=a.com', 'key=m.com']


# ---------------------------------------------------------------- cross-checks

class TestCrossChecks:

    @pytest.mark.parametrize('sni_option', ['sni-dir', 'sni-regexp'])
    def test_dotsplit_and_sni_lookups(self, sni_option):
        # ssl.c uwsgi_sni_cb: "if (uwsgi.subscription_dotsplit) goto end;" skips
        # both the --sni-regexp and the --sni-dir lookups.
        error = refusal({'subscriptions': {'server_params': {'key_dot_split': True}},
                         'options': {sni_option: '/etc/uwsgi/sni' if sni_option == 'sni-dir' else
                                     '.*\\.example\\.com /c.pem,/k.pem'}})
        assert error.path == 'subscriptions.server_params.key_dot_split'
        assert 'subscription-dotsplit disables' in error.message

    def test_dotsplit_with_explicit_sni_accepted(self):
        out = compile_options({'subscriptions': {'server_params': {'key_dot_split': True}},
                               'options': {'sni': 'example.com /c.pem,/k.pem'}})
        assert ['subscription-dotsplit', 'true'] in out

    def test_dotsplit_false_with_sni_dir_accepted(self):
        assert compile_options({'subscriptions': {'server_params': {'key_dot_split': False}},
                                'options': {'sni-dir': '/etc/sni'}})

    def test_sni_dir_alone_accepted(self):
        assert ['sni-dir', '/etc/sni'] in compile_options({'options': {'sni-dir': '/etc/sni'}})

    @pytest.mark.parametrize('sni_option, value', [
        ('sni', 'example.com /c.pem,/k.pem'), ('sni-dir', '/etc/sni'), ('sni-regexp', '.* /c.pem,/k.pem'),
    ])
    def test_ssl_sessions_use_cache_and_sni(self, sni_option, value):
        error = refusal({'options': [['ssl-sessions-use-cache', 'true'], [sni_option, value]]})
        assert error.path == 'options'
        assert 'ssl-sessions-use-cache breaks SNI' in error.message
        assert '#580' in error.message

    def test_ssl_sessions_use_cache_alone_accepted(self):
        assert ['ssl-sessions-use-cache', 'true'] in compile_options({'options': {'ssl-sessions-use-cache': True}})

    @staticmethod
    def signed(router_type='fast', workers=2, forward_to=None, verification=True):
        item = {'type': router_type, 'bind': ':3017', 'basic_params': {'workers': workers},
                'forward_to': forward_to or {'type': 'subscription_server', 'address': ':2626'}}
        if router_type in ('https', 'ssl'):
            item.update(TLS)
        spec = {'routers': [item]}
        if verification:
            spec['subscriptions'] = {'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/k'}}
        return spec

    @pytest.mark.parametrize('router_type', ['http', 'https', 'ssl', 'fast', 'raw'])
    def test_signed_with_several_workers_refused(self, router_type):
        error = refusal(self.signed(router_type, 2))
        assert error.path == 'routers[0].basic_params.workers'
        assert 'must be 1 when subscriptions are signed' in error.message

    def test_signed_with_workers_in_list_forwarders(self):
        spec = self.signed('fast', 4, ['10.0.0.5:3031', {'type': 'subscription_server', 'address': ':2626'}])
        assert refusal(spec).path == 'routers[0].basic_params.workers'

    def test_signed_second_router(self):
        spec = self.signed('fast', 2)
        spec['routers'].insert(0, {'type': 'raw', 'bind': ':1'})
        assert refusal(spec).path == 'routers[1].basic_params.workers'

    @pytest.mark.parametrize('workers', [1, '1', None], ids=['one', 'string-one', 'unset'])
    def test_signed_with_one_worker_accepted(self, workers):
        assert compile_options(self.signed('fast', workers))

    def test_signed_with_string_workers(self):
        # basic_params.workers: '2' is accepted as an integer everywhere else;
        # the cross-check must refuse it with a TopologyError, not crash.
        error = refusal(self.signed('fast', '2'))
        assert error.path == 'routers[0].basic_params.workers'

    def test_unsigned_with_several_workers_accepted(self):
        assert ['fastrouter-workers', '4'] in compile_options(self.signed('fast', 4, verification=False))

    def test_signed_router_without_subscription_server_accepted(self):
        assert compile_options(self.signed('fast', 4, forward_to='10.0.0.5:3031'))


# ---------------------------------------------------------------- render_ini

class TestRenderIni:

    def test_header_and_lines(self):
        assert render_ini([['master', 'true'], ['http', ':80'], ['http-to', '10.0.0.5:3031']]) == \
            '[uwsgi]\nmaster = true\nhttp = :80\nhttp-to = 10.0.0.5:3031\n'

    def test_empty(self):
        assert render_ini([]) == '[uwsgi]\n'

    def test_tuples(self):
        assert render_ini((('a', 'b'),)) == '[uwsgi]\na = b\n'

    @pytest.mark.parametrize('value, rendered', [
        ('/s/%s.sock', '/s/%%s.sock'),
        ('100%', '100%%'),
        ('%%', '%%%%'),
        ('%(ROUTER):2626', '%(ROUTER):2626'),
        ('server=%(ROUTER):2626,key=%n', 'server=%(ROUTER):2626,key=%%n'),
        ('%(a)%s%(b)', '%(a)%%s%(b)'),
        ('%', '%%'),
        ('a%(', 'a%('),
    ], ids=['use-pattern', 'trailing', 'double', 'placeholder', 'mixed', 'placeholders-around', 'alone',
            'open-placeholder'])
    def test_percent(self, value, rendered):
        assert render_ini([['x', value]]) == '[uwsgi]\nx = %s\n' % rendered

    @pytest.mark.parametrize('name', ['plugin', 'master', 'subscribe2', 'fresh-option-name'])
    def test_percent_doubled_for_every_name(self, name):
        assert render_ini([[name, '%d']]) == '[uwsgi]\n%s = %%%%d\n' % name

    @pytest.mark.parametrize('value, rendered', [(True, 'true'), (False, 'false'), (5, '5'), (0, '0')])
    def test_value_types(self, value, rendered):
        assert render_ini([['x', value]]) == '[uwsgi]\nx = %s\n' % rendered

    @pytest.mark.parametrize('value', ['a\nb', 'a\rb', 'a\n'], ids=['newline', 'cr', 'trailing-newline'])
    @pytest.mark.parametrize('name', ['master', 'subscribe2', 'some-option'])
    def test_newline_refused(self, name, value):
        with pytest.raises(TopologyError) as info:
            render_ini([['strict', 'true'], [name, value]])
        assert info.value.path == 'options[1]'

    @pytest.mark.parametrize('value', [' x', 'x ', '\tx', 'x\t', ' '],
                             ids=['lead', 'trail', 'tab', 'trail-tab', 'blank'])
    @pytest.mark.parametrize('name', ['master', 'subscribe2', 'other-option'])
    def test_surrounding_spaces_refused(self, name, value):
        with pytest.raises(TopologyError) as info:
            render_ini([[name, value]])
        assert info.value.path == 'options[0]'
        assert 'leading or trailing spaces' in info.value.message

    @pytest.mark.parametrize('name', ['plugin', 'strict', 'another-one'])
    @pytest.mark.parametrize('value', ['', None, [], {}, 1.5], ids=['empty', 'none', 'list', 'dict', 'float'])
    def test_bad_values(self, name, value):
        with pytest.raises(TopologyError) as info:
            render_ini([[name, value]])
        assert info.value.path == 'options[0]'

    @pytest.mark.parametrize('pair', ['master', ['master'], ['a', 'b', 'c'], None, 5, {'a': 'b'}],
                             ids=['str', 'one', 'three', 'none', 'int', 'mapping'])
    def test_bad_pairs(self, pair):
        with pytest.raises(TopologyError) as info:
            render_ini([['master', 'true'], pair])
        assert info.value.path == 'options[1]'
        assert 'must be a [name, value] pair' in info.value.message

    @pytest.mark.parametrize('name', ['', '-x', 'a b', 'a=b', 5, None, True, '[uwsgi]', 'a\nb'],
                             ids=['empty', 'dash', 'space', 'equals', 'int', 'none', 'bool', 'section', 'newline'])
    def test_bad_names(self, name):
        with pytest.raises(TopologyError) as info:
            render_ini([[name, 'x']])
        assert info.value.path == 'options[0]'
        assert 'is not a uWSGI option name' in info.value.message

    @pytest.mark.parametrize('name', [['master'], {'a': 1}, ('a',)], ids=['list', 'mapping', 'tuple'])
    def test_unhashable_names(self, name):
        with pytest.raises(TopologyError) as info:
            render_ini([[name, 'x']])
        assert info.value.path == 'options[0]'

    @pytest.mark.parametrize('options', ['master = true', {'master': 'true'}, None, 5],
                             ids=['str', 'mapping', 'none', 'int'])
    def test_options_not_a_list(self, options):
        with pytest.raises(TopologyError) as info:
            render_ini(options)
        assert info.value.path == 'options'

    def test_renders_compiled_options_back(self):
        options = compile_options(TestOrder.SPEC, '2.0', {'plugin_build': True})
        text = render_ini(options + [['fastrouter-use-pattern', '/s/%s.sock']])
        lines = text.splitlines()
        assert lines[0] == '[uwsgi]'
        parsed = []
        for line in lines[1:]:
            name, value = line.split(' = ', 1)
            parsed.append([name, value.replace('%%', '%')])
        assert parsed == options + [['fastrouter-use-pattern', '/s/%s.sock']]


# ---------------------------------------------------------------- fuzz

BAD_VALUES = [None, True, False, 'x', 5, -1, 0, [], {}, [1], {'a': 1}, '2', '--5', u'\u00b2', 1.5, ['x', {}],
              [[]], [{'type': []}]]

FUZZ_BUILD = {'ssl': True, 'zlib': True, 'spdy': True, 'plugin_build': True}

FUZZ_SAMPLES = {
    'subscriptions': {
        'plugins': ['python3'],
        'master': True,
        'options': {'socket': '10.0.0.5:3031', 'env': ['A=1']},
        'subscriptions': {
            'server_params': {'client_notify_address': '/run/n.sock', 'mountpoints_depth': 1,
                              'require_vassal': True, 'tolerance': 20, 'tolerance_inactive': 30,
                              'key_dot_split': True, 'balancing_algo': {'name': 'lrc', 'backup_level': None}},
            'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/k', 'tolerance': 60,
                                           'no_check_uid': [1000, '33'], 'dir_credentials': ['/c'],
                                           'pass_unix_credentials': True},
            'client_params': {'start_unsubscribed': True, 'clear_on_exit': True, 'unsubscribe_on_reload': True,
                              'announce_interval': 5},
            'subscribe': [
                {'server': '10.0.0.1:2626', 'key': 'a.com/app', 'address': '10.0.0.5:3031', 'address_vassal': 'v',
                 'balancing_weight': 2, 'balancing_algo': {'name': 'wlrc', 'backup_level': 1},
                 'modifier': {'modifier1': 'psgi', 'modifier2': 1}, 'signing': ['SHA1', '/k.pem'],
                 'check_file': '/down', 'protocol': 'http', 'sni_key': '/k', 'sni_cert': '/c',
                 'sni_client_ca': '/ca'},
                {'server': '/run/s.sock', 'key': 'b.com', 'address': 1, 'modifier': 5, 'balancing_algo': 'ip_hash'},
            ],
        },
    },
    'http': {'routers': [
        {'type': 'http', 'bind': ':80',
         'forward_to': [{'type': 'subscription_server', 'address': ':2626'}, '10.0.0.5:3031',
                        {'type': 'path', 'sockets_dir': '/s/%s.sock'}, {'type': 'code', 'script': 's', 'func': 'f',
                                                                        'modifier': 'psgi'},
                        {'type': 'cache', 'cache_name': 'c'}, {'type': 'socket', 'socket': 1}],
         'basic_params': {'workers': 1, 'zerg_server': '/z', 'fallback_node': ['10.0.0.9:1'], 'concurrent_events': 9,
                          'cheap_mode': True, 'stats_server': ':9191', 'quiet': True, 'buffer_size': 8192,
                          'keepalive': True, 'resubscribe_addresses': ['10.0.0.7:2626']},
         'connections_params': {'harakiri': 1, 'timeout_socket': 2, 'retry_delay': 3, 'timeout_headers': 4,
                                'timeout_backend': 5},
         'manage_params': {'chunked_input': True, 'chunked_output': True, 'gzip': True, 'websockets': True,
                           'source_method': True, 'rtsp': True, 'proxy_protocol': True},
         'owner_params': {'uid': 'www-data', 'gid': 33},
         'resubscription_params': {'addresses': '10.0.0.8:2626'}},
        {'type': 'https', 'bind': ':443', 'cert': '/c', 'key': '/k', 'ciphers': 'HIGH', 'client_ca': '!/ca',
         'session_context': 'x', 'use_spdy': True, 'export_cert_var': True},
    ], 'subscriptions': {'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/k'}}},
    'fast-raw-ssl': {'routers': [
        {'type': 'fast', 'bind': ':3017', 'forward_to': {'type': 'subscription_server', 'address': '/run/s.sock'},
         'basic_params': {'workers': 1, 'fallback_nokey': True, 'subscription_key': 'k',
                          'emperor_command_socket': '/e'},
         'connections_params': {'retry_max': 1, 'defer': 2},
         'postbuffering_params': {'size': 8192, 'store_dir': '/tmp'},
         'owner_params': {'uid': 0, 'gid': 'g'},
         'resubscription_params': {'addresses': ['10.0.0.8:2626'], 'bind_to': ':0'}},
        {'type': 'raw', 'bind': ':3018', 'forward_to': '10.0.0.5:3031',
         'connections_params': {'retry_max': 1, 'use_xclient': True}},
        {'type': 'ssl', 'bind': ':9443', 'cert': '/c', 'key': '/k', 'ciphers': 'HIGH', 'client_ca': '/ca',
         'session_context': 's', 'use_sni': True, 'forward_to': {'type': 'socket'},
         'connections_params': {'retry_max': 2}},
    ], 'subscriptions': {'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': '/k'}}},
    'forkpty-tuntap': {'routers': [
        {'type': 'forkpty', 'bind': '/run/pty.sock', 'uwsgi_protocol': True,
         'basic_params': {'workers': 2, 'run_command': '/bin/sh'},
         'connections_params': {'harakiri': 1, 'timeout_socket': 2}, 'window_params': {'cols': 80, 'rows': 24}},
        {'type': 'tuntap', 'bind': '/run/tt.sock', 'device': 'emperor0', 'stats_server': '/st',
         'gateway': '10.0.0.1:4040', 'basic_params': {'use_credentials': True, 'stats_server': '/rs'},
         'firewall_rules': [{'direction': 'in', 'action': 'allow', 'src': '10.0.0.0/24', 'dst': '10.0.1.0/24'}],
         'routes': [{'src': '10.0.0.0/24', 'dst': '10.0.1.0/24', 'gateway': '10.0.0.254:4040'}],
         'device_connect': [{'device_name': 'uwsgi0', 'socket': '/run/tt.sock'}],
         'device_rules': [{'direction': 'out', 'src': '10.0.0.1', 'dst': '8.8.8.8', 'action': 'route',
                           'target': '10.0.0.254:4040'}]},
    ]},
}


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix + (index,)
            yield from _paths(item, prefix + (index,))


def _replaced(spec, path, value):
    spec = copy.deepcopy(spec)
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = copy.deepcopy(value)
    return spec


def _run(spec, version='2.1', build=None):
    """None when compile_options (and render_ini of its result) behaved: a
    result or a TopologyError; else a description of what escaped."""
    try:
        options = compile_options(spec, version, FUZZ_BUILD if build is None else build)
    except TopologyError:
        return None
    except Exception as exc:  # noqa: B902 - the point of the test
        return 'compile_options: %s: %s' % (type(exc).__name__, exc)
    try:
        render_ini(options)
    except TopologyError:
        return None
    except Exception as exc:  # noqa: B902
        return 'render_ini: %s: %s' % (type(exc).__name__, exc)
    return None


class TestFuzz:

    @pytest.mark.parametrize('name', sorted(FUZZ_SAMPLES))
    def test_samples_compile(self, name):
        options = compile_options(FUZZ_SAMPLES[name], '2.1', FUZZ_BUILD)
        assert options
        assert render_ini(options).startswith('[uwsgi]\n')

    @pytest.mark.parametrize('name', sorted(FUZZ_SAMPLES))
    def test_only_topology_errors_escape(self, name):
        sample = FUZZ_SAMPLES[name]
        escaped = []
        for path in _paths(sample):
            for bad in BAD_VALUES:
                problem = _run(_replaced(sample, path, bad))
                if problem:
                    escaped.append('%s = %r -> %s' % ('.'.join(str(p) for p in path), bad, problem))
        assert not escaped, '%d malformed specs raised something else than TopologyError:\n%s' % (
            len(escaped), '\n'.join(escaped[:40]))

    @pytest.mark.parametrize('name', sorted(FUZZ_SAMPLES))
    def test_only_topology_errors_escape_on_2_0(self, name):
        sample = FUZZ_SAMPLES[name]
        escaped = []
        for path in _paths(sample):
            for bad in BAD_VALUES:
                problem = _run(_replaced(sample, path, bad), '2.0', {'ssl': False, 'zlib': False})
                if problem:
                    escaped.append('%s = %r -> %s' % ('.'.join(str(p) for p in path), bad, problem))
        assert not escaped, '%d malformed specs raised something else than TopologyError:\n%s' % (
            len(escaped), '\n'.join(escaped[:40]))

    @pytest.mark.parametrize('bad', BAD_VALUES, ids=repr)
    def test_top_level_values(self, bad):
        for key in ('subscriptions', 'routers', 'options', 'plugins', 'master'):
            assert _run({key: bad}) is None
            assert _run({key: bad}, '2.0', {}) is None
        assert _run(bad) is None

    @pytest.mark.parametrize('bad', BAD_VALUES + [2.0, {'ssl': []}, {'routers': [[1]]}, {'routers': {'a': 1}},
                                                  {'ssl': {}}], ids=repr)
    def test_version_and_build_values(self, bad):
        for version, build in ((bad, None), ('2.0', bad), (bad, bad)):
            try:
                compile_options({}, version, build)
            except TopologyError:
                pass

    @pytest.mark.parametrize('bad', BAD_VALUES + [(), ('a',), ('a', 'b', 'c'), [['a'], 'b'], [{'a': 1}, 'b']],
                             ids=repr)
    def test_render_ini_values(self, bad):
        for options in (bad, [bad], [['master', bad]], [[bad, 'x']], [bad, ['a', 'b']]):
            try:
                render_ini(options)
            except TopologyError:
                pass
