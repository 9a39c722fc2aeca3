# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's router metrics: one exporter per router host, decided once.

``add_metrics(plan, hosts)`` runs after ``manifest.add_manifests`` and adds
``plan['hosts'][HOST]['manifest']['metrics']`` (docs/manifest.md): on a host with at least one
router that has a stats server, a uWSGI vassal (``router-metrics.exporter.topology.ini``) that
serves Prometheus's text format on ``http-socket`` at ``GET /metrics``, its code (module_utils'
``metrics.py`` and the two modules it imports, placed under their package path), and the routers
it reads: every router vassal of the host (each replica), its stats server, its tolerance and the
pools the plan expects (``plugins/module_utils/metrics.py`` renders them).

The host variables (``METRICS_HOST_VARS``, usually set for group ``all``):

* ``uwsgi_topology_metrics`` (default true): false plans no exporter on the host;
* ``uwsgi_topology_metrics_port``: the exporter's TCP port; default the lowest stats port of the
  host's routers + 1000 (19191 -> 20191), so that it moves with them;
* ``uwsgi_topology_metrics_address``: the IPv4 address it listens on, default 127.0.0.1 (a
  Prometheus server on the host itself); another address is reported in the plan's warnings, as
  the metrics name every key and node.

The exporter reads its routers from the vassal's ``env`` (JSON): a change of the plan rewrites the
vassal and the Emperor reloads it; so does a change of its code (the vassal's ``depends``: the vassals
module writes a digest of the files into the vassal file).
Nothing here touches a file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.uwsgi.topology.plugins.module_utils.core import TopologyError, check_bool, check_int, check_str
from ansible_collections.uwsgi.topology.plugins.module_utils.metrics import CONFIG_ENV, DEFAULT_TOLERANCE, READ_TIMEOUT

METRICS_HOST_VARS = ('uwsgi_topology_metrics', 'uwsgi_topology_metrics_port', 'uwsgi_topology_metrics_address')
VASSAL = 'router-metrics'
SUFFIX = '.exporter.topology.ini'
PORT_OFFSET = 1000
ADDRESS = '127.0.0.1'
DIRECTORY = 'metrics'
PACKAGE = 'ansible_collections/uwsgi/topology/plugins/module_utils'
# The exporter's code: metrics.py imports stats.py, which imports errors.py; nothing else.
CODE = ('errors.py', 'stats.py', 'metrics.py')
SOURCES = os.path.dirname(os.path.abspath(__file__))
# The routers travel in one environment variable; a vassal re-executes itself with its environment on
# every reload, and Linux refuses one string above 128 KiB (MAX_ARG_STRLEN).
MAX_CONFIG = 120000

_IPV4 = re.compile(r'^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$')


def add_metrics(plan, hosts=None, sources=SOURCES):
    """Add ``manifest['metrics']`` to each host of ``plan`` (after ``add_manifests``); return ``plan``.

    ``hosts`` maps inventory hosts to their variables (``METRICS_HOST_VARS`` are read); ``sources`` is
    the controller directory holding the exporter's code (this module_utils directory)."""
    hosts = hosts or {}
    settings = {}
    for host in sorted(plan['hosts']):
        settings[host] = _read_settings(host, hosts.get(host) or {}, plan['hosts'][host])
    _check_ports(plan, settings)
    for host in sorted(plan['hosts']):
        host_plan = plan['hosts'][host]
        part = _metrics_manifest(host, host_plan, settings[host], sources)
        host_plan['manifest']['metrics'] = part
        if part['vassals']:
            # The exporter is a Python application: the host's uWSGI needs its python3 plugin.
            host_plan['manifest']['needs']['python'] = True
            if not part['listen'].startswith('127.'):
                plan.setdefault('warnings', []).append(
                    'host %s: uwsgi_topology_metrics_address: the router metrics exporter listens on %s: its metrics '
                    'name every key and node of the host\'s routers to whoever reaches it, without authentication; '
                    'keep it on a network only your monitoring reaches' % (host, part['listen']))
    return plan


def _read_settings(host, variables, host_plan):
    """``(port, address)`` of the host's exporter, or None when it has none."""
    where = 'host %s: ' % host
    enabled = variables.get('uwsgi_topology_metrics')
    enabled = True if enabled is None else check_bool(enabled, where + 'uwsgi_topology_metrics')
    address = variables.get('uwsgi_topology_metrics_address')
    if address is None:
        address = ADDRESS
    else:
        address = check_str(address, where + 'uwsgi_topology_metrics_address')
        if not _IPV4.match(address) or not all(int(part) <= 255 for part in address.split('.')):
            raise TopologyError(where + 'uwsgi_topology_metrics_address', 'must be a numeric IPv4 address of the '
                                'host (or 0.0.0.0 for every address), got %r' % address)
    port = variables.get('uwsgi_topology_metrics_port')
    if port is not None:
        port = check_int(port, where + 'uwsgi_topology_metrics_port', 1, 65535)
    stats_ports = [int(r['stats'].rsplit(':', 1)[1]) for r in host_plan['routers'] if r.get('stats')]
    if not enabled or not stats_ports:
        return None
    if port is None:
        port = min(stats_ports) + PORT_OFFSET
        if port > 65535:
            raise TopologyError(where + 'uwsgi_topology_metrics_port', 'is required here: the default, the lowest '
                                'stats_port of the host\'s routers + %d, is %d, beyond 65535' % (PORT_OFFSET, port))
    return port, address


