# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A picture of the topology, from the plan: one graph model, drawn as Graphviz DOT or Mermaid.

``build_graph(plan, pools=None)`` reads the plan that ``topology.plan_topology`` returned (the
``uwsgi.topology.topology_plan`` filter's output; the manifests are not needed) and returns the
graph as plain data:

* ``clusters``: one per inventory host (its name and address), inside it one per router instance
  (type, the address clients connect to, its subscription and stats servers, whether it checks
  signatures, its balancing algorithm and replicas);
* ``vertices``: inside each router one *pool* per subscription key (the key, and whether its SNI
  certificate travels with the subscriptions), inside each host its *nodes* (name, address), and
  the subscription servers the plan names but does not run (an operator's ``spec``);
* ``edges``: each node's subscription to a router's pool (weight, signed or not, SNI) and each
  federation edge (the pool of an edge router resubscribing to the same key's pool of its core,
  with the address the core's pool holds for it).

``to_dot(graph)`` and ``to_mermaid(graph)`` render it; both give the same text for the same plan
(everything is sorted, identifiers are assigned in that order) and escape what the inventory wrote
(keys may hold quotes, ``<``, ``#``, backslashes) for their format.

The live variant: ``pools`` says what the routers' stats servers hold, and every planned member of
every pool is drawn present, missing (red, dashed), dead (death-marked; drawn as missing) or not
read (grey, dotted: no stats for that router), members nobody planned as unexpected (orange), with
a legend. ``pools`` is one of:

* a mapping router -> what was read from it: a result of the ``uwsgi.topology.router_info`` or
  ``uwsgi.topology.verify_router`` module (its ``pools``; a failed read without pools draws the
  router as not read), a list of pools as those modules return them, or a simple mapping
  key -> [node addresses or names present];
* a list of such module results, each naming its router (``verify_router``'s ``router``, or the
  ``item.router`` of a loop over a manifest's ``verify`` entries), or a registered loop itself
  (``{'results': [...]}``).

Routers are named by instance name; a replica (``replicas: N``) by its own name (``edge.r1``), its
instance counting a member missing when one replica misses it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

FORMATS = ('dot', 'mermaid')

# Statuses of the live variant, worst first for a member read through several replicas.
MISSING, DEAD, PRESENT, UNKNOWN, UNEXPECTED = 'missing', 'dead', 'present', 'unknown', 'unexpected'
_RANK = {MISSING: 0, DEAD: 1, PRESENT: 2}

# Colours (fill, line) shared by both renderers.
_KEY_COLOURS = (('#e3f2fd', '#1565c0'), ('#fff8e1', '#f9a825'), ('#f3e5f5', '#6a1b9a'), ('#e0f2f1', '#00695c'),
                ('#fce4ec', '#ad1457'), ('#f1f8e9', '#558b2f'), ('#ede7f6', '#4527a0'), ('#e0f7fa', '#00838f'))
_STATUS_COLOURS = {PRESENT: ('#e8f5e9', '#2e7d32'), MISSING: ('#ffebee', '#c62828'), DEAD: ('#ffebee', '#c62828'),
                   UNKNOWN: ('#f5f5f5', '#9e9e9e'), UNEXPECTED: ('#fff3e0', '#ef6c00')}
_STATUS_DASH = {MISSING: 'dashed', DEAD: 'dashed', UNKNOWN: 'dotted'}
_PLAIN = ('#ffffff', '#37474f')
_CLUSTER_COLOURS = {'host': ('#fafafa', '#90a4ae'), 'router': ('#eceff1', '#546e7a'), 'legend': ('#ffffff', '#90a4ae')}
_LEGEND = (
    (PRESENT, 'present: live in the router\'s stats (green)'),
    (MISSING, 'missing: planned, not live in the router\'s stats (red, dashed)'),
    (UNKNOWN, 'not read: no stats of this router (grey, dotted)'),
    (UNEXPECTED, 'unexpected: live in the router\'s stats, not planned (orange)'),
)


# Fields of a registered module result, besides "pools".
_RESULT_FIELDS = ('failed', 'skipped', 'msg', 'changed', 'invocation', 'item', 'unreachable', 'router')


class GraphError(TopologyError):
    """A plan or ``pools`` the picture cannot be drawn from; ``path`` names the value at fault."""


# ---------------------------------------------------------------- reading the plan


def _subscribe_entries(spec):
    subscriptions = (spec or {}).get('subscriptions') or {}
    entries = subscriptions.get('subscribe') or []
    entries = entries if isinstance(entries, list) else [entries]
    return [entry for entry in entries if isinstance(entry, dict)]


def _resubscribe_addresses(spec):
    out = []
    for router in (spec or {}).get('routers') or []:
        params = router.get('resubscription_params') if isinstance(router, dict) else None
        addresses = (params or {}).get('addresses') or []
        for address in addresses if isinstance(addresses, list) else [addresses]:
            if isinstance(address, str) and address not in out:
                out.append(address)
    return out


def _read_plan(plan):
    """Router instances and nodes of the plan, as ``(hosts, routers, nodes)``."""
    if not isinstance(plan, dict) or not isinstance(plan.get('hosts'), dict):
        raise GraphError('plan', 'must be the plan of the uwsgi.topology.topology_plan filter (a mapping with '
                                 '"hosts"), got %s' % type(plan).__name__)
    hosts, routers, nodes = [], {}, {}
    for host in sorted(plan['hosts']):
        host_plan = plan['hosts'][host]
        where = 'plan.hosts[%r]' % host
        if not isinstance(host_plan, dict) or not isinstance(host_plan.get('routers', []), list) \
                or not isinstance(host_plan.get('nodes', []), list):
            raise GraphError(where, 'must be a host plan with "routers" and "nodes" lists')
        hosts.append({'name': host, 'address': host_plan.get('address')})
        for index, entry in enumerate(host_plan.get('routers') or []):
            _read_router(routers, host, entry, '%s.routers[%d]' % (where, index))
        for index, entry in enumerate(host_plan.get('nodes') or []):
            if not isinstance(entry, dict) or not isinstance(entry.get('name'), str):
                raise GraphError('%s.nodes[%d]' % (where, index), 'must be a node plan with a name')
            subscriptions = []
            for sub in _subscribe_entries(entry.get('spec')):
                if not isinstance(sub.get('server'), str) or not isinstance(sub.get('key'), str):
                    continue
                weight = sub.get('balancing_weight')
                subscriptions.append({'server': sub.get('server'), 'key': sub.get('key'),
                                      'weight': 1 if weight is None else weight, 'signed': bool(sub.get('signing')),
                                      'sni': bool(sub.get('sni_cert') or sub.get('sni_key'))})
            nodes[entry['name']] = {'name': entry['name'], 'host': host, 'address': entry.get('address'),
                                    'subscriptions': subscriptions}
    return hosts, routers, nodes


def _read_router(routers, host, entry, where):
    if not isinstance(entry, dict) or not isinstance(entry.get('name'), str):
        raise GraphError(where, 'must be a router plan with a name')
    name = entry.get('replica_of') or entry['name']
    spec = entry.get('spec') or {}
    router = routers.get(name)
    if router is None:
        server = (spec.get('subscriptions') or {}).get('server_params') or {}
        verification = (spec.get('subscriptions') or {}).get('server_verification_params') or {}
        router = routers[name] = {
            'name': name, 'host': host, 'type': entry.get('type'), 'bind': entry.get('bind'),
            'secured': bool(entry.get('secured')), 'digest': verification.get('digest_algo'),
            'algorithm': server.get('balancing_algo'), 'replicas': [], 'servers': [], 'stats_servers': [],
            'expect': {}, 'sni_keys': sorted(entry.get('sni_keys') or []),
            'resubscribe': _resubscribe_addresses(spec)}
    router['replicas'].append(entry['name'])
    if entry.get('subscription'):
        router['servers'].append(entry['subscription'])
    if entry.get('stats'):
        router['stats_servers'].append(entry['stats'])
    for key, members in sorted((entry.get('expect') or {}).items()):
        pool = router['expect'].setdefault(key, [])
        for member in members or []:
            if member not in pool:
                pool.append(member)


# ---------------------------------------------------------------- reading what the routers hold


def _strings(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_result(value):
    """A module's result (as registered), not a mapping key -> [members]: it has a result's fields, whose
    values (booleans, messages) are no lists."""
    return isinstance(value, dict) and (
        isinstance(value.get('pools'), list) and all(isinstance(pool, dict) for pool in value['pools'])
        or any(field in value and not isinstance(value[field], list) for field in _RESULT_FIELDS))


def _observed_pools(value, where):
    """One router's stats as ``{key: {'live': set, 'dead': set}}``, or None when they could not be read."""
    if _is_result(value):
        if not isinstance(value.get('pools'), list):
            return None  # a failed read (router_info fails without pools when the server cannot be read)
        value = value['pools']
    out = {}
    if isinstance(value, list):
        for index, pool in enumerate(value):
            if not isinstance(pool, dict) or not isinstance(pool.get('key'), str) \
                    or not isinstance(pool.get('nodes') or [], list):
                raise GraphError('%s[%d]' % (where, index), 'must be a pool as uwsgi.topology.router_info or '
                                 'verify_router return it ({key, nodes: [...]}), got %r' % (pool,))
            seen = out.setdefault(pool['key'], {'live': set(), 'dead': set()})
            for node in pool.get('nodes') or []:
                if not isinstance(node, dict):
                    raise GraphError('%s[%d].nodes' % (where, index), 'must list mappings, got %r' % (node,))
                # verify_router: address, name, live; router_info: name is the address, death_mark.
                address = node.get('address') if 'address' in node else node.get('name')
                if not isinstance(address, str):
                    continue
                live = node['live'] if 'live' in node else not node.get('death_mark')
                seen['live' if live else 'dead'].add(address)
        return out
    if isinstance(value, dict):
        for key in sorted(value):
            if not isinstance(key, str) or not _strings(value[key]):
                raise GraphError('%s[%r]' % (where, key), 'must be a list of the node addresses or names present '
                                 'in the pool, got %r' % (value[key],))
            out[key] = {'live': set(value[key]), 'dead': set()}
        return out
    raise GraphError(where, 'must be a router_info or verify_router result, a list of pools or a mapping key -> '
                            '[node addresses or names], got %s' % type(value).__name__)


def _result_router(result, where):
    item = result.get('item')
    if isinstance(item, dict) and isinstance(item.get('router'), str):
        return item['router']
    if isinstance(result.get('router'), str):
        return result['router']
    raise GraphError(where, 'names no router: a result must have "router" (verify_router) or come from a loop '
                            'over verify entries ("item.router")')


def _read_pools(pools, routers):
    """``{instance: {replica: observed or None}}`` for the routers ``pools`` names."""
    replica_of = {}
    for router in routers.values():
        for replica in router['replicas']:
            replica_of[replica] = router['name']
    if isinstance(pools, dict) and isinstance(pools.get('results'), list) and 'results' not in replica_of:
        pools = pools['results']
    named = []
    if isinstance(pools, dict):
        named = [(name, pools[name], 'pools[%r]' % (name,)) for name in sorted(pools, key=str)]
    elif isinstance(pools, list):
        for index, result in enumerate(pools):
            where = 'pools[%d]' % index
            if not isinstance(result, dict):
                raise GraphError(where, 'must be a router_info or verify_router result, got %s'
                                 % type(result).__name__)
            named.append((_result_router(result, where), result, where))
    else:
        raise GraphError('pools', 'must be a mapping router -> pools, or a list of router_info or verify_router '
                                  'results, got %s' % type(pools).__name__)
    out = {}
    for name, value, where in named:
        if isinstance(value, dict) and value.get('skipped') is True and 'pools' not in value:
            continue  # a loop item that did not run (a router without stats): not read
        if name not in replica_of:
            raise GraphError(where, 'router %r is not in the plan; its routers: %s'
                             % (name, ', '.join(sorted(replica_of)) or 'none'))
        out.setdefault(replica_of[name], {})[name] = _observed_pools(value, where)
    return out


def _member_status(observed, key, address, name):
    """PRESENT, DEAD or MISSING of one planned member in one replica's pools."""
    pool = observed.get(key)
    if pool is None:
        return MISSING
    if address in pool['live'] or name in pool['live']:
        return PRESENT
    if address in pool['dead'] or name in pool['dead']:
        return DEAD
    return MISSING


# ---------------------------------------------------------------- the graph


class _Ids(object):
    """Identifiers valid in both formats, assigned in the (sorted) order things are added."""

    def __init__(self):
        self.counts = {}

    def next(self, prefix):
        count = self.counts.get(prefix, 0)
        self.counts[prefix] = count + 1
        return '%s%d' % (prefix, count)


def build_graph(plan, pools=None):
    """The graph model of ``plan`` (plain data, see the module's documentation); with ``pools``, the live
    variant."""
    hosts, routers, nodes = _read_plan(plan)
    live = pools is not None
    observed = _read_pools(pools, routers) if live else {}
    ids = _Ids()
    graph = {'live': live, 'clusters': [], 'vertices': [], 'edges': []}
    keys = sorted(set(k for r in routers.values() for k in r['expect'])
                  | set(s['key'] for n in nodes.values() for s in n['subscriptions']))
    key_index = dict((key, i) for i, key in enumerate(keys))
    server_of = {}
    for name in sorted(routers):
        for server in routers[name]['servers']:
            server_of[server] = name
    node_vertex, pool_vertex, server_vertex, edges = {}, {}, {}, []
    counts = {MISSING: 0, UNEXPECTED: 0, UNKNOWN: 0}

    def vertex(prefix, cluster, label, kind, status=None, key=None):
        item = {'id': ids.next(prefix), 'cluster': cluster, 'label': label, 'kind': kind, 'status': status,
                'key': key}
        graph['vertices'].append(item)
        return item

    # Subscriptions of nodes, per router instance and key (a node subscribes to each replica: drawn once).
    subs_of = {}
    for name in sorted(nodes):
        for sub in nodes[name]['subscriptions']:
            target = server_of.get(sub['server'], ('server', sub['server']))
            subs_of.setdefault((target, sub['key']), {}).setdefault(name, sub)
    for name in sorted(routers):
        for key in set(k for (target, k) in subs_of if target == name):
            routers[name]['expect'].setdefault(key, [])

    for host in hosts:
        cluster = {'id': ids.next('h'), 'parent': None, 'kind': 'host', 'status': None,
                   'label': ['host %s' % host['name']] + ([host['address']] if host['address'] else [])}
        graph['clusters'].append(cluster)
        for name in sorted(r for r in routers if routers[r]['host'] == host['name']):
            router = routers[name]
            read = observed.get(name)
            readable = dict((r, v) for r, v in (read or {}).items() if v is not None)
            status = None
            if live and not readable:
                status = UNKNOWN
                counts[UNKNOWN] += 1
            inner = {'id': ids.next('r'), 'parent': cluster['id'], 'kind': 'router', 'status': status,
                     'label': _router_label(router, status, read)}
            graph['clusters'].append(inner)
            router['readable'], router['cluster'] = readable, inner['id']
            for key in sorted(router['expect']):
                label = [key] + (['SNI certificate'] if key in router['sni_keys'] else [])
                pool_status = None
                if live:
                    pool_status = UNKNOWN if not readable else (
                        MISSING if all(key not in seen for seen in readable.values()) else PRESENT)
                    if pool_status == MISSING:
                        label.append('no such pool')
                pool_vertex[(name, key)] = vertex('p', inner['id'], label, 'pool', pool_status, key_index[key])
            if not router['expect']:
                vertex('p', inner['id'], ['no pools'], 'empty')
        for name in sorted(n for n in nodes if nodes[n]['host'] == host['name']):
            node = nodes[name]
            node_vertex[name] = vertex('n', cluster['id'], [name] + ([node['address']] if node['address'] else []),
                                       'node')

    def member_status(router_name, key, address, member_name):
        router = routers[router_name]
        if not live:
            return None, []
        if not router['readable']:
            return UNKNOWN, []
        found = dict((replica, _member_status(seen, key, address, member_name))
                     for replica, seen in sorted(router['readable'].items()))
        worst = min(found.values(), key=lambda status: _RANK[status])
        if worst == PRESENT:
            return PRESENT, []
        counts[MISSING] += 1
        word = 'MISSING' if worst == MISSING else 'DEAD'
        if len(router['replicas']) > 1:
            word += ' (%s)' % ', '.join(replica for replica in sorted(found) if found[replica] != PRESENT)
        return worst, [word]

    # Subscriptions: node -> pool.
    for name in sorted(nodes):
        node = nodes[name]
        statuses = []
        for target, key in sorted(set((server_of.get(s['server'], ('server', s['server'])), s['key'])
                                      for s in node['subscriptions']), key=_target_order):
            sub = subs_of[(target, key)][name]
            label = ['weight %s, %s%s' % (sub['weight'], 'signed' if sub['signed'] else 'unsigned',
                                          ', SNI' if sub['sni'] else '')]
            if isinstance(target, tuple):
                head = _server_vertex(server_vertex, vertex, target[1])
                status, extra = None, []
            else:
                head = pool_vertex[(target, key)]
                status, extra = member_status(target, key, node['address'], name)
                statuses.append(status)
            if isinstance(target, tuple):
                label = ['%s, key %s' % (label[0], key)]
            edges.append(_edge(node_vertex[name], head, 'subscription', label + extra, status))
        if live:
            node_vertex[name]['status'] = _node_status(statuses)

    # Federation: an edge's pool -> the same key's pool of each router it resubscribes to.
    for name in sorted(routers):
        router = routers[name]
        for address in router['resubscribe']:
            core = server_of.get(address)
            for key in sorted(router['expect']):
                tail = pool_vertex[(name, key)]
                if core is None:
                    head = _server_vertex(server_vertex, vertex, address)
                    edges.append(_edge(tail, head, 'resubscribe', ['resubscribe as %s, key %s'
                                                                   % (router['bind'], key)], None))
                    continue
                head = pool_vertex.get((core, key))
                if head is None:
                    continue
                status, extra = member_status(core, key, router['bind'], name)
                edges.append(_edge(tail, head, 'resubscribe', ['resubscribe as %s' % router['bind']] + extra, status))

    if live:
        _unexpected(graph, routers, nodes, pool_vertex, node_vertex, key_index, vertex, edges, counts)
    graph['edges'] = edges
    graph['title'] = _title(routers, nodes, keys, live, counts)
    if live:
        legend = {'id': ids.next('g'), 'parent': None, 'kind': 'legend', 'status': None,
                  'label': ['legend (%s)' % graph['title'][1]]}
        graph['clusters'].append(legend)
        for status, text in _LEGEND:
            vertex('g', legend['id'], [text], 'legend', status)
    return graph


def _target_order(item):
    target, key = item
    return (1, target[1], key) if isinstance(target, tuple) else (0, target, key)


def _server_vertex(server_vertex, vertex, address):
    if address not in server_vertex:
        server_vertex[address] = vertex('s', None, ['subscription server %s' % address, 'not a router of the plan'],
                                        'external')
    return server_vertex[address]


def _edge(tail, head, kind, label, status):
    return {'source': tail['id'], 'target': head['id'], 'kind': kind, 'label': label, 'status': status}


def _node_status(statuses):
    if not statuses:
        return None
    read = [status for status in statuses if status != UNKNOWN]
    if not read:
        return UNKNOWN
    return MISSING if any(status in (MISSING, DEAD) for status in read) else PRESENT


def _router_label(router, status, read):
    label = ['%s: %s router' % (router['name'], router['type'])]
    if router['bind']:
        label.append('clients %s' % router['bind'])
    if router['servers']:
        signed = 'signed, %s' % router['digest'] if router['secured'] and router['digest'] else 'unsigned'
        label.append('subscriptions %s (%s)' % (_addresses(router['servers']), signed))
    if router['stats_servers']:
        label.append('stats %s' % _addresses(router['stats_servers']))
    if router['algorithm']:
        label.append('balancing %s' % router['algorithm'])
    if len(router['replicas']) > 1:
        label.append('%d replicas: %s' % (len(router['replicas']), ', '.join(router['replicas'])))
    if status == UNKNOWN:
        label.append('stats not read' if read is None else 'stats unreadable')
    elif read and None in read.values():
        # Some replicas read, others not: their members are judged by the replicas read.
        label.append('stats unreadable: %s' % ', '.join(sorted(r for r in read if read[r] is None)))
    return label


def _addresses(addresses):
    """Replicas' servers (ports + i on one address) as ``host:first-last``, others joined by commas."""
    hosts = set(address.rpartition(':')[0] for address in addresses)
    ports = [address.rpartition(':')[2] for address in addresses]
    if len(addresses) > 1 and len(hosts) == 1 and all(port.isdigit() for port in ports) \
            and [int(port) for port in ports] == list(range(int(ports[0]), int(ports[0]) + len(ports))):
        return '%s:%s-%s' % (hosts.pop(), ports[0], ports[-1])
    return ', '.join(addresses)


def _unexpected(graph, routers, nodes, pool_vertex, node_vertex, key_index, vertex, edges, counts):
    """Members live in a router's stats that the plan does not put there, and pools it does not plan."""
    by_address = {}
    for name in sorted(nodes):
        by_address.setdefault(nodes[name]['address'], name)
        by_address.setdefault(name, name)
    planned_members = {}
    for name in sorted(routers):
        for key, members in routers[name]['expect'].items():
            names = set(members)
            for member in members:
                if member in by_address:
                    names.add(by_address[member])
            for other in routers.values():
                if other['bind'] in members:
                    names.add(other['name'])
            planned_members[(name, key)] = names
    strangers = {}
    for name in sorted(routers):
        seen = {}
        for replica in sorted(routers[name]['readable']):
            for key, pool in routers[name]['readable'][replica].items():
                seen.setdefault(key, set()).update(pool['live'])
        for key in sorted(seen):
            head = pool_vertex.get((name, key))
            if head is None:
                head = pool_vertex[(name, key)] = vertex('p', routers[name]['cluster'], [key, 'not planned'], 'pool',
                                                         UNEXPECTED, key_index.get(key))
                counts[UNEXPECTED] += 1
            for member in sorted(seen[key] - planned_members.get((name, key), set())):
                counts[UNEXPECTED] += 1
                if member in by_address:
                    tail = node_vertex[by_address[member]]
                else:
                    if member not in strangers:
                        strangers[member] = vertex('u', None, [member, 'not in the plan'], 'stranger', UNEXPECTED)
                    tail = strangers[member]
                edges.append(_edge(tail, head, 'unexpected', ['UNEXPECTED'], UNEXPECTED))


def _title(routers, nodes, keys, live, counts):
    def count(number, word):
        return '%d %s%s' % (number, word, '' if number == 1 else 's')

    title = ['uwsgi.topology: %s, %s, %s' % (count(len(routers), 'router'), count(len(nodes), 'node'),
                                             count(len(keys), 'key'))]
    if live:
        title.append('live: %d missing, %d unexpected, %s not read'
                     % (counts[MISSING], counts[UNEXPECTED], count(counts[UNKNOWN], 'router')))
    return title


# ---------------------------------------------------------------- styles, shared by both renderers


def vertex_style(item):
    """``(name, fill, line, dash)`` of a vertex; dash is None, 'dashed' or 'dotted'."""
    status = item['status']
    if status is not None:
        fill, line = _STATUS_COLOURS[status]
        return status, fill, line, _STATUS_DASH.get(status)
    if item['kind'] == 'pool' and item['key'] is not None:
        fill, line = _KEY_COLOURS[item['key'] % len(_KEY_COLOURS)]
        return 'key%d' % (item['key'] % len(_KEY_COLOURS)), fill, line, None
    if item['kind'] in ('external', 'empty'):
        return item['kind'], '#ffffff', '#9e9e9e', 'dashed'
    return 'plain', _PLAIN[0], _PLAIN[1], None


def edge_style(item):
    """``(line colour or None, dash, bold)`` of an edge."""
    status = item['status']
    colour = _STATUS_COLOURS[status][1] if status is not None else None
    return colour, _STATUS_DASH.get(status), item['kind'] == 'resubscribe'


def cluster_style(item):
    fill, line = _CLUSTER_COLOURS[item['kind']]
    if item['status'] is not None:
        line = _STATUS_COLOURS[item['status']][1]
    return fill, line, _STATUS_DASH.get(item['status'])


# ---------------------------------------------------------------- Graphviz DOT


def dot_escape(text):
    """``text`` for a double-quoted DOT string: ``\\`` and ``"`` escaped (so that ``\\N``, ``\\l`` and
    the like stay literal in labels), line breaks as DOT's ``\\n``, other control characters as spaces."""
    out = []
    for char in str(text):
        if char == '\\':
            out.append('\\\\')
        elif char == '"':
            out.append('\\"')
        elif char == '\n':
            out.append('\\n')
        elif ord(char) < 32 or ord(char) == 127:
            out.append(' ')
        else:
            out.append(char)
    return ''.join(out)


def _dot_label(lines):
    return '"%s"' % '\\n'.join(dot_escape(line) for line in lines)


def _dot_attrs(pairs):
    return '[%s]' % ', '.join('%s=%s' % (name, value if value.startswith('"') else '"%s"' % value)
                              for name, value in pairs)


def to_dot(graph):
    """The graph as Graphviz DOT text (``dot -Tsvg`` draws it)."""
    lines = ['digraph "uwsgi_topology" {',
             '  graph %s;' % _dot_attrs([('rankdir', 'LR'), ('fontname', 'Helvetica'), ('fontsize', '12'),
                                         ('labelloc', 't'), ('nodesep', '0.25'), ('ranksep', '1.2'),
                                         ('label', _dot_label(graph['title']))]),
             '  node %s;' % _dot_attrs([('shape', 'box'), ('style', 'rounded,filled'), ('fontname', 'Helvetica'),
                                        ('fontsize', '10')]),
             '  edge %s;' % _dot_attrs([('fontname', 'Helvetica'), ('fontsize', '9'), ('color', _PLAIN[1])])]

    def emit_vertex(item, indent):
        _name, fill, line, dash = vertex_style(item)
        attrs = [('label', _dot_label(item['label'])), ('fillcolor', fill), ('color', line)]
        if dash:
            attrs.append(('style', 'rounded,filled,' + dash))
        if item['status'] in (MISSING, DEAD, UNEXPECTED):
            attrs.append(('penwidth', '2'))
        lines.append('%s"%s" %s;' % (indent, item['id'], _dot_attrs(attrs)))

    def emit_cluster(cluster, depth):
        indent = '  ' * depth
        fill, line, dash = cluster_style(cluster)
        lines.append('%ssubgraph "cluster_%s" {' % (indent, cluster['id']))
        lines.append('%s  graph %s;' % (indent, _dot_attrs([
            ('label', _dot_label(cluster['label'])), ('style', 'rounded,filled' + (',' + dash if dash else '')),
            ('fillcolor', fill), ('color', line), ('fontsize', '10')])))
        for child in graph['clusters']:
            if child['parent'] == cluster['id']:
                emit_cluster(child, depth + 1)
        for item in graph['vertices']:
            if item['cluster'] == cluster['id']:
                emit_vertex(item, indent + '  ')
        lines.append('%s}' % indent)

    for cluster in graph['clusters']:
        if cluster['parent'] is None:
            emit_cluster(cluster, 1)
    for item in graph['vertices']:
        if item['cluster'] is None:
            emit_vertex(item, '  ')
    for edge in graph['edges']:
        colour, dash, bold = edge_style(edge)
        attrs = [('label', _dot_label(edge['label']))]
        if colour:
            attrs.extend([('color', colour), ('fontcolor', colour)])
        styles = [word for word in (dash, 'bold' if bold else None) if word]
        if styles:
            attrs.append(('style', ','.join(styles)))
        if edge['status'] in (MISSING, DEAD, UNEXPECTED):
            attrs.append(('penwidth', '2'))
        lines.append('  "%s" -> "%s" %s;' % (edge['source'], edge['target'], _dot_attrs(attrs)))
    lines.append('}')
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------- Mermaid flowchart

# Mermaid reads "#name;" and "#number;" in labels as entities (mermaidAPI encodeEntities), so every
# character that means something to its parser or to HTML is written as one.
_MERMAID_ENTITIES = {'#': '#35;', '"': '#quot;', '<': '#lt;', '>': '#gt;', '&': '#amp;', '|': '#124;',
                     '`': '#96;', ';': '#59;'}
# Before reading entities, Mermaid drops the last ";" of a line where these match (meant for its
# style and classDef statements): a label that would match gets its ":" written as an entity too.
_MERMAID_STYLE_LINE = re.compile(r'(style|classDef).*:\S*#.*;')


def mermaid_escape(text):
    """``text`` for a double-quoted Mermaid label: the characters Mermaid or HTML would read
    written as Mermaid entities (``#quot;``, ``#35;``, ...), control characters as spaces."""
    out = []
    for char in str(text):
        if char in _MERMAID_ENTITIES:
            out.append(_MERMAID_ENTITIES[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(' ')
        else:
            out.append(char)
    escaped = ''.join(out)
    if _MERMAID_STYLE_LINE.search(escaped):
        escaped = escaped.replace(':', '#58;')
    return escaped


def _mermaid_label(lines):
    return '"%s"' % '<br>'.join(mermaid_escape(line) for line in lines)


def _mermaid_css(fill, line, dash, width=None):
    parts = ['fill:%s' % fill, 'stroke:%s' % line] if fill else ['stroke:%s' % line]
    if width:
        parts.append('stroke-width:%s' % width)
    if dash == 'dashed':
        parts.append('stroke-dasharray:6 4')
    elif dash == 'dotted':
        parts.append('stroke-dasharray:2 3')
    return ','.join(parts)


def to_mermaid(graph):
    """The graph as a Mermaid flowchart (renders in Markdown viewers that draw ```mermaid blocks)."""
    lines = ['flowchart LR']
    lines.extend('  %%%% %s' % line.replace('\n', ' ') for line in graph['title'])
    classes = {}

    def emit_cluster(cluster, depth):
        indent = '  ' * depth
        lines.append('%ssubgraph %s[%s]' % (indent, cluster['id'], _mermaid_label(cluster['label'])))
        for child in graph['clusters']:
            if child['parent'] == cluster['id']:
                emit_cluster(child, depth + 1)
        for item in graph['vertices']:
            if item['cluster'] == cluster['id']:
                emit_vertex(item, indent + '  ')
        lines.append('%send' % indent)

    def emit_vertex(item, indent):
        lines.append('%s%s[%s]' % (indent, item['id'], _mermaid_label(item['label'])))
        name, fill, line, dash = vertex_style(item)
        width = '2px' if item['status'] in (MISSING, DEAD, UNEXPECTED) else None
        classes.setdefault(name, (_mermaid_css(fill, line, dash, width), []))[1].append(item['id'])

    for cluster in graph['clusters']:
        if cluster['parent'] is None:
            emit_cluster(cluster, 1)
    for item in graph['vertices']:
        if item['cluster'] is None:
            emit_vertex(item, '  ')
    link_styles = {}
    for index, edge in enumerate(graph['edges']):
        colour, dash, bold = edge_style(edge)
        arrow = '-.->' if dash else ('==>' if bold else '-->')
        lines.append('  %s %s|%s| %s' % (edge['source'], arrow, _mermaid_label(edge['label']), edge['target']))
        if colour:
            width = '2px' if edge['status'] in (MISSING, DEAD, UNEXPECTED) else None
            link_styles.setdefault(_mermaid_css(None, colour, None, width), []).append(str(index))
    for name in sorted(classes):
        css, members = classes[name]
        lines.append('  classDef st_%s %s' % (name, css))
        lines.append('  class %s st_%s' % (','.join(members), name))
    for cluster in graph['clusters']:
        fill, line, dash = cluster_style(cluster)
        lines.append('  style %s %s' % (cluster['id'], _mermaid_css(fill, line, dash)))
    for css in sorted(link_styles):
        lines.append('  linkStyle %s %s' % (','.join(link_styles[css]), css))
    return '\n'.join(lines) + '\n'


def render(plan, fmt='dot', pools=None):
    """The picture of ``plan`` as text in ``fmt`` (``dot`` or ``mermaid``)."""
    if fmt not in FORMATS:
        raise GraphError('format', 'must be one of %s, got %r' % (', '.join(FORMATS), fmt))
    graph = build_graph(plan, pools)
    return to_dot(graph) if fmt == 'dot' else to_mermaid(graph)
