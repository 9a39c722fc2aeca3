# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Router-pool metrics in Prometheus's text format, and the exporter that serves them.

``collect(routers, now)`` reads the stats server of each router (one entry per router vassal,
replicas included) and returns its figures; ``render(figures)`` turns them into Prometheus's
text exposition format (version 0.0.4). Each router entry is what the planner writes for the
host (``plugins/module_utils/metrics_plan.py``)::

    {router: edge-http, type: http, stats: 127.0.0.1:19191, tolerance: 10,
     expect: {app.test: [127.0.0.1:13031, 127.0.0.1:13032]}}

Every metric has the one prefix ``uwsgi_router_``, base units (seconds, bytes), counters end in
``_total``, and the labels are ``router`` (the vassal's name), ``key`` and ``node`` (the address a
node announced), all bounded by the topology (``uwsgi_router_build_info`` adds ``version``).

A node is *live* when the router has not marked it dead and its last announce is no older than
the router's ``subscription-tolerance``: uWSGI 2.0 marks a silent node dead only when a request
looks its key up (``uwsgi_get_subscribe_node``, core/subscription.c), so without traffic the stats
keep a vanished node with ``death_mark`` 0; ``now - last_check > tolerance`` is the test uWSGI
itself applies. ``uwsgi_router_nodes`` counts the live nodes of a key and
``uwsgi_router_nodes_expected`` the nodes the plan subscribes to it, so that
``uwsgi_router_nodes < uwsgi_router_nodes_expected`` names a key that lost a node.

Counters (requests, bytes, failures, key lookups) are uWSGI's own and restart at 0 when a node
leaves its pool and joins again or the router reloads; they are exposed as they are, and
Prometheus's ``rate()`` and ``increase()`` take any decrease as a counter reset.

On a router host this file is also the exporter: the planner places it (with ``stats.py`` and
``errors.py``, the only modules it imports, under their package path) and runs it as the WSGI
application of a uWSGI vassal on an ``http-socket``. ``application`` reads its routers from the
environment variable ``TOPOLOGY_METRICS_CONFIG`` (JSON ``{"routers": [...], "timeout": 2}``) and
answers ``GET /metrics``. Standard library only, Python 3.7 and later.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.uwsgi.topology.plugins.module_utils import stats

PREFIX = 'uwsgi_router_'
#: uWSGI's subscription-tolerance when a router sets none (2.0 core/init.c).
DEFAULT_TOLERANCE = 17
#: Seconds allowed for reading one router's stats server during a scrape.
READ_TIMEOUT = 2.0
CONFIG_ENV = 'TOPOLOGY_METRICS_CONFIG'
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
METRICS_PATH = '/metrics'

# (name without the prefix, type, help), in the order of the exposition.
FAMILIES = (
    ('up', 'gauge', 'Whether the router\'s stats server answered with a router\'s stats (1) or not (0).'),
    ('build_info', 'gauge', 'The uWSGI version the router runs (label version); always 1.'),
    ('active_sessions', 'gauge', 'Client sessions the router is handling now.'),
    ('subscription_tolerance_seconds', 'gauge',
     'Seconds without an announce after which the router takes a node for dead (subscription-tolerance).'),
    ('nodes', 'gauge', 'Live nodes of the key: not marked dead and announced within the tolerance.'),
    ('nodes_expected', 'gauge', 'Nodes the topology plan subscribes to the key on this router.'),
    ('key_lookups_total', 'counter', 'Lookups of the key in the router\'s subscription table (uWSGI\'s hits).'),
    ('node_live', 'gauge', 'Whether the node is live in the key\'s pool (1) or not (0); a planned node the '
                           'router does not know is 0.'),
    ('node_requests_total', 'counter', 'Requests the router passed to the node (successful connects).'),
    ('node_receive_bytes_total', 'counter', 'Bytes the router wrote to the node (uWSGI\'s rx).'),
    ('node_transmit_bytes_total', 'counter', 'Bytes the router read from the node (uWSGI\'s tx).'),
    ('node_failures_total', 'counter', 'Failures the router counted for the node: failed connects and '
                                       'tolerance expiries (uWSGI\'s failcnt).'),
    ('node_requests_in_flight', 'gauge', 'Requests the router has in flight on the node (uWSGI\'s ref).'),
    ('node_last_announce_age_seconds', 'gauge', 'Seconds since the node\'s last announce reached the router.'),
    ('node_death_mark', 'gauge', 'Whether the router marked the node dead (1) or not (0).'),
    ('node_weight', 'gauge', 'The weight the node announced.'),
)
FAMILY_TYPES = dict((name, kind) for name, kind, _help in FAMILIES)