def _check_ports(plan, settings):
    """The exporter's port must be free on its host's machine (the host's address, as the planner counts
    ports): no router bind or stats port, no node, no other host's exporter."""
    claimed = {}
    for host in sorted(plan['hosts']):
        host_plan = plan['hosts'][host]
        for router in host_plan['routers']:
            for address in (router['bind'], router.get('stats')):
                if address and ':' in address:
                    claimed.setdefault((host_plan['address'], address.rsplit(':', 1)[1]),
                                       'instance %s (host %s)' % (router['name'], host))
        for node in host_plan['nodes']:
            claimed.setdefault((host_plan['address'], node['address'].rsplit(':', 1)[1]),
                               'instance %s (host %s)' % (node['name'], host))
    for host in sorted(plan['hosts']):
        if settings[host] is None:
            continue
        port, address = settings[host]
        slot = (plan['hosts'][host]['address'], str(port))
        if slot in claimed:
            raise TopologyError('host %s: uwsgi_topology_metrics_port' % host, 'TCP port %d on %s (the router '
                                'metrics exporter; by default the lowest stats_port of the host\'s routers + %d) is '
                                'already claimed by %s: set another port'
                                % (port, address, PORT_OFFSET, claimed[slot]))
        claimed[slot] = 'the router metrics exporter of host %s' % host


def router_tolerance(spec):
    """The subscription-tolerance a router's spec sets (instance field or raw option), else uWSGI's."""
    params = (spec.get('subscriptions') or {}).get('server_params') or {}
    if params.get('tolerance') is not None:
        return int(params['tolerance'])
    options = spec.get('options') or []
    pairs = list(options.items()) if isinstance(options, dict) else \
        [tuple(pair) for pair in options if isinstance(pair, (list, tuple)) and len(pair) == 2]
    for name, value in reversed(pairs):
        if name == 'subscription-tolerance':
            try:
                return int(value)
            except (TypeError, ValueError):
                break
    return DEFAULT_TOLERANCE


def metrics_routers(host_plan):
    """The exporter's router entries for one host: each router vassal with a stats server."""
    out = []
    for router in host_plan['routers']:
        address = router.get('stats')
        if not address:
            continue
        if address.startswith('0.0.0.0:'):
            address = '127.0.0.1:' + address.rsplit(':', 1)[1]  # the exporter runs on the router's host
        out.append({'router': router['name'], 'type': router['type'], 'stats': address,
                    'tolerance': router_tolerance(router['spec']),
                    'expect': dict((key, list(nodes)) for key, nodes in sorted(router['expect'].items()))})
    return out


def _file(src, dest):
    return {'src': src, 'dest': dest, 'kind': 'metrics_code', 'secret': False, 'private': False, 'mode': '0644'}


def _metrics_manifest(host, host_plan, setting, sources):
    base = '%s/%s' % (host_plan['paths']['prefix'], DIRECTORY)
    lib = base + '/lib'
    package = '%s/%s' % (lib, PACKAGE)
    routers = metrics_routers(host_plan)
    part = {'suffix': SUFFIX, 'directories': [], 'files': [], 'prune': [base], 'vassals': [],
            'listen': None, 'url': None, 'target': None, 'routers': routers}
    if setting is None:
        return part
    port, address = setting
    listen = '%s:%d' % (address, port)
    config = json.dumps({'routers': routers, 'timeout': READ_TIMEOUT}, sort_keys=True, separators=(',', ':'))
    if len(config) > MAX_CONFIG:
        raise TopologyError('host %s: uwsgi_topology_metrics' % host, 'the router metrics exporter\'s routers take '
                            '%d bytes, beyond the %d its environment variable can carry (so many keys and nodes); '
                            'set uwsgi_topology_metrics: false on this host' % (len(config), MAX_CONFIG))
    code = ['%s/%s' % (package, name) for name in CODE]
    options = [
        ['http-socket', listen],
        ['processes', '1'],
        ['pythonpath', lib],
        ['wsgi-file', '%s/metrics.py' % package],
        # Not UWSGI_*: a reloading master reads every UWSGI_<NAME> variable back as an option.
        ['env', '%s=%s' % (CONFIG_ENV, config)],
        # No __pycache__ beside the code: the router role prunes what it did not place.
        ['env', 'PYTHONDONTWRITEBYTECODE=1'],
        ['need-app', 'true'],
        ['die-on-term', 'true'],
        # One line per scrape in the Emperor's log would drown everything else.
        ['disable-logging', 'true'],
    ]
    part.update({
        'directories': [{'path': base, 'mode': '0755', 'private': False},
                        {'path': package, 'mode': '0755', 'private': False}],
        'files': [_file('%s/%s' % (sources, name), path) for name, path in zip(CODE, code)],
        'vassals': [{'file': VASSAL + SUFFIX, 'instance': VASSAL, 'role': 'metrics',
                     'spec': {'options': options, 'plugins': ['python3']}, 'socket': listen,
                     # The vassals module writes a digest of these into the vassal file: new code reloads it.
                     'depends': code}],
        'listen': listen,
        'url': 'http://%s:%d/metrics' % ('127.0.0.1' if address == '0.0.0.0' else address, port),
        # What a Prometheus server elsewhere scrapes (null: loopback only).
        'target': None if address.startswith('127.') else '%s:%d' % (
            host_plan['address'] if address == '0.0.0.0' else address, port),
    })
    return part
