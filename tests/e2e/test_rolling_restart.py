# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart.yml on the one-machine default under a small bounded load: no failed request, and
every node's workers replaced (a graceful reload keeps the master's pid, not the workers').

The bundled inventory runs with its ports shifted by PORT_OFFSET and its prefix in a temporary
directory; the module's finalizer tears the topology down whatever happened.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

import e2e_support as e2e

PORT_OFFSET = 4000
NODES = ('app1', 'app2', 'api1')


@pytest.fixture(scope='module')
def topo(tmp_path_factory):
    base = tmp_path_factory.mktemp('rolling-restart')
    state = {'prefix': base / 'prefix', 'inventory': e2e.shift_ports(e2e.load_local_inventory(), PORT_OFFSET)}
    state['inventory_path'] = e2e.write_inventory(state['inventory'], base / 'inventory.yml')
    state['env'] = e2e.clean_env(prefix=state['prefix'])
    e2e.require_free_ports(state['inventory'])
    yield state
    e2e.tear_down(state['prefix'], state['inventory_path'], state['env'])


class Load(object):
    """About 20 requests a second through the http router, alternating keys, until stopped."""

    def __init__(self, port):
        self.port = port
        self.sent = 0
        self.failed = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.daemon = True

    def _run(self):
        while not self.stop.is_set():
            key = 'api.test' if self.sent % 3 == 2 else 'app.test'
            self.sent += 1
            try:
                status, body, dummy = e2e.http_get(self.port, key, timeout=10)
                if status != 200:
                    self.failed.append('%s: status %s %r' % (key, status, body[:60]))
            except (OSError, ValueError) as exc:
                self.failed.append('%s: %s' % (key, exc))
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


def _workers(prefix):
    """Per node, the pids of its processes other than the master (the lowest pid: it forks the others)."""
    out = {}
    for node in NODES:
        pids = e2e.vassal_pids(prefix, node + '.node.topology.ini')
        out[node] = set(pids[1:])
    return out


def test_rolling_restart_under_load_fails_no_request_and_replaces_every_worker(topo):
    run = e2e.playbook('site.yml', topo['inventory_path'], topo['env'])
    assert run.returncode == 0, run.tail(120)
    http = e2e.instance(topo['inventory'], 'router', 'edge-http')['port']
    assert e2e.answered_by(http, 'app.test', 6) == {'app1', 'app2'}
    before = _workers(topo['prefix'])
    assert all(before.values()), before

    with Load(http) as load:
        time.sleep(1)
        roll = e2e.playbook('rolling_restart.yml', topo['inventory_path'], topo['env'])
        time.sleep(1)
    print('rolling restart: %.1f s, requests sent %d, failed %d' % (roll.seconds, load.sent, len(load.failed)))
    assert roll.returncode == 0, roll.tail(120)
    assert load.sent >= 50, load.sent
    assert load.failed == [], load.failed[:10]
    # Each drained node was drained and undrained; api1, api.test's only node, reloaded in its pools.
    assert roll.output.count('waiting for its requests in flight: app1') == 1
    assert 'node api1 is the only node of a key' in roll.output

    after = _workers(topo['prefix'])
    for node in NODES:
        assert after[node] and not after[node] & before[node], 'workers of %s not replaced: %s -> %s' % (
            node, sorted(before[node]), sorted(after[node]))
    assert e2e.wait_until(lambda: e2e.answered_by(http, 'app.test', 6) == {'app1', 'app2'}, 20)
