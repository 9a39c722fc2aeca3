# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/errors.py and module_utils/core.py: the target
(version and build facts), the value checks and the parameter machinery."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import core
from ansible_collections.uwsgi.topology.plugins.module_utils.core import (
    BOOL, ID, INT, POSINT, STR, STRLIST, UIDLIST, Param, Target, check_bind, check_bool, check_id, check_int,
    check_list, check_mapping, check_str, check_strlist, check_udp_or_unix, emit_params, emit_value, gate,
    is_unix_path, join, kv_escape, kv_join, type_name,
)
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError


def refused(func, *args, **kwargs):
    """Call ``func`` and return the TopologyError it must raise."""
    with pytest.raises(TopologyError) as info:
        func(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------- TopologyError

class TestTopologyError:

    def test_str_with_path(self):
        error = TopologyError('routers[1].basic_params.workers', 'must be >= 1, got 0')
        assert error.path == 'routers[1].basic_params.workers'
        assert error.message == 'must be >= 1, got 0'
        assert str(error) == 'routers[1].basic_params.workers: must be >= 1, got 0'
        assert error.args == ('routers[1].basic_params.workers: must be >= 1, got 0',)

    def test_str_without_path(self):
        error = TopologyError('', 'something is wrong')
        assert str(error) == 'something is wrong'

    def test_none_path(self):
        assert str(TopologyError(None, 'msg')) == 'msg'

    def test_is_an_exception(self):
        assert issubclass(TopologyError, Exception)
        assert not issubclass(TopologyError, (ValueError, TypeError, KeyError))


# ---------------------------------------------------------------- Target

class TestTargetVersion:

    def test_default_is_2_0(self):
        target = Target()
        assert target.version == '2.0'
        assert core.DEFAULT_VERSION == '2.0'
        assert not target.is_master

    @pytest.mark.parametrize('version, master', [
        ('2.0', False), ('2.1', True), (2.0, False), (2.1, True), (None, False),
    ], ids=['str-2.0', 'str-2.1', 'float-2.0', 'float-2.1', 'none-default'])
    def test_known_versions(self, version, master):
        target = Target(version)
        assert target.is_master is master
        assert target.version == ('2.1' if master else '2.0')

    @pytest.mark.parametrize('version', ['2.2', '2', '1.9', '3.0', '2.0.30', 'master', '', 2, 'latest'],
                             ids=lambda v: 'version-%r' % (v,))
    def test_unknown_version_refused(self, version):
        error = refused(Target, version)
        assert error.path == 'version'
        assert 'must be one of 2.0, 2.1' in error.message

    def test_versions_tuple(self):
        assert core.VERSIONS == ('2.0', '2.1')


class TestTargetBuild:

    def test_defaults(self):
        target = Target('2.0', None)
        assert target.ssl is True
        assert target.plugin_build is False
        assert target.routers is None
        assert target.zlib is True
        assert target.spdy is False

    def test_empty_mapping_is_defaults(self):
        target = Target('2.0', {})
        assert (target.ssl, target.plugin_build, target.routers, target.zlib, target.spdy) == \
            (True, False, None, True, False)

    @pytest.mark.parametrize('fact', ['ssl', 'plugin_build', 'zlib', 'spdy'])
    @pytest.mark.parametrize('value', [True, False])
    def test_bool_facts(self, fact, value):
        assert getattr(Target('2.0', {fact: value}), fact) is value

    @pytest.mark.parametrize('build', ['ssl', ['ssl'], 1, True], ids=['str', 'list', 'int', 'bool'])
    def test_build_not_a_mapping(self, build):
        error = refused(Target, '2.0', build)
        assert error.path == 'build'
        assert 'must be a mapping of build facts' in error.message

    @pytest.mark.parametrize('fact', ['openssl', 'pcre', 'SSL', 'router', 'version'])
    def test_unknown_fact_refused(self, fact):
        error = refused(Target, '2.0', {fact: True})
        assert error.path == 'build.%s' % fact
        assert 'unknown build fact' in error.message
        assert 'plugin_build' in error.message

    @pytest.mark.parametrize('fact', ['ssl', 'plugin_build', 'zlib', 'spdy'])
    @pytest.mark.parametrize('value', ['yes', 'true', 1, 0, 'no', [True], {'a': 1}, 1.5],
                             ids=repr)
    def test_non_bool_fact_refused(self, fact, value):
        error = refused(Target, '2.0', {fact: value})
        assert error.path == 'build.%s' % fact
        assert 'must be a boolean' in error.message

    @pytest.mark.parametrize('routers, expected', [
        (['http', 'fast'], ('http', 'fast')),
        ('raw', ('raw',)),
        (['http', 'https', 'ssl', 'fast', 'raw', 'forkpty', 'tuntap'],
         ('http', 'https', 'ssl', 'fast', 'raw', 'forkpty', 'tuntap')),
    ], ids=['list', 'single-string', 'all'])
    def test_routers_fact(self, routers, expected):
        assert Target('2.0', {'routers': routers}).routers == expected

    def test_router_types(self):
        assert core.ROUTER_TYPES == ('http', 'https', 'ssl', 'fast', 'raw', 'forkpty', 'tuntap')

    @pytest.mark.parametrize('routers, path', [
        (['http', 'fastrouter'], 'build.routers[1]'),
        (['httpS'], 'build.routers[0]'),
    ], ids=['fastrouter', 'case'])
    def test_unknown_router_type_refused(self, routers, path):
        error = refused(Target, '2.0', {'routers': routers})
        assert error.path == path
        assert 'unknown router type' in error.message
        assert 'http, https, ssl, fast, raw, forkpty, tuntap' in error.message

    def test_unknown_router_type_single_string(self):
        error = refused(Target, '2.0', {'routers': 'corerouter'})
        assert error.path.startswith('build.routers')
        assert 'unknown router type' in error.message

    @pytest.mark.parametrize('routers', [5, True, {'http': 1}, [None], [['http']]],
                             ids=['int', 'bool', 'mapping', 'none-item', 'nested-list'])
    def test_routers_bad_type(self, routers):
        error = refused(Target, '2.0', {'routers': routers})
        assert error.path.startswith('build.routers')

    def test_empty_routers_list_is_a_build_without_routers(self):
        # A uWSGI built without any router plugin is a real build (e.g. a minimal
        # profile); the compiler even words the refusal for it ("it has: none").
        target = Target('2.0', {'routers': []})
        assert target.routers == ()


# ---------------------------------------------------------------- helpers

class TestTypeName:

    @pytest.mark.parametrize('value, expected', [
        (None, 'null'),
        (True, 'boolean True'),
        (False, 'boolean False'),
        ({}, 'a mapping'),
        ([], 'a list'),
        ((1,), 'a list'),
        (5, 'integer 5'),
        ('x', "string 'x'"),
        (1.5, 'float'),
    ], ids=['none', 'true', 'false', 'dict', 'list', 'tuple', 'int', 'str', 'float'])
    def test_type_name(self, value, expected):
        assert type_name(value) == expected


class TestJoin:

    @pytest.mark.parametrize('path, key, expected', [
        ('', 'routers', 'routers'),
        ('routers', 1, 'routers[1]'),
        ('routers[1]', 'bind', 'routers[1].bind'),
        ('', 0, '0'),
    ])
    def test_join(self, path, key, expected):
        assert join(path, key) == expected


class TestCheckMapping:

    def test_none_is_empty(self):
        assert check_mapping(None, 'x') == {}

    def test_returns_value(self):
        value = {'a': 1}
        assert check_mapping(value, 'x', ('a', 'b')) is value

    @pytest.mark.parametrize('value', ['x', 5, True, ['a'], ('a',)], ids=['str', 'int', 'bool', 'list', 'tuple'])
    def test_not_a_mapping(self, value):
        error = refused(check_mapping, value, 'p.q')
        assert error.path == 'p.q'
        assert 'must be a mapping' in error.message

    def test_unknown_key(self):
        error = refused(check_mapping, {'a': 1, 'zz': 2}, 'p', ('a', 'b'))
        assert error.path == 'p.zz'
        assert 'unknown parameter' in error.message
        assert 'known here: a, b' in error.message

    def test_unknown_key_at_root(self):
        error = refused(check_mapping, {'zz': 2}, '', ('a',))
        assert error.path == 'zz'

    def test_any_key_without_known(self):
        assert check_mapping({'anything': 1}, 'p') == {'anything': 1}


class TestCheckList:

    @pytest.mark.parametrize('value, expected', [
        (None, []), ([1, 2], [1, 2]), ((1,), (1,)), ('a', ['a']), ({'a': 1}, [{'a': 1}]),
    ], ids=['none', 'list', 'tuple', 'str', 'mapping'])
    def test_check_list(self, value, expected):
        assert check_list(value, 'p') == expected


class TestCheckStr:

    @pytest.mark.parametrize('value, expected', [('abc', 'abc'), (5, '5'), (0, '0'), ('a b', 'a b')])
    def test_accepted(self, value, expected):
        assert check_str(value, 'p') == expected

    @pytest.mark.parametrize('value, fragment', [
        (True, 'must be a string'),
        (False, 'must be a string'),
        (None, 'must be a string'),
        ([], 'must be a string'),
        ({}, 'must be a string'),
        (1.5, 'must be a string'),
        ('', 'must not be empty'),
        ('a\nb', 'line break'),
        ('a\rb', 'line break'),
    ], ids=['true', 'false', 'none', 'list', 'dict', 'float', 'empty', 'newline', 'cr'])
    def test_refused(self, value, fragment):
        error = refused(check_str, value, 'a.b')
        assert error.path == 'a.b'
        assert fragment in error.message


class TestCheckStrlist:

    def test_single(self):
        assert check_strlist('a', 'p') == ['a']

    def test_list(self):
        assert check_strlist(['a', 5], 'p') == ['a', '5']

    def test_empty_list(self):
        error = refused(check_strlist, [], 'p')
        assert error.path == 'p'
        assert 'must not be an empty list' in error.message

    def test_bad_item_path(self):
        error = refused(check_strlist, ['a', None], 'p')
        assert error.path == 'p[1]'


class TestCheckInt:

    @pytest.mark.parametrize('value, expected', [
        (0, 0), (5, 5), ('7', 7), (' 8 ', 8), (65536, 65536),
    ], ids=['zero', 'int', 'digit-string', 'spaced-string', 'big'])
    def test_accepted(self, value, expected):
        assert check_int(value, 'p') == expected

    @pytest.mark.parametrize('value, fragment', [
        (True, 'must be an integer, got boolean True'),
        (False, 'must be an integer, got boolean False'),
        (None, 'must be an integer'),
        (1.0, 'must be an integer'),
        ('x', 'must be an integer'),
        ('', 'must be an integer'),
        ('1.5', 'must be an integer'),
        ([], 'must be an integer'),
        ({}, 'must be an integer'),
        (-1, 'must be >= 0, got -1'),
        ('-3', 'must be >= 0, got -3'),
    ], ids=['true', 'false', 'none', 'float', 'word', 'empty', 'decimal-string', 'list', 'dict', 'negative',
            'negative-string'])
    def test_refused(self, value, fragment):
        error = refused(check_int, value, 'p.q')
        assert error.path == 'p.q'
        assert fragment in error.message

    def test_minimum(self):
        error = refused(check_int, 0, 'p', 1)
        assert 'must be >= 1, got 0' in error.message

    def test_maximum(self):
        assert check_int(255, 'p', 0, 255) == 255
        error = refused(check_int, 256, 'p', 0, 255)
        assert 'must be <= 255, got 256' in error.message

    @pytest.mark.parametrize('value', ['--5', '-', '- 5', '\u00b2', '\u0663', '5-'],
                             ids=['double-minus', 'minus', 'minus-space', 'superscript-two', 'arabic-three',
                                  'trailing-minus'])
    def test_malformed_numeric_strings_raise_topology_error(self, value):
        # Only TopologyError may escape the compiler: '--5' passes the
        # lstrip('-').isdigit() test and '²' is a str.isdigit() digit, but
        # int() refuses both with ValueError.
        with pytest.raises(TopologyError):
            check_int(value, 'p')


class TestCheckBool:

    @pytest.mark.parametrize('value, expected', [
        (True, True), (False, False), ('true', True), ('false', False), ('yes', True), ('no', False),
        ('TRUE', True), ('No', False),
    ])
    def test_accepted(self, value, expected):
        assert check_bool(value, 'p') is expected

    @pytest.mark.parametrize('value', [1, 0, None, 'y', 'on', 'off', '1', [], {}],
                             ids=repr)
    def test_refused(self, value):
        error = refused(check_bool, value, 'p.flag')
        assert error.path == 'p.flag'
        assert 'must be a boolean' in error.message


class TestCheckId:

    @pytest.mark.parametrize('value, expected', [(0, '0'), (33, '33'), ('www-data', 'www-data'), ('1000', '1000')])
    def test_accepted(self, value, expected):
        assert check_id(value, 'p') == expected

    @pytest.mark.parametrize('value, fragment', [
        (-1, 'non-negative id'), (True, 'must be a string'), (None, 'must be a string'), ('', 'must not be empty'),
    ], ids=['negative', 'bool', 'none', 'empty'])
    def test_refused(self, value, fragment):
        error = refused(check_id, value, 'p')
        assert fragment in error.message


class TestIsUnixPath:

    @pytest.mark.parametrize('value, expected', [
        ('/run/a.sock', True), ('@abstract', True), ('run/a.sock', False), ('127.0.0.1:1', False),
    ])
    def test_is_unix_path(self, value, expected):
        assert is_unix_path(value) is expected


# ---------------------------------------------------------------- addresses

class TestCheckUdpOrUnix:
    """Subscription servers and node addresses: uWSGI calls inet_addr() (no DNS,
    no IPv6); an address holding ':' is UDP/TCP, anything else AF_UNIX."""

    @pytest.mark.parametrize('value', [
        '10.0.0.5:2626', '127.0.0.1:1', '192.168.1.254:65535', '/run/uwsgi/sub.sock', '@abstract-sub',
        '%(ROUTER):2626', '255.255.255.254:80',
    ], ids=['ipv4', 'loopback', 'max-port', 'unix', 'abstract', 'placeholder', 'high-ip'])
    def test_accepted(self, value):
        assert check_udp_or_unix(value, 'p', 'what') == value

    def test_accepted_twice(self):
        # The result must not depend on earlier calls (the module caches valid addresses).
        assert check_udp_or_unix('10.9.8.7:1234', 'p', 'a') == '10.9.8.7:1234'
        assert check_udp_or_unix('10.9.8.7:1234', 'q', 'b') == '10.9.8.7:1234'

    @pytest.mark.parametrize('value', [':3031', '0.0.0.0:3031'], ids=['port-only', 'zero-address'])
    def test_wildcard_refused(self, value):
        error = refused(check_udp_or_unix, value, 'subscriptions.subscribe[0].address', 'node address')
        assert error.path == 'subscriptions.subscribe[0].address'
        assert 'wildcard address' in error.message
        assert "node address %r" % value in error.message
        assert '10.0.0.5:3031' in error.message

    @pytest.mark.parametrize('value', ['[::1]:2626', '[fe80::1]:3031'])
    def test_ipv6_refused(self, value):
        error = refused(check_udp_or_unix, value, 'p', 'subscription server')
        assert 'is IPv6' in error.message
        assert 'IPv4 only' in error.message

    @pytest.mark.parametrize('value', [
        'router.example.com:2626', 'localhost:2626', 'router', '10.0.0.256:2626', '10.0.0.1', '10.0.0.1:0',
        '10.0.0.1:65536', '10.0.0:2626', 'run/sub.sock', '10.0.0.1:port',
    ], ids=['fqdn', 'localhost', 'bare-host', 'octet-256', 'no-port', 'port-0', 'port-65536', 'three-octets',
            'relative-path', 'named-port'])
    def test_host_names_and_malformed_refused(self, value):
        error = refused(check_udp_or_unix, value, 'p', 'subscription server')
        assert error.path == 'p'
        assert 'numeric IPv4 address with a port' in error.message
        assert '255.255.255.255' in error.message

    @pytest.mark.parametrize('value', [None, True, [], {}, ''], ids=['none', 'bool', 'list', 'dict', 'empty'])
    def test_bad_types(self, value):
        error = refused(check_udp_or_unix, value, 'p', 'what')
        assert error.path == 'p'

    def test_refusal_is_not_cached(self):
        refused(check_udp_or_unix, 'host.invalid:1', 'p', 'w')
        refused(check_udp_or_unix, 'host.invalid:1', 'p', 'w')

    @pytest.mark.parametrize('value', ['/run/uwsgi/sub:1.sock', '@sub:2626'], ids=['unix-path', 'abstract'])
    def test_unix_path_with_colon_refused(self, value):
        # send_subscription() (and uwsgi_connect() for nodes) take any address
        # holding ':' for AF_INET: strchr(host, ':') -> inet_addr("/run/uwsgi/sub").
        # A UNIX path with ':' can never be reached.
        error = refused(check_udp_or_unix, value, 'p', 'subscription server')
        assert error.path == 'p'


class TestCheckBind:

    @pytest.mark.parametrize('value', [
        ':80', '0.0.0.0:8080', '10.0.0.1:443', '[::]:443', '/run/http.sock', '@abstract', '=0', '=1',
        '%(BIND)', 'localhost:8080',
    ])
    def test_accepted(self, value):
        assert check_bind(value, 'p') == value

    @pytest.mark.parametrize('value, fragment', [
        ('8080', 'must be [IP]:port'),
        ('host', 'must be [IP]:port'),
        (':0', 'has no valid port'),
        (':65536', 'has no valid port'),
        (':http', 'has no valid port'),
        ('10.0.0.1:', 'has no valid port'),
    ], ids=['bare-port', 'bare-host', 'port-0', 'port-too-big', 'named-port', 'empty-port'])
    def test_refused(self, value, fragment):
        error = refused(check_bind, value, 'routers[0].bind')
        assert error.path == 'routers[0].bind'
        assert fragment in error.message

    @pytest.mark.parametrize('value', [None, True, [], ''], ids=['none', 'bool', 'list', 'empty'])
    def test_bad_types(self, value):
        assert refused(check_bind, value, 'p').path == 'p'


# ---------------------------------------------------------------- gating and emission

class TestGate:

    def test_master_only_on_2_0_without_alt(self):
        error = refused(gate, Target('2.0'), Param('x-opt', STR, since='2.1'), 'a.b')
        assert error.path == 'a.b'
        assert 'exists only in uWSGI 2.1' in error.message
        assert "'x-opt'" in error.message
        assert 'there is no 2.0 equivalent' in error.message
        assert 'version: "2.1"' in error.message

    def test_master_only_on_2_0_with_alt(self):
        error = refused(gate, Target('2.0'), Param('x-opt', STR, since='2.1', alt='the y option'), 'a.b')
        assert 'on 2.0 use the y option' in error.message

    def test_master_only_on_2_1(self):
        gate(Target('2.1'), Param('x-opt', STR, since='2.1'), 'a.b')

    def test_ssl_needed(self):
        error = refused(gate, Target('2.0', {'ssl': False}), Param('x-opt', STR, needs='ssl'), 'a')
        assert 'needs a uWSGI built with SSL' in error.message
        gate(Target('2.0', {'ssl': True}), Param('x-opt', STR, needs='ssl'), 'a')

    def test_zlib_needed(self):
        error = refused(gate, Target('2.1', {'zlib': False}), Param('x-opt', BOOL, needs='zlib'), 'a')
        assert 'needs a uWSGI built with zlib' in error.message
        gate(Target('2.1', {'zlib': True}), Param('x-opt', BOOL, needs='zlib'), 'a')

    def test_plain_param(self):
        gate(Target('2.0', {'ssl': False, 'zlib': False}), Param('x-opt', STR), 'a')


class TestEmitValue:

    @pytest.mark.parametrize('kind, value, expected', [
        (INT, 0, [['o', '0']]),
        (INT, '12', [['o', '12']]),
        (POSINT, 3, [['o', '3']]),
        (BOOL, True, [['o', 'true']]),
        (BOOL, 'yes', [['o', 'true']]),
        (BOOL, False, []),
        (STR, 'v', [['o', 'v']]),
        (STR, 7, [['o', '7']]),
        (STRLIST, 'a', [['o', 'a']]),
        (STRLIST, ['a', 'b'], [['o', 'a'], ['o', 'b']]),
        (ID, 0, [['o', '0']]),
        (ID, 'nobody', [['o', 'nobody']]),
        (UIDLIST, 5, [['o', '5']]),
        (UIDLIST, '33', [['o', '33']]),
        (UIDLIST, [1000, '33'], [['o', '1000'], ['o', '33']]),
    ], ids=['int-0', 'int-str', 'posint', 'bool-true', 'bool-yes', 'bool-false', 'str', 'str-int',
            'strlist-one', 'strlist-two', 'id-0', 'id-name', 'uidlist-one', 'uidlist-digits', 'uidlist-two'])
    def test_kinds(self, kind, value, expected):
        out = []
        emit_value(out, 'o', kind, value, 'p')
        assert out == expected

    @pytest.mark.parametrize('kind, value, path, fragment', [
        (POSINT, 0, 'p', 'must be >= 1'),
        (INT, -1, 'p', 'must be >= 0'),
        (INT, True, 'p', 'must be an integer'),
        (BOOL, 1, 'p', 'must be a boolean'),
        (STR, '', 'p', 'must not be empty'),
        (STRLIST, [], 'p', 'empty list'),
        (ID, -2, 'p', 'non-negative'),
        (UIDLIST, [1, -2], 'p[1]', 'must be >= 1'),
        (UIDLIST, 0, 'p', 'must be >= 1'),
        (UIDLIST, 'www-data', 'p', 'must be a numeric uid'),
        (UIDLIST, [5, 'nobody'], 'p[1]', 'atoi()'),
        (UIDLIST, True, 'p', 'must be an integer'),
    ], ids=['posint-0', 'int-negative', 'int-bool', 'bool-int', 'str-empty', 'strlist-empty', 'id-negative',
            'uidlist-negative-item', 'uidlist-root', 'uidlist-name', 'uidlist-name-item', 'uidlist-bool'])
    def test_refused(self, kind, value, path, fragment):
        error = refused(emit_value, [], 'o', kind, value, 'p')
        assert error.path == path
        assert fragment in error.message


class TestEmitParams:

    TABLE = {
        'a': Param('opt-a', INT),
        'b': Param('opt-b', BOOL, since='2.1'),
        'c': 'c is a rendering detail; leave it out',
        'd': None,
    }

    def test_prefix_and_skips_none(self):
        out = []
        emit_params(out, Target('2.1'), self.TABLE, {'a': 1, 'b': True, 'c': None}, 'g', 'http-')
        assert out == [['http-opt-a', '1'], ['http-opt-b', 'true']]

    def test_string_param_is_a_refusal(self):
        error = refused(emit_params, [], Target('2.1'), self.TABLE, {'c': 1}, 'g')
        assert error.path == 'g.c'
        assert error.message == 'c is a rendering detail; leave it out'

    def test_none_param_refusal(self):
        error = refused(emit_params, [], Target('2.1'), self.TABLE, {'d': 1}, 'g')
        assert error.path == 'g.d'
        assert 'has no uWSGI option' in error.message

    def test_gated(self):
        error = refused(emit_params, [], Target('2.0'), self.TABLE, {'b': True}, 'g')
        assert error.path == 'g.b'

    def test_unknown(self):
        error = refused(emit_params, [], Target('2.0'), self.TABLE, {'zz': True}, 'g')
        assert error.path == 'g.zz'


class TestKvEscape:

    @pytest.mark.parametrize('value, expected', [
        ('plain', 'plain'),
        ('a,b', 'a\\,b'),
        ('a=b', 'a\\=b'),
        ('a\\b', 'a\\\\b'),
        ('\\,=', '\\\\\\,\\='),
        (5, '5'),
    ], ids=['plain', 'comma', 'equals', 'backslash', 'all', 'int'])
    def test_kv_escape(self, value, expected):
        assert kv_escape(value) == expected

    def test_kv_join(self):
        assert kv_join([('server', '10.0.0.1:1'), ('key', 'a,b'), ('check', '/x=y')]) == \
            'server=10.0.0.1:1,key=a\\,b,check=/x\\=y'

    @pytest.mark.parametrize('value', ['a,b=c\\d', ',,', '==', '\\\\', 'x\\,y'])
    def test_round_trip_through_uwsgi_kvlist_parse(self, value):
        # uwsgi_kvlist_parse (core/utils.c:3857): the first pass splits on
        # unescaped ',' and drops each '\' escaping the next char; the value is
        # then everything after the first '=' of the item.
        encoded = kv_join([('k', value), ('z', '1')])
        items, item, escaped = [], [], False
        for char in encoded:
            if char == ',' and not escaped:
                items.append(''.join(item))
                item = []
            elif char == '\\' and not escaped:
                escaped = True
            else:
                item.append(char)
                escaped = False
        items.append(''.join(item))
        parsed = dict(entry.split('=', 1) for entry in items)
        assert parsed == {'k': value, 'z': '1'}
