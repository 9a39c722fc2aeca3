# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed's dedicated routers and forwarders.

One class per seed class: RouterHttp, RouterHttps, RouterSsl, RouterFast, RouterRaw,
RouterForkPty, RouterTunTap; ForwarderPath, ForwarderCode, ForwarderCache,
ForwarderSocket, ForwarderSubscriptionServer.  Each router reads one item of
``spec['routers']``: ``type``, the constructor arguments (the seed's ``on`` is
spelled ``bind``), ``forward_to`` and one mapping per seed method without ``set_``
(``basic_params``, ``connections_params``, ...).

A parameter mapped to a string (not a :class:`Param`) is a seed parameter that
cannot apply: the string is the refusal, saying why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.uwsgi.topology.plugins.module_utils.core import (
    ADDRLIST, BOOL, ID, INT, POSINT, Param, STR, STRLIST, TopologyError, check_bind,
    check_bool, check_int, check_list, check_mapping, check_str, check_udp_or_unix, emit_params,
    check_udp_bind, gate, is_decimal, join, kv_join, type_name,
)
from ansible_collections.uwsgi.topology.plugins.module_utils.subscriptions import resolve_modifier

_NAME_SEPARATOR_STRIP = ('name_separator_strip is a rendering detail of uwsgiconf\'s Python objects, '
                         'not a uWSGI option; leave it out')


# ---------------------------------------------------------------- forwarders

class Forwarder(object):
    """Base of the forwarders: a ``forward_to`` mapping ``{type: ..., <arguments>}``."""

    type = None
    params = ()

    def __init__(self, item, path):
        known = ('type', 'name_separator_strip') + self.params
        self.item = check_mapping(item, path, known)
        self.path = path
        if self.item.get('name_separator_strip') is not None:
            raise TopologyError(join(path, 'name_separator_strip'), _NAME_SEPARATOR_STRIP)

    def required(self, name):
        value = self.item.get(name)
        if value is None:
            raise TopologyError(join(self.path, name), 'is required for the %s forwarder' % self.type)
        return value

    def options(self, prefix, target):
        """Return ``[[option, value], ...]`` for the router ``prefix``."""
        raise NotImplementedError


class ForwarderPath(Forwarder):
    """Map keys to UNIX sockets: ``<r>-use-base`` (a directory) or, when the path
    holds ``%s`` (the key), ``<r>-use-pattern``."""

    type = 'path'
    params = ('sockets_dir',)

    def options(self, prefix, target):
        where = join(self.path, 'sockets_dir')
        value = check_str(self.required('sockets_dir'), where)
        if not value.startswith('/'):
            raise TopologyError(where, 'must be an absolute directory or pattern (%%s is the key), got %r' % value)
        if '%s' in value:
            return [[prefix + '-use-pattern', value]]
        return [[prefix + '-use-base', value]]


class ForwarderCode(Forwarder):
    """Ask a function for the node: ``<r>-use-code-string = <modifier1>:<script>:<func>``."""

    type = 'code'
    params = ('script', 'func', 'modifier')

    def options(self, prefix, target):
        script = check_str(self.required('script'), join(self.path, 'script'))
        func = check_str(self.required('func'), join(self.path, 'func'))
        modifier1 = 0
        if self.item.get('modifier') is not None:
            modifier1, modifier2 = resolve_modifier(self.item['modifier'], join(self.path, 'modifier'))
            if modifier2 is not None:
                raise TopologyError(join(self.path, 'modifier.modifier2'),
                                    'use-code-string takes only modifier1')
        for name, value in (('script', script), ('func', func)):
            if ':' in value:
                raise TopologyError(join(self.path, name), 'must not contain ":" (the separator of '
                                                           'use-code-string)')
        return [[prefix + '-use-code-string', '%d:%s:%s' % (modifier1, script, func)]]


class ForwarderCache(Forwarder):
    """Look the node up in a uWSGI cache: ``<r>-use-cache = <cache name>``.

    ``cache_name`` names a cache defined with ``cache2 = name=...`` in the same
    instance (through ``options``); uWSGI uses the first cache when it is empty.
    """

    type = 'cache'
    params = ('cache_name',)

    def options(self, prefix, target):
        name = self.item.get('cache_name')
        if name is None:
            raise TopologyError(join(self.path, 'cache_name'), 'is required: name the cache (defined with '
                                'cache2 = name=<name>,... in options) that maps keys to nodes')
        return [[prefix + '-use-cache', check_str(name, join(self.path, 'cache_name'))]]