# Node figure -> (stats field, family).
_NODE_COUNTERS = (
    ('requests', 'requests', 'node_requests_total'),
    ('receive_bytes', 'rx', 'node_receive_bytes_total'),
    ('transmit_bytes', 'tx', 'node_transmit_bytes_total'),
    ('failures', 'failcnt', 'node_failures_total'),
    ('in_flight', 'ref', 'node_requests_in_flight'),
    ('weight', 'weight', 'node_weight'),
)


class ConfigError(ValueError):
    """The exporter's configuration (or a router entry) cannot be used; ``str()`` says why."""


# --- the routers to read -----------------------------------------------------------------------

def check_routers(routers, where='routers'):
    """A normalised copy of the router entries, or ConfigError naming the entry at fault."""
    if not isinstance(routers, list):
        raise ConfigError('%s: must be a list of router entries, got %s' % (where, type(routers).__name__))
    out, seen = [], set()
    for i, entry in enumerate(routers):
        here = '%s[%d]' % (where, i)
        if not isinstance(entry, dict):
            raise ConfigError('%s: must be a mapping with router, stats and expect, got %r' % (here, entry))
        name = entry.get('router')
        if not isinstance(name, str) or not name:
            raise ConfigError('%s.router: must be the router\'s name, got %r' % (here, name))
        if name in seen:
            raise ConfigError('%s.router: %r is listed twice' % (here, name))
        seen.add(name)
        address = entry.get('stats')
        if not isinstance(address, str) or not address:
            raise ConfigError('%s.stats: router %s: must be its stats server address, got %r' % (here, name, address))
        tolerance = entry.get('tolerance')
        if tolerance is None:
            tolerance = DEFAULT_TOLERANCE
        if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
            raise ConfigError('%s.tolerance: router %s: must be a number of seconds, got %r' % (here, name, tolerance))
        expect = entry.get('expect')
        if expect is None:
            expect = {}
        if not isinstance(expect, dict) or not all(
                isinstance(key, str) and isinstance(nodes, list) and all(isinstance(n, str) for n in nodes)
                for key, nodes in expect.items()):
            raise ConfigError('%s.expect: router %s: must map each key to a list of node addresses, got %r'
                              % (here, name, expect))
        out.append({'router': name, 'type': entry.get('type'), 'stats': address, 'tolerance': tolerance,
                    'expect': dict((key, _unique(nodes)) for key, nodes in expect.items())})
    return out


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


# --- reading and computing ---------------------------------------------------------------------

