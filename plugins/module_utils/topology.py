# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory -> topology plan: every host's vassals, keys and certificates.

``plan_topology(hosts, groups, ...)`` runs once, on the controller, before any
host is touched.  ``hosts`` maps inventory host names to the variables this
module reads (see ``HOST_VARS``); ``groups`` maps group names to host lists.
It validates the whole topology and returns, per host, the vassal specs (the
compiler's input) and what files the roles must place.  Every error names the
host and the variable at fault.

Router instance (``uwsgi_router_instances[N]``)::

    name, type (http|https|ssl|fast|raw), port, bind_address, subscription_port,
    stats_port, keys, secured, sign_tolerance, tolerance, algorithm, workers,
    cert, key, sni, resubscribe_to, spec

Node instance (``uwsgi_node_instances[N]``)::

    name, port, processes, wsgi_file, callable, announce_interval,
    subscriptions: [{router, key, weight, signed, sni}], spec
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options
from ansible_collections.uwsgi.topology.plugins.module_utils.core import (
    TopologyError, check_bool, check_int, check_mapping, check_str, type_name,
)

HOST_VARS = (
    'uwsgi_router_instances', 'uwsgi_node_instances', 'uwsgi_topology_advertise_address', 'ansible_host',
    'uwsgi_topology_prefix', 'uwsgi_topology_build',
)

ROUTER_KEYS = ('name', 'type', 'port', 'bind_address', 'subscription_port', 'stats_port', 'keys', 'secured',
               'sign_tolerance', 'tolerance', 'algorithm', 'workers', 'cert', 'key', 'sni', 'resubscribe_to',
               'spec')
ROUTER_TYPES = ('http', 'https', 'ssl', 'fast', 'raw')
NODE_KEYS = ('name', 'port', 'processes', 'wsgi_file', 'callable', 'announce_interval', 'subscriptions', 'spec')
SUBSCRIPTION_KEYS = ('router', 'key', 'weight', 'signed', 'sni')
SPEC_EXTRA_KEYS = ('router', 'subscriptions', 'options', 'plugins')

DIGEST = 'SHA1'
_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_IPV4 = re.compile(r'^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$')
_KEY_FILE = re.compile(r'[^A-Za-z0-9._-]')


def key_file_name(key):
    """The file name uWSGI looks for: ``<key>.pem`` with characters outside
    ``[A-Za-z0-9._-]`` mapped to ``_`` (``a.com:8080`` -> ``a.com_8080.pem``)."""
    return _KEY_FILE.sub('_', key) + '.pem'


def host_paths(prefix):
    """Where one host keeps its files, under its prefix."""
    return {
        'prefix': prefix,
        'vassals': prefix + '/vassals',
        'keys': prefix + '/keys',
        'pubkeys': prefix + '/pubkeys',
        'certs': prefix + '/certs',
        'run': prefix + '/run',
        'apps': prefix + '/apps',
        'log': prefix + '/log',
    }


def _err(host, path, message):
    return TopologyError('host %s: %s' % (host, path), message)


def _merge(base, extra):
    """Deep-merge mapping ``extra`` into a copy of ``base`` (lists are appended)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


class _Router(object):
    __slots__ = ('host', 'path', 'name', 'type', 'item', 'address', 'bind', 'subscription', 'stats', 'keys',
                 'secured', 'sni', 'resubscribe_refs', 'resubscribe', 'paths')


class _Node(object):
    __slots__ = ('host', 'path', 'name', 'item', 'address', 'subscriptions', 'paths')


def plan_topology(hosts, groups, router_group='uwsgi_routers', node_group='uwsgi_nodes', version='2.0',
                  secured=True, default_prefix='/var/lib/uwsgi-topology', default_build=None, resolve=None,
                  default_announce_interval=None):
    """Validate the inventory and return ``{'hosts': {host: plan}, 'keys': [...], 'sni_keys': [...],
    'routers': [...], 'nodes': [...], 'warnings': [...]}``; warnings name what the plan allows but
    exposes (unsigned subscription ports beyond loopback, signatures that federation bypasses)."""
    if not isinstance(hosts, dict):
        raise TopologyError('hostvars', 'must be a mapping of host names to variables')
    groups = groups or {}
    check_bool(secured, 'uwsgi_topology_secured')
    router_hosts = list(groups.get(router_group) or [])
    node_hosts = list(groups.get(node_group) or [])
    if not router_hosts and not node_hosts:
        raise TopologyError('inventory', 'has no host in the groups %s and %s: nothing to deploy'
                            % (router_group, node_group))

    info = {}
    for host in _unique(router_hosts + node_hosts):
        variables = hosts.get(host)
        if variables is None:
            raise TopologyError('host %s' % host, 'is in a topology group but has no variables')
        prefix = variables.get('uwsgi_topology_prefix') or default_prefix
        prefix = check_str(prefix, 'host %s: uwsgi_topology_prefix' % host).rstrip('/')
        if not prefix.startswith('/'):
            raise _err(host, 'uwsgi_topology_prefix', 'must be an absolute path, got %r' % prefix)
        build = variables.get('uwsgi_topology_build')
        if build is None:
            build = default_build
        info[host] = {
            'address': _address(host, variables, resolve),
            'paths': host_paths(prefix),
            'build': build,
        }

    routers = {}
    for host in router_hosts:
        items = hosts[host].get('uwsgi_router_instances')
        if items is None:
            raise _err(host, 'uwsgi_router_instances', 'is required for a host in the %s group' % router_group)
        if not isinstance(items, list):
            raise _err(host, 'uwsgi_router_instances', 'must be a list, got %s' % type_name(items))
        for i, item in enumerate(items):
            router = _read_router(host, 'uwsgi_router_instances[%d]' % i, item, info[host], secured)
            if router.name in routers:
                raise _err(host, router.path + '.name', 'router instance name %r is already used on host %s'
                           % (router.name, routers[router.name].host))
            routers[router.name] = router

    nodes = []
    names = set(routers)
    for host in node_hosts:
        items = hosts[host].get('uwsgi_node_instances')
        if items is None:
            raise _err(host, 'uwsgi_node_instances', 'is required for a host in the %s group' % node_group)
        if not isinstance(items, list):
            raise _err(host, 'uwsgi_node_instances', 'must be a list, got %s' % type_name(items))
        for i, item in enumerate(items):
            node = _read_node(host, 'uwsgi_node_instances[%d]' % i, item, info[host])
            if node.name in names:
                raise _err(host, node.path + '.name', 'instance name %r is already used' % node.name)
            names.add(node.name)
            nodes.append(node)

    for router in routers.values():
        router.resubscribe = []
        for j, ref in enumerate(router.resubscribe_refs):
            where = '%s.resubscribe_to[%d]' % (router.path, j)
            for target in _resolve_routers(ref, routers, groups, router.host, where):
                if target.subscription is None:
                    raise _err(router.host, where, 'router %r has no subscription_port to resubscribe to'
                               % target.name)
                if target.secured:
                    raise _err(router.host, where, 'router %r checks signatures, but uWSGI 2.0 forwards '
                               'resubscriptions unsigned: it would reject every node; set secured: false on it '
                               'or do not federate into it' % target.name)
                if router.type != 'fast':
                    raise _err(router.host, router.path + '.type', 'a federated edge must be a fastrouter: '
                               'the router it resubscribes to announces this router\'s own address and speaks '
                               'the uwsgi protocol to it, which only a fastrouter understands')
                router.resubscribe.append(target)
    _check_acyclic(routers)

    # Subscriptions, weights, keys.
    expectations = {}
    answers = {}
    keys, sni_keys = set(), set()
    node_subs = {}
    weights = {}
    for node in nodes:
        subs = []
        for j, sub in enumerate(node.subscriptions):
            where = '%s.subscriptions[%d]' % (node.path, j)
            sub = check_mapping(sub, 'host %s: %s' % (node.host, where), SUBSCRIPTION_KEYS)
            if sub.get('router') is None or sub.get('key') is None:
                raise _err(node.host, where + ('.router' if sub.get('router') is None else '.key'), 'is required')
            key = check_str(sub['key'], 'host %s: %s.key' % (node.host, where))
            weight = None
            if sub.get('weight') is not None:
                weight = check_int(sub['weight'], 'host %s: %s.weight' % (node.host, where), 1)
            targets = _resolve_routers(sub['router'], routers, groups, node.host, where + '.router')
            for router in targets:
                if router.subscription is None:
                    raise _err(node.host, where + '.router', 'router %r has no subscription_port: it cannot '
                               'receive subscriptions' % router.name)
                if router.keys is not None and key not in router.keys:
                    raise _err(node.host, where + '.key', 'key %r is not served by router %r (its keys: %s)'
                               % (key, router.name, ', '.join(router.keys) or 'none'))
                signed = router.secured
                if sub.get('signed') is not None:
                    signed = check_bool(sub['signed'], 'host %s: %s.signed' % (node.host, where))
                    if signed != router.secured:
                        raise _err(node.host, where + '.signed', 'router %r %s signatures; a %s node would %s'
                                   % (router.name, 'checks' if router.secured else 'does not check',
                                      'signed' if signed else 'unsigned',
                                      'be rejected without any log line' if router.secured else
                                      'sign for nothing: set secured: true on the router'))
                sni = router.sni
                if sub.get('sni') is not None:
                    sni = check_bool(sub['sni'], 'host %s: %s.sni' % (node.host, where))
                    if sni and router.type not in ('https', 'ssl'):
                        raise _err(node.host, where + '.sni', 'SNI certificates travel only to https and ssl '
                                   'routers; router %r is %s' % (router.name, router.type))
                if signed:
                    keys.add(key)
                if sni:
                    sni_keys.add(key)
                subs.append((router, key, weight, signed, sni))
                weights.setdefault((router.name, key), []).append(
                    (1 if weight is None else weight, node.host, where + '.weight'))
                expectations.setdefault(router.name, {}).setdefault(key, []).append(
                    '%s:%d' % (node.address, node.item['port']))
                # A federated edge's nodes appear at the core under the edge's address.
                answers.setdefault(router.name, {}).setdefault(key, []).append(
                    '%s:%d' % (node.address, node.item['port']))
                for core in _federation_targets(router):
                    edge_address = router.bind
                    members = expectations.setdefault(core.name, {}).setdefault(key, [])
                    if edge_address not in members:
                        members.append(edge_address)
                    # ... and its requests reach the nodes behind the edge.
                    behind = answers.setdefault(core.name, {}).setdefault(key, [])
                    if '%s:%d' % (node.address, node.item['port']) not in behind:
                        behind.append('%s:%d' % (node.address, node.item['port']))
        node_subs[node.name] = subs
    _check_wrr_weights(routers, weights)

    plans = dict((host, _empty_plan(info[host])) for host in info)
    for router in routers.values():
        served = sorted(set(k for n in nodes for (r, k, _w, s, _n) in node_subs[n.name] if r is router and s))
        sni = sorted(set(k for n in nodes for (r, k, _w, _s, x) in node_subs[n.name] if r is router and x))
        plans[router.host]['routers'].append(_router_plan(router, info, version, served, sni,
                                                          expectations.get(router.name, {}),
                                                          answers.get(router.name, {})))
    for node in nodes:
        plans[node.host]['nodes'].append(_node_plan(node, node_subs[node.name], info, version,
                                                    default_announce_interval))
    _check_ports(plans, info)
    for plan in plans.values():
        plan['private_keys'] = sorted(set(k for n in plan['nodes'] for k in n['private_keys']))
        plan['sni_keys'] = sorted(set(k for r in plan['routers'] for k in r['sni_keys']))
    return {'hosts': plans, 'keys': sorted(keys), 'sni_keys': sorted(sni_keys),
            'routers': sorted(routers), 'nodes': [n.name for n in nodes],
            'warnings': _exposure_warnings(routers)}


def _exposure_warnings(routers):
    """What the plan allows but an operator must know: where uWSGI 2.0 takes unsigned packets.

    An unsecured router whose subscription server listens beyond loopback lets anyone who reaches
    the port add nodes to any key or remove them. A secured edge that resubscribes forwards every
    packet it receives to its cores unsigned, also the ones it refused (plugins/corerouter/cr_common.c
    of the uwsgi-2.0 branch runs the resubscribe block whatever uwsgi_add_subscribe_node returned),
    so its signature check protects its own pools only.
    """
    cores = {}
    for router in routers.values():
        for target in router.resubscribe:
            cores.setdefault(target.name, []).append(router.name)
    warnings = []
    for name in sorted(routers):
        router = routers[name]
        where = 'host %s: %s' % (router.host, router.path)
        if router.subscription is not None and not router.secured and not router.address.startswith('127.'):
            text = ('%s (router %s) takes unsigned subscriptions on %s: whoever reaches that port can add a node '
                    'to any key or unsubscribe one' % (where, name, router.subscription))
            if name in cores:
                text += (' (it cannot check signatures: uWSGI 2.0 resubscribes unsigned, and its edges %s forward '
                         'every packet they receive)' % ', '.join(sorted(cores[name])))
            warnings.append(text + '; keep the port on a network only your nodes and routers reach')
        if router.secured and router.resubscribe:
            warnings.append('%s.resubscribe_to (router %s): uWSGI 2.0 forwards every subscription packet this '
                            'edge receives to %s unsigned, also the ones its signature check refused; signatures '
                            'protect this edge\'s own pools only' % (where, name,
                                                                     ', '.join(t.name for t in router.resubscribe)))
    return warnings


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _address(host, variables, resolve):
    for name in ('uwsgi_topology_advertise_address', 'ansible_host'):
        value = variables.get(name)
        if value is not None:
            break
    else:
        name, value = 'inventory_hostname', host
    value = check_str(value, 'host %s: %s' % (host, name))
    if _IPV4.match(value) and all(int(p) <= 255 for p in value.split('.')):
        address = value
    else:
        address = resolve(value) if resolve else None
        if not address:
            raise _err(host, name, '%r cannot be resolved to a numeric IPv4 address; uWSGI subscriptions need '
                       'one (a host name makes uWSGI send to 255.255.255.255): set '
                       'uwsgi_topology_advertise_address to the host\'s routable IPv4 address' % value)
    if address.startswith('0.') or address == '255.255.255.255':
        raise _err(host, name, '%r is not a routable address: nodes and routers would reach themselves'
                   % address)
    return address


def _read_name(host, path, item):
    """An instance's name: required; letters, digits, dot, underscore or dash."""
    if item.get('name') is None:
        raise _err(host, path + '.name', 'is required')
    name = check_str(item['name'], 'host %s: %s.name' % (host, path))
    if not _NAME.match(name):
        raise _err(host, path + '.name', 'must be letters, digits, ".", "_" or "-", got %r' % name)
    return name


def _read_router(host, path, item, host_info, secured_default):
    where = 'host %s: %s' % (host, path)
    item = check_mapping(item, where, ROUTER_KEYS)
    router = _Router()
    router.host, router.path, router.item, router.paths = host, path, item, host_info['paths']
    router.name = _read_name(host, path, item)
    router.type = item.get('type', 'http')
    if router.type not in ROUTER_TYPES:
        raise _err(host, path + '.type', 'must be one of %s, got %s (forkpty and tuntap routers have no '
                   'subscriptions: deploy them with the uwsgi.topology.vassal module)'
                   % (', '.join(ROUTER_TYPES), type_name(router.type)))
    if item.get('port') is None:
        raise _err(host, path + '.port', 'is required: the port clients connect to')
    port = check_int(item['port'], where + '.port', 1, 65535)
    router.address = host_info['address']
    bind_address = item.get('bind_address') or router.address
    bind_address = check_str(bind_address, where + '.bind_address')
    router.bind = '%s:%d' % (bind_address, port)
    router.subscription = None
    if item.get('subscription_port') is not None:
        router.subscription = '%s:%d' % (router.address, check_int(item['subscription_port'],
                                                                   where + '.subscription_port', 1, 65535))
    router.stats = None
    if item.get('stats_port') is not None:
        router.stats = '127.0.0.1:%d' % check_int(item['stats_port'], where + '.stats_port', 1, 65535)
    router.keys = None
    if item.get('keys') is not None:
        keys = item['keys'] if isinstance(item['keys'], list) else [item['keys']]
        router.keys = [check_str(k, '%s.keys[%d]' % (where, i)) for i, k in enumerate(keys)]
    router.secured = check_bool(item.get('secured', secured_default), where + '.secured')
    router.sni = check_bool(item.get('sni', router.type in ('https', 'ssl')), where + '.sni')
    if router.sni and router.type not in ('https', 'ssl'):
        raise _err(host, path + '.sni', 'SNI needs an https or ssl router, this one is %s' % router.type)
    refs = item.get('resubscribe_to') or []
    router.resubscribe_refs = refs if isinstance(refs, list) else [refs]
    if item.get('spec') is not None:
        check_mapping(item['spec'], where + '.spec', SPEC_EXTRA_KEYS)
    return router


def _read_node(host, path, item, host_info):
    where = 'host %s: %s' % (host, path)
    item = check_mapping(item, where, NODE_KEYS)
    node = _Node()
    node.host, node.path, node.item, node.paths = host, path, item, host_info['paths']
    node.name = _read_name(host, path, item)
    if item.get('port') is None:
        raise _err(host, path + '.port', 'is required: the port of the node\'s uwsgi socket')
    item = dict(item, port=check_int(item['port'], where + '.port', 1, 65535))
    node.item = item
    node.address = host_info['address']
    subs = item.get('subscriptions') or []
    if not isinstance(subs, list):
        raise _err(host, path + '.subscriptions', 'must be a list, got %s' % type_name(subs))
    node.subscriptions = subs
    if item.get('spec') is not None:
        check_mapping(item['spec'], where + '.spec', SPEC_EXTRA_KEYS)
        if item['spec'].get('router') is not None:
            raise _err(host, path + '.spec.router', 'applies to router instances only')
    return node


def _resolve_routers(ref, routers, groups, host, where):
    """A router reference: an instance name, an inventory host (all its routers) or a group."""
    ref = check_str(ref, 'host %s: %s' % (host, where))
    if ref in routers:
        return [routers[ref]]
    on_host = [r for r in routers.values() if r.host == ref]
    if on_host:
        return on_host
    if ref in groups:
        found = [r for r in routers.values() if r.host in groups[ref]]
        if found:
            return found
    raise _err(host, where, '%r names no router instance, router host or group with routers (known routers: '
               '%s)' % (ref, ', '.join(sorted(routers)) or 'none'))


def _federation_targets(router):
    seen, out, todo = set(), [], list(router.resubscribe or [])
    while todo:
        target = todo.pop()
        if target.name in seen:
            continue
        seen.add(target.name)
        out.append(target)
        todo.extend(target.resubscribe or [])
    return out


def _check_acyclic(routers):
    state = {}

    def visit(router, chain):
        mark = state.get(router.name)
        if mark == 'done':
            return
        if mark == 'active':
            cycle = chain[chain.index(router.name):] + [router.name]
            raise _err(router.host, router.path + '.resubscribe_to', 'resubscriptions form a cycle (%s): routers '
                       'would forward each other\'s announces forever at 100%% CPU (uWSGI issue #871)'
                       % ' -> '.join(cycle))
        state[router.name] = 'active'
        for target in router.resubscribe:
            visit(target, chain + [router.name])
        state[router.name] = 'done'

    for name in sorted(routers):
        visit(routers[name], [])


def _empty_plan(host_info):
    return {'address': host_info['address'], 'paths': host_info['paths'], 'routers': [], 'nodes': []}


def _check_wrr_weights(routers, weights):
    """uWSGI's wrr (the default algorithm) gives each live node ``weight // smallest weight``
    turns per cycle (2.0 core/subscription.c, uwsgi_subscription_algo_wrr): weights 2 and 3
    would split 1:1. Refuse a pool whose weights are not multiples of its smallest one."""
    for (router_name, key), members in sorted(weights.items()):
        if (routers[router_name].item.get('algorithm') or 'wrr') != 'wrr':
            continue
        smallest = min(weight for weight, _host, _where in members)
        for weight, host, where in members:
            if weight % smallest:
                raise _err(host, where, 'router %r balances key %r with wrr, which gives each node weight // '
                           'smallest weight turns per cycle (uWSGI integer division): with smallest weight %d, '
                           'weight %d would act as %d; use multiples of the smallest weight, or algorithm '
                           'wlrc on the router' % (router_name, key, smallest, weight, weight // smallest))


def _compile_check(spec, host, path, version, build):
    """Compile once with the declared version and build so errors surface before any change."""
    try:
        return compile_options(spec, version=version, build=build)
    except TopologyError as error:
        raise _err(host, path, 'the generated vassal is invalid: %s' % error)


def _router_plan(router, info, version, signed_keys, sni_keys, expect, answers):
    item, paths = router.item, router.paths
    spec_router = {'type': router.type, 'bind': router.bind}
    if router.subscription:
        spec_router['forward_to'] = {'type': 'subscription_server', 'address': router.subscription}
    basic = {}
    if router.stats:
        basic['stats_server'] = router.stats
    if item.get('workers') is not None:
        basic['workers'] = item['workers']
    if basic:
        spec_router['basic_params'] = basic
    cert = key = None
    cert_generated = False
    if router.type in ('https', 'ssl'):
        generated = '%s/%s.crt' % (paths['certs'], router.name)
        cert = item.get('cert') or generated
        key = item.get('key') or '%s/%s.key' % (paths['certs'], router.name)
        spec_router['cert'], spec_router['key'] = cert, key
        # The keys role makes this one (named after the router, signed by the topology CA).
        cert_generated = cert == generated
    if router.type == 'ssl' and router.sni:
        # Without sslrouter-sni the ssl router's key is the address of the socket that took the
        # connection (sslrouter.c), so keys subscribed by name, with their SNI certificates,
        # would never be routed: route by the TLS servername.
        spec_router['use_sni'] = True
    if router.resubscribe:
        spec_router['resubscription_params'] = {'addresses': [t.subscription for t in router.resubscribe]}
    subscriptions = {}
    server = {}
    if item.get('tolerance') is not None:
        server['tolerance'] = item['tolerance']
    if item.get('algorithm') is not None:
        server['balancing_algo'] = item['algorithm']
    if server:
        subscriptions['server_params'] = server
    pubkeys = '%s/%s' % (paths['pubkeys'], router.name)
    if router.secured:
        subscriptions['server_verification_params'] = {
            'digest_algo': DIGEST, 'dir_cert': pubkeys, 'tolerance': item.get('sign_tolerance', 600)}
    spec = {'routers': [spec_router]}
    if subscriptions:
        spec['subscriptions'] = subscriptions
    options = []
    for sni_key in sni_keys:
        # uWSGI keeps an SNI context until the router reloads (#581): reload when a certificate changes.
        options.append(['touch-reload', '%s/%s' % (paths['certs'], sni_file(sni_key, 'crt'))])
    if options:
        spec['options'] = options
    extra = item.get('spec') or {}
    if extra.get('router'):
        extra_router = dict(extra['router'])
        if extra_router.get('forward_to') is not None:
            # More forwarders come after the subscription server; a mapping merged into the
            # planner's forwarder would turn it into another, broken one.
            more = extra_router.pop('forward_to')
            more = more if isinstance(more, list) else [more]
            spec_router['forward_to'] = ([spec_router['forward_to']] if 'forward_to' in spec_router else []) + more
        spec_router.update(_merge(spec_router, extra_router))
    for name in ('subscriptions', 'options', 'plugins'):
        if extra.get(name) is not None:
            spec = _merge(spec, {name: extra[name]})
    build = info[router.host]['build']
    _compile_check(spec, router.host, router.path, version, build)
    return {
        'name': router.name, 'type': router.type, 'spec': spec, 'bind': router.bind,
        'subscription': router.subscription, 'stats': router.stats, 'secured': router.secured,
        'pubkey_dir': pubkeys if router.secured else None,
        'public_keys': [{'key': k, 'file': key_file_name(k)} for k in signed_keys],
        'sni_keys': sni_keys, 'cert': cert, 'key': key, 'cert_generated': cert_generated, 'expect': expect,
        'answers': answers, 'path': router.path,
        # The certificate a TLS client asking for each key by name must be shown (on the router's host).
        'certificates': dict(
            (k, '%s/%s' % (paths['certs'], sni_file(k, 'crt')) if k in sni_keys else cert)
            for k in sorted(set(expect) | set(answers))) if cert else {},
    }


def sni_file(key, extension):
    """The file name of a key's SNI certificate or private key on router hosts."""
    return '%s.%s' % (_KEY_FILE.sub('_', key.split(':', 1)[0]), extension)


def _node_plan(node, subs, info, version, default_interval):
    item, paths = node.item, node.paths
    address = '%s:%d' % (node.address, item['port'])
    options = [['socket', address]]
    processes = item.get('processes', 2)
    options.append(['processes', str(check_int(processes, 'host %s: %s.processes' % (node.host, node.path), 1))])
    options.append(['wsgi-file', check_str(item.get('wsgi_file') or paths['apps'] + '/demo_app.py',
                                           'host %s: %s.wsgi_file' % (node.host, node.path))])
    if item.get('callable') is not None:
        options.append(['callable', check_str(item['callable'], 'host %s: %s.callable' % (node.host, node.path))])
    # Not UWSGI_*: a reloading master reads every UWSGI_<NAME> variable back as an option.
    options.append(['env', 'TOPOLOGY_NODE=%s' % node.name])
    subscribe = []
    private_keys = set()
    for router, key, weight, signed, sni in subs:
        entry = {'server': router.subscription, 'key': key, 'address': address}
        if weight is not None:
            entry['balancing_weight'] = weight
        if signed:
            entry['signing'] = [DIGEST, '%s/%s' % (paths['keys'], key_file_name(key))]
            private_keys.add(key)
        if sni:
            certs = router.paths['certs']
            entry['sni_cert'] = '%s/%s' % (certs, sni_file(key, 'crt'))
            entry['sni_key'] = '%s/%s' % (certs, sni_file(key, 'key'))
        subscribe.append(entry)
    spec = {'options': options, 'plugins': ['python3']}
    if subscribe:
        subscriptions = {'subscribe': subscribe}
        interval = item.get('announce_interval', default_interval)
        if interval is not None:
            subscriptions['client_params'] = {'announce_interval': interval}
        spec['subscriptions'] = subscriptions
    extra = item.get('spec') or {}
    for name in ('subscriptions', 'options', 'plugins'):
        if extra.get(name) is not None:
            spec = _merge(spec, {name: extra[name]})
    _compile_check(spec, node.host, node.path, version, info[node.host]['build'])
    return {'name': node.name, 'spec': spec, 'address': address, 'private_keys': sorted(private_keys),
            'path': node.path}


def _check_ports(plans, info):
    """No two instances on one machine (one advertise address) claim the same TCP or UDP port."""
    claimed = {}
    for host in sorted(plans):
        plan = plans[host]
        address = info[host]['address']
        claims = []
        for router in plan['routers']:
            claims.append(('tcp', router['bind'], router['name'], router['path'] + '.port'))
            if router['subscription']:
                claims.append(('udp', router['subscription'], router['name'], router['path'] + '.subscription_port'))
            if router['stats']:
                claims.append(('tcp', router['stats'], router['name'], router['path'] + '.stats_port'))
        for node in plan['nodes']:
            claims.append(('tcp', node['address'], node['name'], node['path'] + '.port'))
        for proto, addr, name, var in claims:
            port = addr.rsplit(':', 1)[1]
            key = (address, proto, port)
            if key in claimed:
                other = claimed[key]
                raise TopologyError('host %s: %s' % (host, var),
                                    '%s port %s on %s (instance %s) is already claimed by instance %s (host %s)'
                                    % (proto.upper(), port, address, name, other[1], other[0]))
            claimed[key] = (host, name)