class ForwarderSocket(Forwarder):
    """Forward to one of the instance's own ``socket``s: ``<r>-use-socket = <index>``.

    uWSGI reads the value with atoi(): it is the zero-based index of a ``socket``
    option of the same instance, not a path (uwsgiconf documents a path; a path
    would silently mean socket 0).
    """

    type = 'socket'
    params = ('socket',)

    def options(self, prefix, target):
        value = self.item.get('socket', 0)
        where = join(self.path, 'socket')
        if isinstance(value, str) and not is_decimal(value):
            raise TopologyError(where, 'must be the zero-based index of one of this instance\'s sockets '
                                       '(uWSGI reads it with atoi), not a path: %r would mean socket 0' % value)
        return [[prefix + '-use-socket', str(check_int(value, where))]]


class ForwarderSubscriptionServer(Forwarder):
    """Run the router's subscription server: ``<r>-subscription-server = <address>``."""

    type = 'subscription_server'
    params = ('address',)

    def options(self, prefix, target):
        where = join(self.path, 'address')
        address = check_udp_bind(self.required('address'), where, 'subscription server address')
        return [[prefix + '-subscription-server', address]]


FORWARDERS = dict((cls.type, cls) for cls in (
    ForwarderPath, ForwarderCode, ForwarderCache, ForwarderSocket, ForwarderSubscriptionServer))


# ---------------------------------------------------------------- parameter tables

_BASIC_COMMON = {
    'workers': Param('workers', POSINT),
    'zerg_server': Param('zerg', STR),
    'fallback_node': Param('fallback', ADDRLIST),
    'concurrent_events': Param('events', POSINT),
    'cheap_mode': Param('cheap', BOOL),
    'stats_server': Param('stats', STR),
}
_BASIC_FORWARDING = dict(_BASIC_COMMON, quiet=Param('quiet', BOOL), buffer_size=Param('buffer-size', POSINT))
_CONNECTIONS_COMMON = {
    'harakiri': Param('harakiri', INT),
    'timeout_socket': Param('timeout', POSINT),
    'retry_delay': Param('gracetime', INT),
}
_OWNER = {'uid': Param('uid', ID), 'gid': Param('gid', ID)}


class Router(object):
    """Base of the routers: the item of ``spec['routers']`` and its option groups."""

    type = None
    prefix = None
    plugin = None
    command = None
    forwarding = True
    constructor = ('bind', 'forward_to')
    groups = {}
    lists = {}

    def __init__(self, item, path, target):
        self.item = item
        self.path = path
        self.target = target
        known = ('type',) + self.constructor + tuple(self.groups) + tuple(self.lists)
        check_mapping(item, path, known)

    @property
    def workers(self):
        basic = self.item.get('basic_params') or {}
        return basic.get('workers') or 1

    @property
    def has_subscription_server(self):
        return any(isinstance(f, dict) and f.get('type') == 'subscription_server' for f in self.forwarders_raw())

    def forwarders_raw(self):
        return check_list(self.item.get('forward_to'), join(self.path, 'forward_to'))

    def compile(self, out):
        self.compile_constructor(out)
        if self.forwarding:
            self.compile_forwarders(out)
        for group, table in self.groups.items():
            self.compile_group(out, group, table)
        return out

    def compile_group(self, out, group, table):
        emit_params(out, self.target, table, self.item.get(group), join(self.path, group), self.prefix + '-')

    def bind_value(self):
        bind = self.item.get('bind')
        if bind is None:
            basic = self.item.get('basic_params') or {}
            if basic.get('zerg_server') is not None:
                return None
            raise TopologyError(join(self.path, 'bind'), 'is required: the address the %s router listens on '
                                '([IP]:port, UNIX path or =N for a shared socket; the seed calls it "on")'
                                % self.type)
        return check_bind(bind, join(self.path, 'bind'))

    def compile_constructor(self, out):
        bind = self.bind_value()
        if bind is not None:
            out.append([self.command or self.prefix, bind])

    def compile_forwarders(self, out):
        value = self.item.get('forward_to')
        if value is None:
            return
        path = join(self.path, 'forward_to')
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            where = '%s[%d]' % (path, i) if isinstance(value, list) else path
            if isinstance(item, dict):
                kind = item.get('type')
                if not isinstance(kind, str) or kind not in FORWARDERS:
                    raise TopologyError(join(where, 'type'), 'unknown forwarder %s; choose one of %s, or give a '
                                        'static node address as a string' % (type_name(kind),
                                                                             ', '.join(sorted(FORWARDERS))))
                out.extend(FORWARDERS[kind](item, where).options(self.prefix, self.target))
            else:
                node = check_str(item, where)
                out.append([self.prefix + '-to', check_udp_or_unix(node, where, 'static node address')])