def _number(value):
    """A stats field as an int, or None when uWSGI did not write a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def router_figures(entry, data, now, error=None):
    """The figures of one router from its parsed stats ``data`` (None when it could not be read).

    Returns ``{router, stats, up, error, version, active_sessions, tolerance, keys}``; each key is
    ``{key, nodes, expected, lookups, live, missing, members}`` (``nodes`` the live count,
    ``expected`` the planned count or None for a key the plan does not name, ``live`` and
    ``missing`` node addresses), each member ``{node, present, planned, live, death_mark,
    last_announce_age, requests, receive_bytes, transmit_bytes, failures, in_flight, weight}``.
    """
    tolerance = entry['tolerance']
    out = {'router': entry['router'], 'stats': entry['stats'], 'up': data is not None,
           'error': error, 'version': None, 'active_sessions': None, 'tolerance': tolerance, 'keys': []}
    pools = {}
    order = []
    if data is not None:
        version = data.get('version')
        out['version'] = version if isinstance(version, str) and version else None
        out['active_sessions'] = _number(data.get('active_sessions'))
        for slot in data.get('subscriptions') or []:
            if not isinstance(slot, dict) or not isinstance(slot.get('key'), str):
                continue
            key = slot['key']
            if key not in pools:
                pools[key] = {'lookups': None, 'nodes': []}
                order.append(key)
            hits = _number(slot.get('hits'))
            if hits is not None:
                pools[key]['lookups'] = (pools[key]['lookups'] or 0) + hits
            pools[key]['nodes'].extend(n for n in slot.get('nodes') or [] if isinstance(n, dict))
    expect = entry['expect']
    keys = sorted(set(order) | set(expect))
    whole_now = int(now)
    for key in keys:
        planned = expect.get(key)
        members, known = [], set()
        for node in (pools.get(key) or {}).get('nodes') or []:
            name = node.get('name')
            if not isinstance(name, str) or name in known:
                continue  # one series per node: a name uWSGI lists twice is counted once
            known.add(name)
            last = _number(node.get('last_check'))
            death = 1 if node.get('death_mark') else 0
            live = not death and last is not None and last > 0 and whole_now - last <= tolerance
            member = {'node': name, 'present': True, 'planned': planned is not None and name in planned,
                      'live': live, 'death_mark': death,
                      'last_announce_age': max(0.0, round(now - last, 3)) if last else None}
            for figure, field, _family in _NODE_COUNTERS:
                member[figure] = _number(node.get(field))
            members.append(member)
        if data is not None:
            for name in planned or []:
                if name not in known:
                    member = {'node': name, 'present': False, 'planned': True, 'live': False, 'death_mark': None,
                              'last_announce_age': None}
                    member.update((figure, None) for figure, _field, _family in _NODE_COUNTERS)
                    members.append(member)
        members.sort(key=lambda m: m['node'])
        live = [m['node'] for m in members if m['live']]
        out['keys'].append({
            'key': key, 'nodes': len(live) if data is not None else None,
            'expected': len(planned) if planned is not None else None,
            'lookups': (pools.get(key) or {}).get('lookups'),
            'live': live,
            'missing': [name for name in planned or [] if name not in live] if data is not None else None,
            'members': members,
        })
    return out


def read_router(entry, now=None, timeout=READ_TIMEOUT, fetch=stats.fetch):
    """Read one router's stats server and return its figures (``up`` false when it cannot be read)."""
    try:
        data = fetch(entry['stats'], timeout)
    except stats.StatsError as exc:
        return router_figures(entry, None, time.time() if now is None else now, error=str(exc))
    return router_figures(entry, data, time.time() if now is None else now)


def collect(routers, now=None, timeout=READ_TIMEOUT, fetch=stats.fetch):
    """The figures of every router entry, in their order (see ``router_figures``)."""
    return [read_router(entry, now, timeout, fetch) for entry in check_routers(routers)]


# --- the exposition ----------------------------------------------------------------------------

def _escape_label(value):
    return value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _escape_help(text):
    return text.replace('\\', '\\\\').replace('\n', '\\n')


