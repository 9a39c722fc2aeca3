# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory -> topology plan: every host's vassals, keys and certificates.

``plan_topology(hosts, groups, ...)`` runs once, on the controller, before any
host is touched.  ``hosts`` maps inventory host names to the variables this
module reads (see ``HOST_VARS``); ``groups`` maps group names to host lists.
It validates the whole topology and returns, per host, the vassal specs (the
compiler's input) and what files the roles must place.

Every field is checked where it is read, and every refusal names what the
operator wrote: ``host lb1: uwsgi_router_instances[0].key`` for an instance
field, ``play variable uwsgi_topology_version`` for a play-level one.  Each
generated vassal is compiled once more at the end as a last safety net; an
error there is traced back to the instance field (or the part of the
instance's ``spec``) it came from.

The instance schema (router instances, node instances, subscriptions: types,
defaults, choices, meaning) is documented in plugins/filter/topology_plan.yml
and rendered by ``ansible-doc -t filter uwsgi.topology.topology_plan``.

Phases of ``plan_topology``: read the play variables, the groups, the hosts,
the routers and the nodes; resolve the federation (``resubscribe_to``); read
the subscriptions; fill the routers' pools; build the router and node plans;
check the ports; summarize.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options
from ansible_collections.uwsgi.topology.plugins.module_utils.core import (
    VERSIONS, Target, TopologyError, check_bool, check_int, check_mapping, check_str, type_name,
)
from ansible_collections.uwsgi.topology.plugins.module_utils.subscriptions import algorithms, check_key

HOST_VARS = (
    'uwsgi_router_instances', 'uwsgi_node_instances', 'uwsgi_topology_advertise_address', 'ansible_host',
    'uwsgi_topology_prefix', 'uwsgi_topology_build',
)

ROUTER_KEYS = ('name', 'type', 'port', 'bind_address', 'subscription_port', 'stats_port', 'stats_address', 'keys',
               'secured',
               'sign_tolerance', 'tolerance', 'algorithm', 'workers', 'replicas', 'buffer_size', 'connect_timeout',
               'listen', 'cert', 'key', 'sni', 'resubscribe_to', 'spec')
# Defaults of the http and https routers chosen by `make bench-router` (README "Router performance"):
# a 64 KiB buffer moved 64 KiB and 1 MiB responses from 0.43x and 0.52x nginx's throughput to 0.76x
# and 1.34x with no cost for small ones; the backend connect timeout is otherwise the socket timeout
# (60 s, 2.0 plugins/http/http.c), the time a vanished node costs each request that meets it.
HTTP_BUFFER_SIZE = 65536
HTTP_CONNECT_TIMEOUT = 3
# The listen backlog of every router (uWSGI's default is 100): a burst of 256 connections saw a p99 of
# 952 ms (retransmitted SYNs) with it, 68 ms with 1024. uWSGI refuses to start with a backlog above the
# host's net.core.somaxconn (4096 since Linux 5.4): the vassals module checks it before writing.
ROUTER_LISTEN = 1024
HTTP_TYPES = ('http', 'https')
ROUTER_TYPES = ('http', 'https', 'ssl', 'fast', 'raw')
TLS_TYPES = ('https', 'ssl')
# The option that keeps a router from accepting connections while it has no node at all.
CHEAP_OPTION = {'http': 'http-cheap', 'https': 'http-cheap', 'ssl': 'sslrouter-cheap', 'fast': 'fastrouter-cheap',
                'raw': 'rawrouter-cheap'}
NODE_KEYS = ('name', 'port', 'processes', 'wsgi_file', 'callable', 'announce_interval', 'subscriptions', 'spec')
SUBSCRIPTION_KEYS = ('router', 'key', 'weight', 'signed', 'sni')
SPEC_EXTRA_KEYS = ('router', 'subscriptions', 'options', 'plugins')

# Router-side balancing algorithms (subscription-algo); iphash exists only in 2.1. The seed's long
# names (weighted_round_robin, ...) are accepted as aliases.
ALGORITHMS = ('wrr', 'lrc', 'wlrc', 'iphash')
# Digests of subscription signatures: uWSGI 2.0 takes any OpenSSL digest name (EVP_get_digestbyname);
# these are the ones the planner offers. SHA1 stays selectable for routers that must keep it.
DIGESTS = ('SHA1', 'SHA256', 'SHA384', 'SHA512')
DIGEST = 'SHA256'
SIGN_TOLERANCE = 600
PROCESSES = 2
DEMO_APP = 'demo_app.py'

# Raw options a node's vassal gets from the instance's own fields (with uWSGI's aliases): spec.options may
# add options, never set these a second time.
NODE_OWN_OPTIONS = {
    'processes': 'processes', 'workers': 'processes', 'p': 'processes',
    'wsgi-file': 'wsgi_file', 'file': 'wsgi_file', 'callable': 'callable',
    'subscribe-freq': 'announce_interval',
}

_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_IPV4 = re.compile(r'^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$')
_KEY_FILE = re.compile(r'[^A-Za-z0-9._-]')
_OPTION_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$')
_PYTHON_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_TOKEN = re.compile(r'([^.\[\]]+)|\[(\d+)\]')

# The play variables, as read once.
Play = collections.namedtuple('Play', 'version target secured prefix build announce_interval digest '
                                      'router_group node_group')
# One inventory host of the topology.
Host = collections.namedtuple('Host', 'name address paths build')
# One router instance, every field checked. ``resubscribe_to`` is a list of (reference, where written).
Router = collections.namedtuple('Router', 'host path name type address bind_address port bind subscription stats '
                                          'keys secured sign_tolerance tolerance algorithm workers cert key sni '
                                          'resubscribe_to extra paths build replicas buffer_size connect_timeout '
                                          'listen')
# One replica of a router instance (``replicas: N``): its vassal name, subscription server and stats server.
Replica = collections.namedtuple('Replica', 'index name subscription stats')
# One node instance; ``subscriptions`` is still as written (read once the routers are known).
Node = collections.namedtuple('Node', 'host path name address port processes wsgi_file callable announce_interval '
                                      'subscriptions extra paths build')
# One subscription of a node to one router (a reference to a host or a group gives several).
Subscription = collections.namedtuple('Subscription', 'node router key weight signed sni path')
# An instance's ``spec``: ``router`` and ``subscriptions`` mappings (or None), ``options`` as
# [name, value, origin] with origin the inventory path suffix, ``plugins`` a list.
Extra = collections.namedtuple('Extra', 'router forward_to forward_single subscriptions options plugins '
                                        'plugins_single')

_NO_EXTRA = Extra(None, None, False, None, [], [], False)


def key_file_name(key):
    """The file name uWSGI looks for: ``<key>.pem`` with characters outside
    ``[A-Za-z0-9._-]`` mapped to ``_`` (``a.com:8080`` -> ``a.com_8080.pem``)."""
    return _KEY_FILE.sub('_', key) + '.pem'


def sni_file(key, extension):
    """The file name of a key's SNI certificate or private key on router hosts."""
    return '%s.%s' % (_KEY_FILE.sub('_', key.split(':', 1)[0]), extension)


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
        # The Emperor's own files.
        'ini': prefix + '/emperor.ini',
        'pidfile': prefix + '/run/emperor.pid',
        'logfile': prefix + '/log/emperor.log',
        'marker': prefix + '/.uwsgi-topology',
    }


def plan_topology(hosts, groups, router_group='uwsgi_routers', node_group='uwsgi_nodes', version='2.0',
                  secured=True, default_prefix='/var/lib/uwsgi-topology', default_build=None, resolve=None,
                  default_announce_interval=None, digest=DIGEST):
    """Validate the inventory and return ``{'hosts': {host: plan}, 'keys': [...], 'sni_keys': [...],
    'routers': [...], 'nodes': [...], 'warnings': [...], 'digest': ...}``; warnings name what the plan
    allows but exposes (unsigned subscription ports beyond loopback, signatures that federation bypasses).

    The keyword arguments are the play variables ``uwsgi_topology_router_group``, ``_node_group``,
    ``_version``, ``_secured``, ``_prefix``, ``_build``, ``_announce_interval`` and ``_digest``."""
    play = _read_play(version, secured, default_prefix, default_build, default_announce_interval, digest,
                      router_group, node_group)
    router_hosts, node_hosts, groups = _read_groups(hosts, groups, play)
    info = _read_hosts(hosts, _unique(router_hosts + node_hosts), play, resolve)
    routers = _read_routers(hosts, router_hosts, info, play)
    nodes = _read_nodes(hosts, node_hosts, info, routers, play)
    federation = _resolve_federation(routers, groups)
    subscriptions = _read_subscriptions(nodes, routers, groups, play)
    _check_wrr_weights(routers, subscriptions)
    expect, answers = _pools(subscriptions, federation)

    plans = dict((host, _empty_plan(info[host])) for host in info)
    by_router = _group_by(subscriptions, lambda sub: sub.router.name)
    by_node = _group_by(subscriptions, lambda sub: sub.node.name)
    sni_by_host = {}
    for sub in subscriptions:
        if sub.sni:
            sni_by_host.setdefault(sub.router.host, set()).add(sub.key)
    for router in routers.values():
        plans[router.host]['routers'].extend(_router_plans(
            router, by_router.get(router.name, []), federation[router.name], expect.get(router.name, {}),
            answers.get(router.name, {}), sni_by_host.get(router.host, set()), play))
    for node in nodes:
        plans[node.host]['nodes'].append(_node_plan(node, by_node.get(node.name, []), play, expect))
    _check_ports(plans, info)
    return _summarize(plans, routers, nodes, subscriptions, federation, play)


# ---------------------------------------------------------------- reading: play, groups, hosts


def _read_play(version, secured, prefix, build, announce_interval, digest, router_group, node_group):
    """The play-level variables, checked once and named as play variables."""
    if isinstance(version, (str, int, float)) and not isinstance(version, bool):
        version = str(version)
    if version not in VERSIONS:
        raise _play('uwsgi_topology_version', 'must be one of %s, got %s (2.1 is the unreleased master branch)'
                    % (', '.join(VERSIONS), repr(version) if isinstance(version, str) else type_name(version)))
    try:
        target = Target(version, build)
    except TopologyError as error:
        raise _rebase(error, 'build', 'play variable uwsgi_topology_build')
    if announce_interval is not None:
        announce_interval = check_int(announce_interval, 'play variable uwsgi_topology_announce_interval', 1)
    if digest not in DIGESTS:
        raise _play('uwsgi_topology_digest', 'must be one of %s, got %s'
                    % (', '.join(DIGESTS), repr(digest) if isinstance(digest, str) else type_name(digest)))
    return Play(
        version=version, target=target, build=build, announce_interval=announce_interval, digest=digest,
        secured=check_bool(secured, 'play variable uwsgi_topology_secured'),
        prefix=_check_prefix(prefix, 'play variable uwsgi_topology_prefix'),
        router_group=check_str(router_group, 'play variable uwsgi_topology_router_group'),
        node_group=check_str(node_group, 'play variable uwsgi_topology_node_group'),
    )


def _read_groups(hosts, groups, play):
    if not isinstance(hosts, dict):
        raise TopologyError('hostvars', 'must be a mapping of host names to variables, got %s' % type_name(hosts))
    if groups is None:
        groups = {}
    if not isinstance(groups, dict):
        raise TopologyError('groups', 'must be the inventory\'s groups (a mapping of group names to host lists), '
                            'got %s' % type_name(groups))
    members = []
    for group, variable in ((play.router_group, 'uwsgi_topology_router_group'),
                            (play.node_group, 'uwsgi_topology_node_group')):
        value = groups.get(group) or []
        if not isinstance(value, list) or not all(isinstance(host, str) for host in value):
            raise _play(variable, 'names the inventory group %r, which must be a list of host names, got %s'
                        % (group, type_name(value)))
        members.append(list(value))
    if not members[0] and not members[1]:
        raise _play('uwsgi_topology_router_group', 'names the group %r and uwsgi_topology_node_group the group %r: '
                    'neither has a host in the inventory, nothing to deploy' % (play.router_group, play.node_group))
    return members[0], members[1], groups


def _read_hosts(hosts, names, play, resolve):
    info = {}
    for host in names:
        variables = hosts.get(host)
        if variables is None:
            raise TopologyError('host %s' % host, 'is in a topology group but has no variables')
        if not isinstance(variables, dict):
            raise TopologyError('host %s' % host, 'its variables must be a mapping, got %s' % type_name(variables))
        prefix = play.prefix
        if variables.get('uwsgi_topology_prefix') is not None:
            prefix = _check_prefix(variables['uwsgi_topology_prefix'], 'host %s: uwsgi_topology_prefix' % host)
        build = play.build
        if variables.get('uwsgi_topology_build') is not None:
            build = variables['uwsgi_topology_build']
            try:
                Target(play.version, build)
            except TopologyError as error:
                raise _rebase(error, 'build', 'host %s: uwsgi_topology_build' % host)
        info[host] = Host(host, _address(host, variables, resolve), host_paths(prefix), build)
    return info


def _address(host, variables, resolve):
    for name in ('uwsgi_topology_advertise_address', 'ansible_host'):
        value = variables.get(name)
        if value is not None:
            break
    else:
        name, value = 'inventory_hostname', host
    where = 'host %s: %s' % (host, name)
    value = check_str(value, where)
    if _is_ipv4(value):
        address = value
    else:
        address = resolve(value) if resolve else None
        if not address or not _is_ipv4(address):
            raise TopologyError(where, '%r cannot be resolved to a numeric IPv4 address; uWSGI subscriptions need '
                                'one (a host name makes uWSGI send to 255.255.255.255): set '
                                'uwsgi_topology_advertise_address to the host\'s routable IPv4 address' % value)
    if address.startswith('0.') or address == '255.255.255.255':
        raise TopologyError(where, '%r is not a routable address: nodes and routers would reach themselves'
                            % address)
    return address


# ---------------------------------------------------------------- reading: routers


def _read_routers(hosts, router_hosts, info, play):
    routers = {}
    for host in router_hosts:
        for path, item in _instances(hosts, host, 'uwsgi_router_instances', play.router_group):
            router = _read_router(host, path, item, info[host], play)
            if router.name in routers:
                raise _err(host, path + '.name', 'router instance name %r is already used on host %s'
                           % (router.name, routers[router.name].host))
            routers[router.name] = router
    for router in routers.values():
        for replica in _replicas(router)[1:]:
            if replica.name in routers:
                other = routers[replica.name]
                raise _err(router.host, router.path + '.replicas', 'replica %d of router %r is named %r, which is '
                           'the name of router instance %s (host %s): rename one of them'
                           % (replica.index, router.name, replica.name, other.path, other.host))
    return routers


def _read_router(host, path, item, host_info, play):
    where = 'host %s: %s' % (host, path)
    item = check_mapping(item, where, ROUTER_KEYS)

    def field(name):
        return '%s.%s' % (where, name)

    name = _read_name(host, path, item)
    kind = 'http' if item.get('type') is None else item['type']
    if not isinstance(kind, str) or kind not in ROUTER_TYPES:
        raise TopologyError(field('type'), 'must be one of %s, got %s (forkpty and tuntap routers have no '
                            'subscriptions: deploy them with the uwsgi.topology.vassal module)'
                            % (', '.join(ROUTER_TYPES), type_name(kind)))
    port = _required_port(item, 'port', where, 'the port clients connect to')
    bind_address = host_info.address
    if item.get('bind_address') is not None:
        bind_address = _check_bind_address(item['bind_address'], field('bind_address'))
    subscription = stats = None
    if item.get('subscription_port') is not None:
        port_number = check_int(item['subscription_port'], field('subscription_port'), 1, 65535)
        subscription = '%s:%d' % (host_info.address, port_number)
    if item.get('stats_port') is not None:
        stats_host = '127.0.0.1'
        if item.get('stats_address') is not None:
            stats_host = _check_bind_address(item['stats_address'], field('stats_address'))
        stats = '%s:%d' % (stats_host, check_int(item['stats_port'], field('stats_port'), 1, 65535))
    elif item.get('stats_address') is not None:
        raise TopologyError(field('stats_address'), 'needs stats_port: the address the stats server listens on')
    keys = None
    if item.get('keys') is not None:
        keys = _read_keys(item['keys'], field('keys'), play.target)
    secured = play.secured if item.get('secured') is None else check_bool(item['secured'], field('secured'))
    sign_tolerance = SIGN_TOLERANCE
    if item.get('sign_tolerance') is not None:
        sign_tolerance = check_int(item['sign_tolerance'], field('sign_tolerance'), 1)
    tolerance = None if item.get('tolerance') is None else check_int(item['tolerance'], field('tolerance'), 1)
    algorithm = None
    if item.get('algorithm') is not None:
        algorithm = _read_algorithm(item['algorithm'], field('algorithm'), play.target)
    workers = None if item.get('workers') is None else check_int(item['workers'], field('workers'), 1)
    if workers is not None and workers > 1 and secured and subscription is not None:
        raise TopologyError(field('workers'), 'must be 1 when subscriptions are signed: a router process forwards '
                            'a signed announce to its siblings without the data they need to verify it, so only '
                            'one process registers each node; use replicas: %d instead (single-process router '
                            'instances sharing the address with reuse-port)' % workers)
    replicas = 1 if item.get('replicas') is None else check_int(item['replicas'], field('replicas'), 1)
    buffer_size = connect_timeout = None
    for tuning in ('buffer_size', 'connect_timeout'):
        if item.get(tuning) is not None and kind not in HTTP_TYPES:
            raise TopologyError(field(tuning), 'applies to http and https routers only, this one is %s (set the '
                                'option through spec.router)' % kind)
    if kind in HTTP_TYPES:
        buffer_size = HTTP_BUFFER_SIZE if item.get('buffer_size') is None else \
            check_int(item['buffer_size'], field('buffer_size'), 4096, 16 * 1024 * 1024)
        connect_timeout = HTTP_CONNECT_TIMEOUT if item.get('connect_timeout') is None else \
            check_int(item['connect_timeout'], field('connect_timeout'), 1)
    listen = ROUTER_LISTEN if item.get('listen') is None else check_int(item['listen'], field('listen'), 1, 65535)
    if replicas > 1:
        for port_field, address in (('subscription_port', subscription), ('stats_port', stats)):
            first = None if address is None else int(address.rsplit(':', 1)[1])
            if first is not None and first + replicas - 1 > 65535:
                raise TopologyError(field('replicas'), '%d replicas take %s %d up to %d, beyond 65535 (replica i '
                                    'uses %s + i)' % (replicas, port_field, first, first + replicas - 1, port_field))
    cert, key = _read_cert_pair(item, where, kind)
    sni = kind in TLS_TYPES if item.get('sni') is None else check_bool(item['sni'], field('sni'))
    if sni and kind not in TLS_TYPES:
        raise TopologyError(field('sni'), 'SNI needs an https or ssl router, this one is %s' % kind)
    resubscribe_to = _read_refs(item.get('resubscribe_to'), field('resubscribe_to'))
    if resubscribe_to and replicas > 1:
        raise TopologyError(field('replicas'), 'must be 1 on a federated edge (resubscribe_to): each replica would '
                            'resubscribe the shared address on its own, and federation with replicas is not '
                            'supported')
    if resubscribe_to:
        if kind != 'fast':
            raise TopologyError(field('type'), 'a federated edge must be a fastrouter: the router it resubscribes '
                                'to announces this router\'s own address and speaks the uwsgi protocol to it, which '
                                'only a fastrouter understands')
        if subscription is None:
            raise TopologyError(field('resubscribe_to'), 'needs a subscription_port: an edge resubscribes the '
                                'subscriptions it receives there')
        if bind_address == '0.0.0.0':
            # uWSGI resubscribes with the edge's socket name as written: its core would connect to 0.0.0.0.
            raise TopologyError(field('bind_address'), 'must not be the wildcard 0.0.0.0 on a federated edge: it '
                                'announces its bind address to the routers it resubscribes to, which would '
                                'connect to themselves; leave bind_address out (the host\'s address) or give a '
                                'numeric IPv4 address of this host')
    extra = _read_spec(where, item.get('spec'), router=True)
    return Router(host=host, path=path, name=name, type=kind, address=host_info.address, bind_address=bind_address,
                  port=port, bind='%s:%d' % (bind_address, port), subscription=subscription, stats=stats, keys=keys,
                  secured=secured, sign_tolerance=sign_tolerance, tolerance=tolerance, algorithm=algorithm,
                  workers=workers, cert=cert, key=key, sni=sni, resubscribe_to=resubscribe_to, extra=extra,
                  paths=host_info.paths, build=host_info.build, replicas=replicas, buffer_size=buffer_size,
                  connect_timeout=connect_timeout, listen=listen)


def replica_name(name, index):
    """The vassal name of a router instance's replica ``index``: the instance's own name for replica 0
    (nothing changes with ``replicas: 1``), ``<name>.r<index>`` for the others."""
    return name if index == 0 else '%s.r%d' % (name, index)


def _replicas(router):
    """A router instance's replicas: replica i subscribes on subscription_port + i, serves stats on
    stats_port + i, and shares the instance's bind (reuse-port) when there are several."""
    out = []
    for i in range(router.replicas):
        subscription = stats = None
        if router.subscription is not None:
            host, port = router.subscription.rsplit(':', 1)
            subscription = '%s:%d' % (host, int(port) + i)
        if router.stats is not None:
            host, port = router.stats.rsplit(':', 1)
            stats = '%s:%d' % (host, int(port) + i)
        out.append(Replica(index=i, name=replica_name(router.name, i), subscription=subscription, stats=stats))
    return out


def _check_bind_address(value, path):
    value = check_str(value, path)
    if ':' in value:
        raise TopologyError(path, 'must be a numeric IPv4 address without a port, got %r: the router binds '
                            '<bind_address>:<port>, the port is the instance\'s port (IPv6 is not supported)' % value)
    if not _is_ipv4(value):
        raise TopologyError(path, 'must be a numeric IPv4 address of this host, or 0.0.0.0 for every address, got %r'
                            % value)
    return value


def _read_keys(value, path, target):
    if isinstance(value, list):
        if not value:
            raise TopologyError(path, 'must not be an empty list: leave keys out to serve every key')
        return [check_key(key, '%s[%d]' % (path, i), target) for i, key in enumerate(value)]
    return [check_key(value, path, target)]


def _read_algorithm(value, path, target):
    name = algorithms.NAMES.get(value) if isinstance(value, str) else None
    if name is None:
        raise TopologyError(path, 'must be one of %s, got %s' % (', '.join(ALGORITHMS), type_name(value)))
    if name in algorithms.MASTER_ONLY and not target.is_master:
        raise TopologyError(path, 'iphash exists only in uWSGI 2.1 (master, never released): 2.0 turns an unknown '
                            'algorithm silently into wrr; choose wrr, lrc or wlrc')
    return name


def _read_cert_pair(item, where, kind):
    """The operator's own certificate and key: both or neither (the keys role then makes both)."""
    cert, key = item.get('cert'), item.get('key')
    if cert is None and key is None:
        return None, None
    if kind not in TLS_TYPES:
        raise TopologyError('%s.%s' % (where, 'cert' if cert is not None else 'key'),
                            'applies to https and ssl routers only; this one is %s' % kind)
    if cert is None or key is None:
        missing, given = ('cert', 'key') if cert is None else ('key', 'cert')
        raise TopologyError('%s.%s' % (where, missing), 'is required with %s: key and cert come as a pair or not '
                            'at all (give neither and the keys role generates both, signed by the topology CA)'
                            % given)
    cert = _abs_path(cert, where + '.cert', 'on the router host')
    key = _abs_path(key, where + '.key', 'on the router host')
    if cert == key:
        raise TopologyError(where + '.key', 'must not be the certificate file %r' % cert)
    return cert, key


def _read_refs(value, path):
    """``resubscribe_to``: one reference or a list of them, each with where it was written."""
    if value is None:
        return []
    if isinstance(value, list):
        return [(check_str(ref, '%s[%d]' % (path, j)), '%s[%d]' % (path, j)) for j, ref in enumerate(value)]
    return [(check_str(value, path), path)]


# ---------------------------------------------------------------- reading: nodes


def _read_nodes(hosts, node_hosts, info, routers, play):
    nodes = []
    names = dict((replica.name, router.host) for router in routers.values() for replica in _replicas(router))
    for host in node_hosts:
        for path, item in _instances(hosts, host, 'uwsgi_node_instances', play.node_group):
            node = _read_node(host, path, item, info[host], play)
            if node.name in names:
                raise _err(host, path + '.name', 'instance name %r is already used on host %s'
                           % (node.name, names[node.name]))
            names[node.name] = host
            nodes.append(node)
    return nodes


def _read_node(host, path, item, host_info, play):
    where = 'host %s: %s' % (host, path)
    item = check_mapping(item, where, NODE_KEYS)
    name = _read_name(host, path, item)
    port = _required_port(item, 'port', where, 'the port of the node\'s uwsgi socket')
    processes = PROCESSES
    if item.get('processes') is not None:
        processes = check_int(item['processes'], where + '.processes', 1)
    wsgi_file = '%s/%s' % (host_info.paths['apps'], DEMO_APP)
    if item.get('wsgi_file') is not None:
        wsgi_file = _abs_path(item['wsgi_file'], where + '.wsgi_file', 'on the node host')
    callable_name = None
    if item.get('callable') is not None:
        callable_name = check_str(item['callable'], where + '.callable')
        if not _PYTHON_NAME.match(callable_name):
            raise TopologyError(where + '.callable', 'must be the name of the WSGI callable in wsgi_file (a Python '
                                'identifier), got %r' % callable_name)
    interval = play.announce_interval
    if item.get('announce_interval') is not None:
        interval = check_int(item['announce_interval'], where + '.announce_interval', 1)
    subscriptions = item.get('subscriptions')
    if subscriptions is None:
        subscriptions = []
    if not isinstance(subscriptions, list):
        raise TopologyError(where + '.subscriptions', 'must be a list, got %s' % type_name(subscriptions))
    extra = _read_spec(where, item.get('spec'), router=False)
    return Node(host=host, path=path, name=name, address=host_info.address, port=port, processes=processes,
                wsgi_file=wsgi_file, callable=callable_name, announce_interval=interval, subscriptions=subscriptions,
                extra=extra, paths=host_info.paths, build=host_info.build)


def _read_spec(where, value, router):
    """An instance's ``spec``: what its fields cannot say, added to (never replacing) the planner's spec."""
    if value is None:
        return _NO_EXTRA
    base = where
    where += '.spec'
    spec = check_mapping(value, where, SPEC_EXTRA_KEYS)
    extra_router = spec.get('router')
    forward_to, forward_single = None, False
    if extra_router is not None:
        if not router:
            raise TopologyError(where + '.router', 'applies to router instances only')
        if not isinstance(extra_router, dict):
            raise TopologyError(where + '.router', 'must be a mapping of the router\'s own spec keys (forward_to, '
                                'basic_params, connections_params, ...; see docs/spec-reference.md), got %s'
                                % type_name(extra_router))
        extra_router = dict(extra_router)
        if extra_router.get('forward_to') is not None:
            forward_to = extra_router.pop('forward_to')
            forward_single = not isinstance(forward_to, list)
            forward_to = [forward_to] if forward_single else list(forward_to)
    subscriptions = spec.get('subscriptions')
    if subscriptions is not None and not isinstance(subscriptions, dict):
        raise TopologyError(where + '.subscriptions', 'must be a mapping (server_params, server_verification_params, '
                            'client_params, subscribe), got %s' % type_name(subscriptions))
    options = _read_extra_options(spec.get('options'), base, {} if router else NODE_OWN_OPTIONS)
    plugins = spec.get('plugins')
    plugins_single = plugins is not None and not isinstance(plugins, list)
    if plugins is None:
        plugins = []
    elif plugins_single:
        plugins = [check_str(plugins, where + '.plugins')]
    else:
        plugins = [check_str(name, '%s.plugins[%d]' % (where, i)) for i, name in enumerate(plugins)]
    return Extra(router=extra_router, forward_to=forward_to, forward_single=forward_single,
                 subscriptions=subscriptions, options=options, plugins=plugins, plugins_single=plugins_single)


def _read_extra_options(value, base, own):
    """``spec.options`` (a mapping or a list of [name, value] pairs) -> ``[[name, value, origin], ...]``,
    appended after the planner's own options; an option the planner writes from a field is refused."""
    if value is None:
        return []
    where = base + '.spec.options'
    if isinstance(value, dict):
        items = [(name, value[name], '.spec.options.%s' % name) for name in value]
    elif isinstance(value, list):
        items = []
        for i, pair in enumerate(value):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise TopologyError('%s[%d]' % (where, i), 'must be a [name, value] pair, got %s' % type_name(pair))
            items.append((pair[0], pair[1], '.spec.options[%d]' % i))
    else:
        raise TopologyError(where, 'must be a mapping or a list of [name, value] pairs, got %s' % type_name(value))
    out = []
    for name, option_value, origin in items:
        if not isinstance(name, str) or not _OPTION_NAME.match(name):
            raise TopologyError(base + origin, 'option name %s is not a uWSGI option name' % type_name(name))
        if name in own:
            raise TopologyError(base + origin, '%r is written by the planner from the instance\'s %s: set %s '
                                'instead' % (name, own[name], own[name]))
        out.append([name, option_value, origin])
    return out


# ---------------------------------------------------------------- federation and subscriptions


def _resolve_federation(routers, groups):
    """Router name -> the routers it resubscribes to (``resubscribe_to``), checked and acyclic."""
    federation = {}
    for router in routers.values():
        targets = []
        for ref, where in router.resubscribe_to:
            for target in _resolve_routers(ref, routers, groups, where):
                if target.subscription is None:
                    raise TopologyError(where, 'router %r has no subscription_port to resubscribe to' % target.name)
                if target.replicas > 1:
                    raise TopologyError(where, 'router %r has %d replicas: federation into replicated routers is '
                                        'not supported (the edge would resubscribe to one replica only); set '
                                        'replicas: 1 on it or do not federate into it'
                                        % (target.name, target.replicas))
                if target.secured:
                    raise TopologyError(where, 'router %r checks signatures, but uWSGI 2.0 forwards resubscriptions '
                                        'unsigned: it would reject every node; set secured: false on it or do not '
                                        'federate into it' % target.name)
                if target.name not in [t.name for t in targets]:
                    targets.append(target)
        federation[router.name] = targets
    _check_acyclic(routers, federation)
    return federation


def _check_acyclic(routers, federation):
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
        for target in federation[router.name]:
            visit(target, chain + [router.name])
        state[router.name] = 'done'

    for name in sorted(routers):
        visit(routers[name], [])


def _resolve_routers(ref, routers, groups, where):
    """A router reference: an instance name, an inventory host (all its routers) or a group."""
    ref = check_str(ref, where)
    if ref in routers:
        return [routers[ref]]
    on_host = [r for r in routers.values() if r.host == ref]
    if on_host:
        return on_host
    members = groups.get(ref)
    if isinstance(members, list):
        found = [r for r in routers.values() if r.host in members]
        if found:
            return found
    raise TopologyError(where, '%r names no router instance, router host or group with routers (known routers: '
                        '%s)' % (ref, ', '.join(sorted(routers)) or 'none'))


def _read_subscriptions(nodes, routers, groups, play):
    """Every node's subscriptions, one per (node, router, key), checked against the router."""
    out = []
    for node in nodes:
        seen = {}
        first_weight = None
        for j, item in enumerate(node.subscriptions):
            path = '%s.subscriptions[%d]' % (node.path, j)
            where = 'host %s: %s' % (node.host, path)
            item = check_mapping(item, where, SUBSCRIPTION_KEYS)
            for name in ('router', 'key'):
                if item.get(name) is None:
                    raise TopologyError('%s.%s' % (where, name), 'is required')
            key = check_key(item['key'], where + '.key', play.target)
            weight = None if item.get('weight') is None else check_int(item['weight'], where + '.weight', 1)
            # uWSGI 2.0 keeps one weight per instance (the last subscribe2 parsed wins for every key).
            if first_weight is None:
                first_weight = (1 if weight is None else weight, j)
            elif not play.target.is_master and (1 if weight is None else weight) != first_weight[0]:
                raise TopologyError(where + '.weight', 'uWSGI 2.0 makes a subscription\'s weight global to the '
                                    'instance (the last one parsed wins for every key): subscriptions[%d] has '
                                    'weight %d, this one %d (unset means 1); give every subscription of this node '
                                    'the same weight, or run one node instance per weight'
                                    % (first_weight[1], first_weight[0], 1 if weight is None else weight))
            signed = None if item.get('signed') is None else check_bool(item['signed'], where + '.signed')
            sni = None if item.get('sni') is None else check_bool(item['sni'], where + '.sni')
            for router in _resolve_routers(item['router'], routers, groups, where + '.router'):
                out.append(_subscription(node, router, key, weight, signed, sni, path, where, seen))
    return out


def _subscription(node, router, key, weight, signed, sni, path, where, seen):
    if router.subscription is None:
        raise TopologyError(where + '.router', 'router %r has no subscription_port: it cannot receive subscriptions'
                            % router.name)
    if router.keys is not None and key not in router.keys:
        raise TopologyError(where + '.key', 'key %r is not served by router %r (its keys: %s)'
                            % (key, router.name, ', '.join(router.keys)))
    if signed is None:
        signed = router.secured
    elif signed != router.secured:
        raise TopologyError(where + '.signed', 'router %r %s signatures; a %s node would %s'
                            % (router.name, 'checks' if router.secured else 'does not check',
                               'signed' if signed else 'unsigned',
                               'be rejected without any log line' if router.secured else
                               'sign for nothing: set secured: true on the router'))
    if sni is None:
        sni = router.sni
    elif sni and router.type not in TLS_TYPES:
        raise TopologyError(where + '.sni', 'SNI certificates travel only to https and ssl routers; router %r is %s'
                            % (router.name, router.type))
    if (router.name, key) in seen:
        raise TopologyError(where + '.router', 'subscribes node %s to router %r with key %r a second time (also in '
                            '%s)' % (node.name, router.name, key, seen[(router.name, key)]))
    seen[(router.name, key)] = path
    return Subscription(node=node, router=router, key=key, weight=weight, signed=signed, sni=sni, path=path)


def _check_wrr_weights(routers, subscriptions):
    """uWSGI's wrr (the default algorithm) gives each live node ``weight // smallest weight``
    turns per cycle (2.0 core/subscription.c, uwsgi_subscription_algo_wrr): weights 2 and 3
    would split 1:1. Refuse a pool whose weights are not multiples of its smallest one."""
    pools = _group_by(subscriptions, lambda sub: (sub.router.name, sub.key))
    for (router_name, key), members in sorted(pools.items()):
        if (routers[router_name].algorithm or 'wrr') != 'wrr':
            continue
        weights = [1 if sub.weight is None else sub.weight for sub in members]
        smallest = min(weights)
        for sub, weight in zip(members, weights):
            if weight % smallest:
                raise _err(sub.node.host, sub.path + '.weight', 'router %r balances key %r with wrr, which gives '
                           'each node weight // smallest weight turns per cycle (uWSGI integer division): with '
                           'smallest weight %d, weight %d would act as %d; use multiples of the smallest weight, or '
                           'algorithm wlrc on the router' % (router_name, key, smallest, weight, weight // smallest))


def _pools(subscriptions, federation):
    """What each router's pools hold (``expect``: its direct subscribers, the nodes and the edges that
    resubscribe to it) and whose application answers through it (``answers``: every node reachable)."""
    expect, answers = {}, {}

    def add(table, router, key, address):
        members = table.setdefault(router, {}).setdefault(key, [])
        if address not in members:
            members.append(address)

    for sub in subscriptions:
        address = '%s:%d' % (sub.node.address, sub.node.port)
        add(expect, sub.router.name, sub.key, address)
        add(answers, sub.router.name, sub.key, address)
        # Each hop resubscribes with its own bind address (the socket name as written, cr_common.c):
        # a core's pool holds the edge directly below it, and the node answers through every hop.
        todo = [sub.router]
        while todo:
            below = todo.pop(0)
            for core in federation[below.name]:
                add(expect, core.name, sub.key, below.bind)
                add(answers, core.name, sub.key, address)
                todo.append(core)
    return expect, answers


# ---------------------------------------------------------------- building the plans


def _empty_plan(host_info):
    return {'address': host_info.address, 'paths': host_info.paths, 'routers': [], 'nodes': []}


def _router_plans(router, subs, cores, expect, answers, host_sni_keys, play):
    """The host plan's router entries of one instance: one per replica, each a router vassal."""
    return [_router_plan(router, replica, subs, cores, expect, answers, host_sni_keys, play)
            for replica in _replicas(router)]


def _router_plan(router, replica, subs, cores, expect, answers, host_sni_keys, play):
    paths = router.paths
    signed_keys = sorted(set(sub.key for sub in subs if sub.signed))
    sni_keys = sorted(set(sub.key for sub in subs if sub.sni))
    spec_router = {'type': router.type, 'bind': router.bind}
    if replica.subscription:
        spec_router['forward_to'] = {'type': 'subscription_server', 'address': replica.subscription}
    basic = {}
    if replica.stats:
        basic['stats_server'] = replica.stats
    if router.workers is not None:
        basic['workers'] = router.workers
    if router.buffer_size is not None:
        basic['buffer_size'] = router.buffer_size
    if basic:
        spec_router['basic_params'] = basic
    if router.connect_timeout is not None:
        spec_router['connections_params'] = {'timeout_backend': router.connect_timeout}
    cert = key = None
    if router.type in TLS_TYPES:
        cert = router.cert or '%s/%s.crt' % (paths['certs'], router.name)
        key = router.key or '%s/%s.key' % (paths['certs'], router.name)
        spec_router['cert'], spec_router['key'] = cert, key
        _check_certificate_files(router, cert, key, host_sni_keys)
    if router.type == 'ssl' and router.sni:
        # Without sslrouter-sni the ssl router's key is the address of the socket that took the
        # connection (sslrouter.c), so keys subscribed by name, with their SNI certificates,
        # would never be routed: route by the TLS servername.
        spec_router['use_sni'] = True
    if cores:
        spec_router['resubscription_params'] = {'addresses': [core.subscription for core in cores]}
    spec = {'routers': [spec_router]}
    subscriptions = {}
    server = {}
    if router.tolerance is not None:
        server['tolerance'] = router.tolerance
    if router.algorithm is not None:
        server['balancing_algo'] = router.algorithm
    if server:
        subscriptions['server_params'] = server
    # Each replica has its own directory of public keys (the same files): every vassal its own files.
    pubkeys = '%s/%s' % (paths['pubkeys'], replica.name)
    if router.secured:
        subscriptions['server_verification_params'] = {
            'digest_algo': play.digest, 'dir_cert': pubkeys, 'tolerance': router.sign_tolerance}
    if subscriptions:
        spec['subscriptions'] = subscriptions
    options, origins = [], []
    # Files the router loads when it starts: its certificate (read once, plugins/http/https.c:61) and the
    # SNI certificates its pools load once each (core/subscription.c:24-52, #581). The vassals module
    # writes a digest of them into the vassal file, so a renewed one reloads the router, replica after
    # replica (no touch-reload: that would reload every replica at the same moment).
    reload_on = ['%s/%s' % (paths['certs'], sni_file(sni_key, 'crt')) for sni_key in sni_keys]
    if cert:
        reload_on.append(cert)
    options.append(['listen', str(router.listen)])
    origins.append('.listen')
    if router.replicas > 1:
        # Several single-process routers on one address (../shared/OPERATIONS-FACTS.md §4): SO_REUSEPORT
        # on the bind lets each replica listen there, and the kernel spreads the connections.
        options.append(['reuse-port', 'true'])
        origins.append('.replicas')
        # A replica that (re)starts accepts no connection while it has no node (corerouter.c:672):
        # they wait in its backlog until its pools are refilled, instead of finding them empty.
        options.append([CHEAP_OPTION[router.type], 'true'])
        origins.append('.replicas')
    table = [
        (('routers', 0, 'type'), '.type'),
        (('routers', 0, 'bind'), '.bind_address' if router.bind_address != router.address else '.port'),
        (('routers', 0, 'forward_to'), '.subscription_port'),
        (('routers', 0, 'basic_params', 'stats_server'), '.stats_port'),
        (('routers', 0, 'basic_params', 'workers'), '.workers'),
        (('routers', 0, 'basic_params', 'buffer_size'), '.buffer_size'),
        (('routers', 0, 'connections_params', 'timeout_backend'), '.connect_timeout'),
        (('routers', 0, 'cert'), '.cert' if router.cert else '.type'),
        (('routers', 0, 'key'), '.key' if router.key else '.type'),
        (('routers', 0, 'use_sni'), '.sni'),
        (('routers', 0, 'resubscription_params'), '.resubscribe_to'),
        (('routers', 0), '.type'),
        (('subscriptions', 'server_params', 'tolerance'), '.tolerance'),
        (('subscriptions', 'server_params', 'balancing_algo'), '.algorithm'),
        (('subscriptions', 'server_verification_params', 'tolerance'), '.sign_tolerance'),
        (('subscriptions', 'server_verification_params'), '.secured'),
    ]
    if replica.index:
        table = [(tokens, '.replicas' if suffix in ('.subscription_port', '.stats_port') else suffix)
                 for tokens, suffix in table]
    spec = _compile_check(_Vassal(router, spec, options, origins, table), play)
    entry = {
        'name': replica.name, 'type': router.type, 'spec': spec, 'bind': router.bind,
        'subscription': replica.subscription, 'stats': replica.stats, 'secured': router.secured,
        'pubkey_dir': pubkeys if router.secured else None,
        'public_keys': [{'key': k, 'file': key_file_name(k)} for k in signed_keys],
        'sni_keys': sni_keys, 'cert': cert, 'key': key,
        # Replicas share the instance's certificate: generated (and placed) once, for replica 0.
        'cert_generated': router.type in TLS_TYPES and not router.cert and not replica.index,
        'expect': expect, 'answers': answers, 'path': router.path, 'reload_on': reload_on,
        'replicas': router.replicas, 'listen': router.bind,
        # The certificate a TLS client asking for each key by name must be shown (on the router's host).
        'certificates': dict(
            (k, '%s/%s' % (paths['certs'], sni_file(k, 'crt')) if k in sni_keys else cert)
            for k in sorted(set(expect) | set(answers))) if cert else {},
    }
    if router.replicas > 1:
        # Only with replicas, so that a plan without them is unchanged: the instance and this replica's index.
        entry['replica_of'] = router.name
        entry['replica'] = replica.index
    return entry


def _check_certificate_files(router, cert, key, host_sni_keys):
    """The router's certificate and key must not be files the keys role places for an SNI key."""
    certs = router.paths['certs']
    for sni_key in sorted(host_sni_keys):
        for name, value, extension in (('cert', cert, 'crt'), ('key', key, 'key')):
            if value == '%s/%s' % (certs, sni_file(sni_key, extension)):
                field = name if getattr(router, name) else 'name'
                raise _err(router.host, '%s.%s' % (router.path, field), '%s %r is also the file of key %r\'s SNI '
                           '%s on this host: %s' % ('certificate' if name == 'cert' else 'private key', value, sni_key,
                                                    'certificate' if name == 'cert' else 'key',
                                                    'give another path' if field != 'name' else
                                                    'rename the router (its generated files are named after it)'))


def _node_plan(node, subs, play, expect):
    paths = node.paths
    address = '%s:%d' % (node.address, node.port)
    options = [['socket', address], ['processes', str(node.processes)], ['wsgi-file', node.wsgi_file]]
    origins = ['.port', '.processes', '.wsgi_file']
    if node.callable is not None:
        options.append(['callable', node.callable])
        origins.append('.callable')
    # Not UWSGI_*: a reloading master reads every UWSGI_<NAME> variable back as an option.
    options.append(['env', 'TOPOLOGY_NODE=%s' % node.name])
    origins.append('.name')
    # The master FIFO the drain module writes S to (block or resume the node's announces, core/fifo.c:40-49).
    fifo = '%s/%s.fifo' % (paths['run'], node.name)
    options.append(['master-fifo', fifo])
    origins.append('.name')
    # Safe defaults for changes (../shared/OPERATIONS-FACTS.md §2): SIGTERM stops the node instead
    # of reloading it brutally (2.0 core/master.c:345-353), and an application that does not load
    # stops it instead of joining its pools to answer every request with an error.
    options.extend([['die-on-term', 'true'], ['need-app', 'true']])
    origins.extend(['.name', '.wsgi_file'])
    # A graceful reload (touch, SIGHUP, the Emperor's) takes the node out of its pools first and it
    # rejoins as soon as it is up (core/master.c:513): the router stops sending it requests that
    # would queue. Not for a key's only node: its pool would be empty for the reload, and requests
    # queued on the reloading node complete, while a request for an empty pool gets no answer.
    if all(len(expect.get(sub.router.name, {}).get(sub.key, ())) > 1 for sub in subs):
        options.append(['unsubscribe-on-graceful-reload', 'true'])
        origins.append('.subscriptions')
    subscribe = []
    private_keys = set()
    table = [(('subscriptions', 'client_params', 'announce_interval'), '.announce_interval'),
             (('subscriptions', 'subscribe'), '.subscriptions')]
    for sub in subs:
        router = sub.router
        # A node subscribes to every replica of the router, each on its own subscription server.
        for replica in _replicas(router):
            i = len(subscribe)
            entry = {'server': replica.subscription, 'key': sub.key, 'address': address}
            if sub.weight is not None:
                entry['balancing_weight'] = sub.weight
            if sub.signed:
                entry['signing'] = [play.digest, '%s/%s' % (paths['keys'], key_file_name(sub.key))]
                private_keys.add(sub.key)
            if sub.sni:
                certs = router.paths['certs']
                entry['sni_cert'] = '%s/%s' % (certs, sni_file(sub.key, 'crt'))
                entry['sni_key'] = '%s/%s' % (certs, sni_file(sub.key, 'key'))
            subscribe.append(entry)
            suffix = sub.path[len(node.path):]
            for name, field in (('server', '.router'), ('key', '.key'), ('balancing_weight', '.weight'),
                                ('signing', '.signed'), ('sni_cert', '.sni'), ('sni_key', '.sni')):
                table.append((('subscriptions', 'subscribe', i, name), suffix + field))
            table.append((('subscriptions', 'subscribe', i), suffix))
    spec = {'options': options, 'plugins': ['python3']}
    if subscribe:
        subscriptions = {'subscribe': subscribe}
        if node.announce_interval is not None:
            subscriptions['client_params'] = {'announce_interval': node.announce_interval}
        spec['subscriptions'] = subscriptions
    spec = _compile_check(_Vassal(node, spec, options, origins, table), play)
    return {'name': node.name, 'spec': spec, 'address': address, 'private_keys': sorted(private_keys),
            'path': node.path, 'fifo': fifo}


# One generated vassal before the instance's spec is added: the planner's spec, its raw options with
# the field each comes from, and a table of compiled-spec paths -> the instance field they come from.
_Vassal = collections.namedtuple('_Vassal', 'instance spec options origins table')


def _compile_check(vassal, play):
    """Add the instance's ``spec`` to the planner's and compile the result once for the host's version and
    build, so that errors surface before any change; each names the field (or ``spec`` part) at fault."""
    instance, extra = vassal.instance, vassal.instance.extra
    where = 'host %s: %s' % (instance.host, instance.path)
    spec = dict(vassal.spec)
    offsets = {}
    field_of = _field_finder(vassal.table)
    if extra.router is not None or extra.forward_to is not None:
        spec_router = dict(spec['routers'][0])
        if extra.forward_to is not None:
            # More forwarders come after the subscription server; a mapping merged into the
            # planner's forwarder would turn it into another, broken one.
            mine = spec_router.get('forward_to')
            mine = [] if mine is None else [mine]
            offsets[('routers', 0, 'forward_to')] = len(mine)
            spec_router['forward_to'] = mine + extra.forward_to
        if extra.router is not None:
            spec_router = _merge(spec_router, extra.router, where + '.spec.router', ('routers', 0), offsets,
                                 field_of)
        spec['routers'] = [spec_router]
    if extra.subscriptions is not None:
        merged = _merge(spec.get('subscriptions') or {}, extra.subscriptions, where + '.spec.subscriptions',
                        ('subscriptions',), offsets, field_of)
        if merged:
            spec['subscriptions'] = merged
    if extra.plugins:
        mine = spec.get('plugins') or []
        offsets[('plugins',)] = len(mine)
        spec['plugins'] = mine + extra.plugins
    options, origins = list(vassal.options), list(vassal.origins)
    for name, value, origin in extra.options:
        options.append([name, value])
        origins.append(origin)
    if options:
        spec['options'] = options
    try:
        compile_options(spec, version=play.version, build=instance.build)
    except TopologyError as error:
        suffix = _blame(error, extra, offsets, origins, field_of)
        if suffix is None:
            raise TopologyError(where, 'the generated vassal is invalid: %s' % error)
        raise TopologyError(where + suffix, error.message)
    return spec


def _merge(base, extra, where, trail, offsets, field_of):
    """Deep-merge the operator's ``extra`` into the planner's ``base``: mappings merge, lists are appended
    (their offset noted), and a value the planner set from an instance field is never replaced."""
    out = dict(base)
    for key, value in extra.items():
        here, at = trail + (key,), '%s.%s' % (where, key)
        mine = out.get(key)
        if value is None:
            continue
        if mine is None:
            out[key] = value
        elif isinstance(mine, dict):
            if not isinstance(value, dict):
                raise TopologyError(at, 'must be a mapping, got %s' % type_name(value))
            out[key] = _merge(mine, value, at, here, offsets, field_of)
        elif isinstance(mine, list):
            if isinstance(value, dict):
                raise TopologyError(at, 'must be a list, got %s' % type_name(value))
            offsets[here] = len(mine)
            out[key] = mine + (value if isinstance(value, list) else [value])
        elif mine != value:
            field = field_of(here)
            raise TopologyError(at, 'would replace %r, which the planner sets%s: change that instead (spec adds what '
                                'the instance fields cannot say, it never overrides them)'
                                % (mine, ' from the instance\'s %s' % field[1:] if field else ''))
    return out


def _field_finder(table):
    def field_of(tokens):
        best, found = -1, None
        for prefix, suffix in table:
            if tuple(tokens[:len(prefix)]) == prefix and len(prefix) > best:
                best, found = len(prefix), suffix
        return found
    return field_of


def _blame(error, extra, offsets, origins, field_of):
    """The inventory path suffix (after the instance's path) a compile error comes from, or None."""
    tokens = [int(index) if index else name for name, index in _TOKEN.findall(error.path or '')]
    if not tokens:
        return None
    if tokens[0] == 'options':
        if len(tokens) > 1 and isinstance(tokens[1], int) and tokens[1] < len(origins):
            return origins[tokens[1]]
        return '.spec.options' if extra.options else None
    written = _operator_path(tokens, extra, offsets)
    if written is not None:
        return written
    return field_of(tokens)


def _operator_path(tokens, extra, offsets):
    """``tokens`` (a compiled-spec path) as written in the instance's spec, or None when it is the planner's."""
    if tokens[:2] == ['routers', 0]:
        if len(tokens) > 2 and tokens[2] == 'forward_to' and extra.forward_to is not None:
            out = '.spec.router.forward_to'
            node, rest, offset = extra.forward_to, tokens[3:], offsets.get(('routers', 0, 'forward_to'), 0)
            if not rest:
                return out
            if not isinstance(rest[0], int) or not 0 <= rest[0] - offset < len(node):
                return None
            if not extra.forward_single:
                out += '[%d]' % (rest[0] - offset)
            return _walk(out, node[rest[0] - offset], rest[1:], ('routers', 0, 'forward_to', rest[0]), offsets)
        if extra.router is None:
            return None
        return _walk('.spec.router', extra.router, tokens[2:], ('routers', 0), offsets)
    if tokens[0] == 'subscriptions' and extra.subscriptions is not None:
        return _walk('.spec.subscriptions', extra.subscriptions, tokens[1:], ('subscriptions',), offsets)
    if tokens[0] == 'plugins' and extra.plugins:
        offset = offsets.get(('plugins',), 0)
        if len(tokens) > 1 and isinstance(tokens[1], int) and tokens[1] >= offset:
            return '.spec.plugins' + ('' if extra.plugins_single else '[%d]' % (tokens[1] - offset))
        return '.spec.plugins' if len(tokens) == 1 else None
    return None


def _walk(out, node, tokens, trail, offsets):
    for token in tokens:
        if isinstance(token, int):
            index = token - offsets.get(trail, 0)
            if not isinstance(node, list) or not 0 <= index < len(node):
                return None
            node, out = node[index], '%s[%d]' % (out, index)
        else:
            if not isinstance(node, dict) or token not in node:
                return None
            node, out = node[token], '%s.%s' % (out, token)
        trail += (token,)
    return out


def _check_ports(plans, info):
    """No two instances on one machine (one advertise address) claim the same TCP or UDP port; the replicas of
    one router instance share its bind (reuse-port) and claim a subscription and a stats port each."""
    claimed = {}
    for host in sorted(plans):
        plan = plans[host]
        address = info[host].address
        claims = []
        for router in plan['routers']:
            # The bind may be shared by the replicas of one instance, and only by them.
            shared = router.get('replica_of')
            replica = '.replicas' if router.get('replica') else None
            claims.append(('tcp', router['bind'], router['name'], router['path'] + '.port', shared))
            if router['subscription']:
                claims.append(('udp', router['subscription'], router['name'],
                               router['path'] + (replica or '.subscription_port'), None))
            if router['stats']:
                claims.append(('tcp', router['stats'], router['name'], router['path'] + (replica or '.stats_port'),
                               None))
        for node in plan['nodes']:
            claims.append(('tcp', node['address'], node['name'], node['path'] + '.port', None))
        for proto, addr, name, var, shared in claims:
            port = addr.rsplit(':', 1)[1]
            key = (address, proto, port)
            if key in claimed:
                other = claimed[key]
                if shared is not None and other[2] == shared:
                    continue
                raise _err(host, var, '%s port %s on %s (instance %s) is already claimed by instance %s (host %s)'
                           % (proto.upper(), port, address, name, other[1], other[0]))
            claimed[key] = (host, name, shared)


def _summarize(plans, routers, nodes, subscriptions, federation, play):
    for plan in plans.values():
        plan['private_keys'] = sorted(set(k for n in plan['nodes'] for k in n['private_keys']))
        plan['sni_keys'] = sorted(set(k for r in plan['routers'] for k in r['sni_keys']))
    return {'hosts': plans, 'keys': sorted(set(sub.key for sub in subscriptions if sub.signed)),
            'sni_keys': sorted(set(sub.key for sub in subscriptions if sub.sni)),
            'routers': sorted(routers), 'nodes': [n.name for n in nodes],
            'warnings': _exposure_warnings(routers, federation), 'digest': play.digest}


def _exposure_warnings(routers, federation):
    """What the plan allows but an operator must know: where uWSGI 2.0 takes unsigned packets.

    An unsecured router whose subscription server listens beyond loopback lets anyone who reaches
    the port add nodes to any key or remove them. A secured edge that resubscribes forwards every
    packet it receives to its cores unsigned, also the ones it refused (plugins/corerouter/cr_common.c
    of the uwsgi-2.0 branch runs the resubscribe block whatever uwsgi_add_subscribe_node returned),
    so its signature check protects its own pools only.
    """
    edges = {}
    for name in routers:
        for core in federation[name]:
            edges.setdefault(core.name, []).append(name)
    warnings = []
    for name in sorted(routers):
        router = routers[name]
        where = 'host %s: %s' % (router.host, router.path)
        if router.subscription is not None and not router.secured and not router.address.startswith('127.'):
            on = router.subscription
            if router.replicas > 1:
                on += ' to %d (its replicas)' % (int(on.rsplit(':', 1)[1]) + router.replicas - 1)
            text = ('%s (router %s) takes unsigned subscriptions on %s: whoever reaches that port can add a node '
                    'to any key or unsubscribe one' % (where, name, on))
            if name in edges:
                text += (' (it cannot check signatures: uWSGI 2.0 resubscribes unsigned, and its edges %s forward '
                         'every packet they receive)' % ', '.join(sorted(edges[name])))
            warnings.append(text + '; keep the port on a network only your nodes and routers reach')
        if router.stats is not None and not router.stats.startswith('127.'):
            warnings.append('%s.stats_address (router %s): its stats server on %s lists every key and node of its '
                            'pools to whoever reaches it, without authentication; keep it on a network only your '
                            'hosts and your monitoring reach' % (where, name, router.stats))
        if router.secured and federation[name]:
            warnings.append('%s.resubscribe_to (router %s): uWSGI 2.0 forwards every subscription packet this '
                            'edge receives to %s unsigned, also the ones its signature check refused; signatures '
                            'protect this edge\'s own pools only'
                            % (where, name, ', '.join(core.name for core in federation[name])))
    return warnings


# ---------------------------------------------------------------- small helpers


def _err(host, path, message):
    return TopologyError('host %s: %s' % (host, path), message)


def _play(name, message):
    return TopologyError('play variable %s' % name, message)


def _rebase(error, old, new):
    """``error`` (path ``old...``) with its path moved under ``new``."""
    path = error.path or ''
    rest = path[len(old):] if path.startswith(old) else ('.' + path if path else '')
    return TopologyError(new + rest, error.message)


def _check_prefix(value, path):
    value = check_str(value, path)
    if not value.startswith('/'):
        raise TopologyError(path, 'must be an absolute path, got %r' % value)
    stripped = value.rstrip('/')
    if not stripped:
        raise TopologyError(path, 'must not be the root directory: every file of the topology goes under it')
    return stripped


def _abs_path(value, path, where):
    value = check_str(value, path)
    if not value.startswith('/'):
        raise TopologyError(path, 'must be an absolute path %s, got %r' % (where, value))
    return value


def _is_ipv4(value):
    return bool(_IPV4.match(value)) and all(int(part) <= 255 for part in value.split('.'))


def _required_port(item, name, where, meaning):
    if item.get(name) is None:
        raise TopologyError('%s.%s' % (where, name), 'is required: %s' % meaning)
    return check_int(item[name], '%s.%s' % (where, name), 1, 65535)


def _read_name(host, path, item):
    """An instance's name: required; letters, digits, dot, underscore or dash."""
    if item.get('name') is None:
        raise _err(host, path + '.name', 'is required')
    name = check_str(item['name'], 'host %s: %s.name' % (host, path))
    if not _NAME.match(name):
        raise _err(host, path + '.name', 'must be letters, digits, ".", "_" or "-", got %r' % name)
    return name


def _instances(hosts, host, variable, group):
    """``(path, item)`` of each instance in a host's ``uwsgi_router_instances`` or ``uwsgi_node_instances``."""
    items = hosts[host].get(variable)
    if items is None:
        raise _err(host, variable, 'is required for a host in the %s group' % group)
    if not isinstance(items, list):
        raise _err(host, variable, 'must be a list, got %s' % type_name(items))
    return [('%s[%d]' % (variable, i), item) for i, item in enumerate(items)]


def _group_by(items, key):
    out = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return out


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