class RouterHttp(Router):
    """The HTTP router: ``http = <bind>`` and the ``http-*`` options."""

    type = 'http'
    prefix = 'http'
    plugin = 'http'
    groups = {
        'basic_params': dict(_BASIC_FORWARDING,
                             keepalive=Param('keepalive', INT),  # bool or int, see compile_group
                             resubscribe_addresses=Param('resubscribe', STRLIST)),
        'connections_params': dict(_CONNECTIONS_COMMON,
                                   timeout_headers=Param('headers-timeout', POSINT),
                                   timeout_backend=Param('connect-timeout', POSINT)),
        'manage_params': {
            'chunked_input': Param('chunked-input', BOOL),
            'chunked_output': Param('auto-chunked', BOOL),
            'gzip': Param('auto-gzip', BOOL, needs='zlib'),
            'websockets': Param('websockets', BOOL),
            'source_method': Param('manage-source', BOOL),
            'rtsp': Param('manage-rtsp', BOOL),
            'proxy_protocol': Param('enable-proxy-protocol', BOOL),
        },
        'owner_params': _OWNER,
        'resubscription_params': {
            'addresses': Param('resubscribe', STRLIST),
            'bind_to': 'the http router has no resubscribe-bind in 2.0 or master (only the fastrouter has); '
                       'leave it out',
        },
    }

    def compile_group(self, out, group, table):
        values = self.item.get(group)
        path = join(self.path, group)
        keepalive = 0
        if isinstance(values, dict) and group == 'basic_params':
            self._check_resubscribe(values.get('resubscribe_addresses'), join(path, 'resubscribe_addresses'))
            if values.get('keepalive') is not None:
                # http-keepalive is an optional int read with atoi(): "true" would mean 0 (off).
                keepalive = values['keepalive']
                where = join(path, 'keepalive')
                if isinstance(keepalive, bool) or isinstance(keepalive, str) and not is_decimal(keepalive):
                    keepalive = 1 if check_bool(keepalive, where) else 0
                keepalive = check_int(keepalive, where)
                values = dict(values)
                del values['keepalive']
        elif isinstance(values, dict) and group == 'resubscription_params':
            self._check_resubscribe(values.get('addresses'), join(path, 'addresses'))
        emit_params(out, self.target, table, values, path, self.prefix + '-')
        if keepalive:
            out.append([self.prefix + '-keepalive', str(keepalive)])

    @staticmethod
    def _check_resubscribe(value, path):
        if value is None:
            return
        for i, address in enumerate(check_list(value, path)):
            check_udp_or_unix(address, '%s[%d]' % (path, i) if isinstance(value, list) else path,
                              'resubscribe address')


def _tls_constructor(router, out, command, spdy):
    """``https2`` / ``sslrouter2``: ``addr=,cert=,key=[,ciphers=][,clientca=][,spdy=1]``."""
    item, path = router.item, router.path
    gate(router.target, Param(command, STR, needs='ssl'), join(path, 'type'))
    for name in ('cert', 'key'):
        if item.get(name) is None:
            raise TopologyError(join(path, name), 'is required: the %s router needs a certificate and its key '
                                '(paths on the router host)' % router.type)
    bind = router.bind_value()
    if bind is None:
        raise TopologyError(join(path, 'bind'), 'is required: the address the %s router listens on (the seed\'s '
                            '"on"; a zerg server cannot give a TLS router its address)' % router.type)
    pairs = [('addr', bind)]
    for name, key in (('cert', 'cert'), ('key', 'key'), ('ciphers', 'ciphers'), ('client_ca', 'clientca')):
        if item.get(name) is not None:
            value = check_str(item[name], join(path, name))
            if name != 'ciphers' and not (value[1:] if name == 'client_ca' and value.startswith('!')
                                          else value).startswith('/'):
                raise TopologyError(join(path, name), 'must be an absolute path on the router host, got %r' % value)
            pairs.append((key, value))
    if spdy and item.get('use_spdy') is not None and check_bool(item['use_spdy'], join(path, 'use_spdy')):
        if not router.target.spdy:
            raise TopologyError(join(path, 'use_spdy'), 'SPDY needs a uWSGI built with UWSGI_SPDY; the target '
                                'build has none (set build.spdy when it does)')
        pairs.append(('spdy', '1'))
    if item.get('session_context') is not None:
        # Read while the https2/sslrouter2 line is applied: it must come first.
        out.append([router.prefix + ('-session-context' if router.type == 'ssl' else 's-session-context'),
                    check_str(item['session_context'], join(path, 'session_context'))])
    out.append([command, kv_join(pairs)])