def _format_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def samples(figures):
    """``{family: [(labels, value), ...]}`` for the figures of several routers; labels are
    ``[(name, value), ...]`` in the order router, key, node (version for build_info)."""
    out = dict((name, []) for name, _kind, _help in FAMILIES)
    for router in figures:
        base = [('router', router['router'])]
        out['up'].append((base, 1 if router['up'] else 0))
        out['subscription_tolerance_seconds'].append((base, router['tolerance']))
        if router['up']:
            out['build_info'].append((base + [('version', router['version'] or 'unknown')], 1))
            if router['active_sessions'] is not None:
                out['active_sessions'].append((base, router['active_sessions']))
        for key in router['keys']:
            key_labels = base + [('key', key['key'])]
            if key['expected'] is not None:
                out['nodes_expected'].append((key_labels, key['expected']))
            if not router['up']:
                continue
            out['nodes'].append((key_labels, key['nodes']))
            if key['lookups'] is not None:
                out['key_lookups_total'].append((key_labels, key['lookups']))
            for member in key['members']:
                labels = key_labels + [('node', member['node'])]
                out['node_live'].append((labels, 1 if member['live'] else 0))
                if not member['present']:
                    continue
                for figure, _field, family in _NODE_COUNTERS:
                    if member[figure] is not None:
                        out[family].append((labels, member[figure]))
                if member['last_announce_age'] is not None:
                    out['node_last_announce_age_seconds'].append((labels, member['last_announce_age']))
                out['node_death_mark'].append((labels, member['death_mark']))
    return out


def render(figures):
    """Prometheus's text exposition format (0.0.4) of the figures of several routers.

    Every family is written once, with its HELP and TYPE lines, even without samples."""
    lines = []
    table = samples(figures)
    for name, kind, text in FAMILIES:
        full = PREFIX + name
        lines.append('# HELP %s %s' % (full, _escape_help(text)))
        lines.append('# TYPE %s %s' % (full, kind))
        for labels, value in table[name]:
            rendered = ','.join('%s="%s"' % (label, _escape_label(str(v))) for label, v in labels)
            lines.append('%s{%s} %s' % (full, rendered, _format_value(value)))
    return '\n'.join(lines) + '\n'


# --- the exporter ------------------------------------------------------------------------------

def load_config(text):
    """The exporter's configuration from its JSON text: ``{routers: [...], timeout: seconds}``."""
    if not text:
        raise ConfigError('the environment variable %s is not set: it holds the exporter\'s routers as JSON '
                          '(the vassal the planner writes sets it)' % CONFIG_ENV)
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ConfigError('%s is not JSON: %s' % (CONFIG_ENV, exc))
    if not isinstance(config, dict):
        raise ConfigError('%s must be a JSON object with routers, got %s' % (CONFIG_ENV, type(config).__name__))
    timeout = config.get('timeout', READ_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError('%s: timeout must be a positive number of seconds, got %r' % (CONFIG_ENV, timeout))
    return {'routers': check_routers(config.get('routers'), '%s: routers' % CONFIG_ENV), 'timeout': float(timeout)}


def _respond(start_response, status, body, content_type='text/plain; charset=utf-8', head=False):
    data = body.encode('utf-8')
    start_response(status, [('Content-Type', content_type), ('Content-Length', str(len(data)))])
    return [b''] if head else [data]


def application(environ, start_response):
    """The exporter's WSGI application: ``GET /metrics`` reads every router and renders them."""
    method = environ.get('REQUEST_METHOD', 'GET')
    path = environ.get('PATH_INFO') or '/'
    if method not in ('GET', 'HEAD'):
        return _respond(start_response, '405 Method Not Allowed', 'only GET and HEAD\n')
    head = method == 'HEAD'
    if path == '/':
        return _respond(start_response, '200 OK', 'uwsgi.topology router metrics: %s\n' % METRICS_PATH, head=head)
    if path != METRICS_PATH:
        return _respond(start_response, '404 Not Found', 'not found; the metrics are at %s\n' % METRICS_PATH,
                        head=head)
    try:
        config = load_config(os.environ.get(CONFIG_ENV))
    except ConfigError as exc:
        return _respond(start_response, '500 Internal Server Error', '%s\n' % exc, head=head)
    figures = collect(config['routers'], timeout=config['timeout'])
    return _respond(start_response, '200 OK', render(figures), content_type=CONTENT_TYPE, head=head)