class RouterHttps(RouterHttp):
    """The HTTPS router: ``https2 = addr=...,cert=...,key=...``; it shares every ``http-*``
    option with the HTTP router of the same instance."""

    type = 'https'
    constructor = ('bind', 'forward_to', 'cert', 'key', 'ciphers', 'client_ca', 'session_context',
                   'use_spdy', 'export_cert_var')

    def compile_constructor(self, out):
        _tls_constructor(self, out, 'https2', spdy=True)
        if self.item.get('export_cert_var') is not None and \
                check_bool(self.item['export_cert_var'], join(self.path, 'export_cert_var')):
            out.append(['https-export-cert', 'true'])


class RouterSsl(Router):
    """The SSL router (TLS termination, raw TCP to the nodes): ``sslrouter2 = ...``."""

    type = 'ssl'
    prefix = 'sslrouter'
    plugin = 'sslrouter'
    constructor = ('bind', 'forward_to', 'cert', 'key', 'ciphers', 'client_ca', 'session_context', 'use_sni')
    groups = {
        'basic_params': _BASIC_FORWARDING,
        'connections_params': dict(_CONNECTIONS_COMMON, retry_max=Param('max-retries', INT)),
    }

    def compile_constructor(self, out):
        _tls_constructor(self, out, 'sslrouter2', spdy=False)
        if self.item.get('use_sni') is not None and check_bool(self.item['use_sni'], join(self.path, 'use_sni')):
            out.append(['sslrouter-sni', 'true'])


class RouterFast(Router):
    """The fastrouter (uwsgi protocol in and out): ``fastrouter = <bind>``."""

    type = 'fast'
    prefix = 'fastrouter'
    plugin = 'fastrouter'
    groups = {
        'basic_params': dict(
            _BASIC_FORWARDING,
            fallback_nokey=Param('fallback-on-no-key', BOOL),
            subscription_key=Param('force-key', STR, since='2.1'),
            emperor_command_socket=Param('emperor-socket', STR, since='2.1')),
        'connections_params': dict(
            _CONNECTIONS_COMMON,
            retry_max=Param('max-retries', INT, since='2.1'),
            defer=Param('defer-connect-timeout', POSINT, since='2.1')),
        'postbuffering_params': {
            'size': Param('post-buffering', POSINT),
            'store_dir': Param('post-buffering-dir', STR),
        },
        'owner_params': _OWNER,
        'resubscription_params': {
            'addresses': Param('resubscribe', STRLIST),
            'bind_to': Param('resubscribe-bind', STR),
        },
    }

    def compile_group(self, out, group, table):
        values = self.item.get(group)
        if group == 'resubscription_params' and isinstance(values, dict):
            RouterHttp._check_resubscribe(values.get('addresses'), join(join(self.path, group), 'addresses'))
        Router.compile_group(self, out, group, table)


class RouterRaw(Router):
    """The raw router (TCP in and out): ``rawrouter = <bind>``."""

    type = 'raw'
    prefix = 'rawrouter'
    plugin = 'rawrouter'
    groups = {
        'basic_params': _BASIC_FORWARDING,
        'connections_params': dict(_CONNECTIONS_COMMON, retry_max=Param('max-retries', INT),
                                   use_xclient=Param('xclient', BOOL)),
    }


class RouterForkPty(Router):
    """The forkpty router: a pseudoterminal per connection, ``forkptyrouter = <bind>``.

    Both ``forkptyrouter`` and ``forkptyurouter`` are undeferred; the ``u`` variant
    frames the session in the uwsgi protocol (``uwsgi_protocol: true``).
    """

    type = 'forkpty'
    prefix = 'forkptyrouter'
    plugin = 'forkptyrouter'
    forwarding = False
    constructor = ('bind', 'uwsgi_protocol', 'undeferred')
    groups = {
        'basic_params': dict(_BASIC_COMMON, run_command=Param('command', STR)),
        'connections_params': {'harakiri': Param('harakiri', INT), 'timeout_socket': Param('timeout', POSINT)},
        'window_params': {'cols': Param('cols', POSINT), 'rows': Param('rows', POSINT)},
    }

    def compile_constructor(self, out):
        if self.item.get('undeferred') is not None:
            raise TopologyError(join(self.path, 'undeferred'), 'both forkptyrouter and forkptyurouter are '
                                'undeferred in uWSGI; the "u" variant uwsgiconf selects with undeferred=True '
                                'switches on uwsgi-protocol framing instead: say uwsgi_protocol: true for that')
        uwsgi_protocol = self.item.get('uwsgi_protocol')
        if uwsgi_protocol is not None and check_bool(uwsgi_protocol, join(self.path, 'uwsgi_protocol')):
            self.command = 'forkptyurouter'
        else:
            self.command = 'forkptyrouter'
        Router.compile_constructor(self, out)


_TUNTAP_ACTIONS = {'firewall_rules': ('allow', 'deny'), 'device_rules': ('allow', 'deny', 'route', 'gateway')}


def _check_cidr(value, path, device_rule=False):
    value = check_str(value, path)
    address, _sep, mask = value.partition('/')
    parts = address.split('.')
    if len(parts) != 4 or not all(is_decimal(p) and int(p) <= 255 for p in parts) or \
            (mask and (not is_decimal(mask) or int(mask) > 32)):
        raise TopologyError(path, 'must be an IPv4 address with an optional /mask, e.g. 10.0.0.0/24, got %r'
                            % value)
    if mask == '0' and address != '0.0.0.0':
        # uWSGI computes 0xffffffff << 32, which x86 reads as a shift by 0: a full /32 mask.
        raise TopologyError(path, 'a /0 mask with address %s would be read by uWSGI as /32; write 0.0.0.0/0'
                            % address)
    if device_rule and mask and mask != '32':
        # tuntap-device-rule masks are computed as 0xffffffff << (N - 32) (a negative shift) in uWSGI 2.0.
        raise TopologyError(path, 'uWSGI 2.0 miscomputes tuntap device rule masks (a /%s would not mean /%s): '
                                  'use single addresses (no mask or /32)' % (mask, mask))
    return value


def _check_udp(value, path, what):
    value = check_udp_or_unix(value, path, what)
    if value.startswith('/') or value.startswith('@'):
        raise TopologyError(path, '%s must be a UDP address addr:port, got %r' % (what, value))
    return value


class RouterTunTap(Router):
    """The tuntap router: ``tuntap-router = <device> <socket> [<stats> [<gateway>]]`` plus its
    firewall, routes, and the vassal side (``device_connect``, ``device_rules``).
    It is not a corerouter: no workers, zerg, fallback, forwarders."""

    type = 'tuntap'
    prefix = 'tuntap'
    plugin = 'tuntap'
    forwarding = False
    constructor = ('bind', 'device', 'stats_server', 'gateway')
    groups = {
        'basic_params': {
            'use_credentials': Param('use-credentials', STR),
            'stats_server': Param('router-stats', STR),
        },
    }
    lists = ('firewall_rules', 'routes', 'device_connect', 'device_rules')

    def compile_group(self, out, group, table):
        values = self.item.get(group)
        if isinstance(values, dict) and isinstance(values.get('use_credentials'), bool):
            values = dict(values)
            if values['use_credentials']:
                values['use_credentials'] = 'true'
            else:
                del values['use_credentials']
        emit_params(out, self.target, table, values, join(self.path, group), 'tuntap-')

    def compile_constructor(self, out):
        item, path = self.item, self.path
        if item.get('bind') is None:
            for name in ('device', 'stats_server', 'gateway'):
                if item.get(name) is not None:
                    raise TopologyError(join(path, 'bind'), 'is required with %s: the UNIX socket the tuntap '
                                        'router listens on' % name)
            return
        bind = check_str(item['bind'], join(path, 'bind'))
        if not bind.startswith('/') and not bind.startswith('@'):
            raise TopologyError(join(path, 'bind'), 'must be a UNIX socket path (the only way vassals in other '
                                'namespaces reach the router), got %r' % bind)
        value = [check_str(item.get('device') or 'uwsgidev', join(path, 'device')), bind]
        if item.get('stats_server') is not None:
            value.append(check_str(item['stats_server'], join(path, 'stats_server')))
        if item.get('gateway') is not None:
            if item.get('stats_server') is None:
                raise TopologyError(join(path, 'gateway'), 'is the fourth positional field of tuntap-router: '
                                    'set stats_server too')
            value.append(check_udp_bind(item['gateway'], join(path, 'gateway'), 'gateway', unix=False))
        for i, part in enumerate(value):
            if ' ' in part:
                raise TopologyError(path, 'tuntap-router fields must not contain spaces: %r' % part)
        out.append(['tuntap-router', ' '.join(value)])

    def compile(self, out):
        Router.compile(self, out)
        for name in self.lists:
            rules = self.item.get(name)
            if rules is None:
                continue
            path = join(self.path, name)
            if not isinstance(rules, list):
                raise TopologyError(path, 'must be a list, got %s' % type_name(rules))
            for i, rule in enumerate(rules):
                getattr(self, '_' + name)(out, rule, '%s[%d]' % (path, i))
        return out

    def _firewall_rules(self, out, rule, path):
        rule = check_mapping(rule, path, ('direction', 'action', 'src', 'dst'))
        direction = _choice(rule.get('direction'), join(path, 'direction'), ('in', 'out'))
        value = [_choice(rule.get('action'), join(path, 'action'), _TUNTAP_ACTIONS['firewall_rules'])]
        if (rule.get('src') is None) != (rule.get('dst') is None):
            raise TopologyError(join(path, 'dst' if rule.get('dst') is None else 'src'),
                                'src and dst go together (a rule without both matches everything)')
        if rule.get('src') is not None:
            value += [_check_cidr(rule['src'], join(path, 'src')), _check_cidr(rule['dst'], join(path, 'dst'))]
        out.append(['tuntap-router-firewall-' + direction, ' '.join(value)])

    def _routes(self, out, rule, path):
        rule = check_mapping(rule, path, ('src', 'dst', 'gateway'))
        for name in ('src', 'dst', 'gateway'):
            if rule.get(name) is None:
                raise TopologyError(join(path, name), 'is required')
        out.append(['tuntap-router-route', ' '.join((
            _check_cidr(rule['src'], join(path, 'src')), _check_cidr(rule['dst'], join(path, 'dst')),
            _check_udp(rule['gateway'], join(path, 'gateway'), 'route gateway')))])

    def _device_connect(self, out, rule, path):
        rule = check_mapping(rule, path, ('device_name', 'socket'))
        if rule.get('device_name') is None:
            raise TopologyError(join(path, 'device_name'), 'is required (e.g. uwsgi0)')
        value = check_str(rule['device_name'], join(path, 'device_name'))
        if rule.get('socket') is not None:
            value += ' ' + check_str(rule['socket'], join(path, 'socket'))
        out.append(['tuntap-device', value])

    def _device_rules(self, out, rule, path):
        rule = check_mapping(rule, path, ('direction', 'action', 'src', 'dst', 'target'))
        direction = _choice(rule.get('direction'), join(path, 'direction'), ('in', 'out'))
        action = _choice(rule.get('action'), join(path, 'action'), _TUNTAP_ACTIONS['device_rules'])
        for name in ('src', 'dst'):
            if rule.get(name) is None:
                raise TopologyError(join(path, name), 'is required')
        value = [direction, _check_cidr(rule['src'], join(path, 'src'), True),
                 _check_cidr(rule['dst'], join(path, 'dst'), True),
                 action]
        if action in ('route', 'gateway'):
            if rule.get('target') is None:
                raise TopologyError(join(path, 'target'), 'is required for %s: a UDP addr:port' % action)
            value.append(_check_udp(rule['target'], join(path, 'target'), 'target'))
        elif rule.get('target') is not None:
            raise TopologyError(join(path, 'target'), 'applies only to the route and gateway actions')
        out.append(['tuntap-device-rule', ' '.join(value)])


def _choice(value, path, choices):
    if value is None:
        raise TopologyError(path, 'is required: one of %s' % ', '.join(choices))
    if value not in choices:
        raise TopologyError(path, 'must be one of %s, got %s' % (', '.join(choices), type_name(value)))
    return value


ROUTERS = dict((cls.type, cls) for cls in (
    RouterHttp, RouterHttps, RouterSsl, RouterFast, RouterRaw, RouterForkPty, RouterTunTap))
