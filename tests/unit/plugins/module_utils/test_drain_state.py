# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/drain.py: pool states, the state record, the master FIFO."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import select
import threading

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import drain
from ansible_collections.uwsgi.topology.plugins.module_utils.drain import DrainError


def _node(name, death_mark=0, ref=0, last_check=1000):
    return {'name': name, 'death_mark': death_mark, 'ref': ref, 'last_check': last_check}


@pytest.mark.parametrize('nodes, expected', [
    ([], 'absent'),
    ([_node('b')], 'absent'),
    ([_node('b'), _node('a')], 'present'),
    ([_node('a', death_mark=1, ref=3)], 'draining'),
    ([_node('a', death_mark=1, ref=0)], 'absent'),  # freed at the next lookup of its key
])
def test_node_state(nodes, expected):
    assert drain.node_state(nodes, 'a') == expected


def test_live_others_skip_the_node_itself_the_death_marked_and_the_silent():
    nodes = [_node('a'), _node('b', last_check=990), _node('c', death_mark=1), _node('d', last_check=900),
             {'name': 'e', 'death_mark': 0, 'last_check': None}]
    assert drain.live_others(nodes, 'a', now=1000, tolerance=17) == ['b', 'e']


def test_record_round_trip_and_refusals(tmp_path):
    path = str(tmp_path / 'n.drain')
    assert drain.read_record(path) is None
    drain.write_record(path, {'blocked': True, 'keys': ['k'], 'since': 1.5, 'fifo': [1, 2, 3]})
    assert drain.read_record(path) == {'blocked': True, 'keys': ['k'], 'since': 1.5, 'fifo': [1, 2, 3]}
    assert os.listdir(str(tmp_path)) == ['n.drain']  # no temporary file left
    with open(path, 'w') as handle:
        handle.write('{"blocked": "yes"}')
    with pytest.raises(DrainError) as info:
        drain.read_record(path)
    assert str(info.value).startswith('node.state_file: %s is not this module\'s state record' % path)
    with open(path, 'w') as handle:
        handle.write('not json')
    with pytest.raises(DrainError) as info:
        drain.read_record(path)
    assert 'is not this module\'s JSON state record' in str(info.value)
    with pytest.raises(DrainError) as info:
        drain.write_record(str(tmp_path / 'missing' / 'n.drain'), {'blocked': False})
    assert str(info.value).startswith('node.state_file: cannot write in %s' % (tmp_path / 'missing'))


def test_fifo_identity_names_a_missing_fifo_and_a_file(tmp_path):
    with pytest.raises(DrainError) as info:
        drain.fifo_identity(str(tmp_path / 'none.fifo'))
    assert 'does not exist: is the node running' in str(info.value)
    plain = tmp_path / 'plain'
    plain.write_text('x')
    with pytest.raises(DrainError) as info:
        drain.fifo_identity(str(plain))
    assert 'is not a FIFO' in str(info.value)


def test_write_fifo_without_a_reader_is_refused(tmp_path):
    path = str(tmp_path / 'n.fifo')
    os.mkfifo(path, 0o600)
    with pytest.raises(DrainError) as info:
        drain.write_fifo(path, b'S')
    assert str(info.value) == 'node.fifo: no process reads %s: the node\'s master is not running (or this is ' \
                              'not its master FIFO)' % path


class Master(object):
    """Reads its FIFO as uWSGI's master does and, if ``recreate``, makes it anew after each writer."""

    def __init__(self, path, recreate=True):
        self.path, self.recreate, self.read = path, recreate, []
        os.mkfifo(path, 0o600)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.daemon = True
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            if not select.select([self.fd], [], [], 0.02)[0]:
                continue
            data = os.read(self.fd, 1)
            if data:
                self.read.append(data)
            elif self.recreate:
                os.close(self.fd)
                os.unlink(self.path)
                os.mkfifo(self.path, 0o600)
                self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            else:
                self.done.wait(0.02)

    def close(self):
        self.done.set()
        self.thread.join(2)
        os.close(self.fd)


def test_write_fifo_returns_the_identity_of_the_fifo_the_master_made_anew(tmp_path):
    path = str(tmp_path / 'n.fifo')
    master = Master(path)
    try:
        before = drain.fifo_identity(path)
        after = drain.write_fifo(path, b'S')
        assert master.read == [b'S']
        assert after != before and after == drain.fifo_identity(path)
        # The old FIFO was held open while the master made the new one: its inode number is not reused.
        assert after[:2] != before[:2]
    finally:
        master.close()


def test_write_fifo_returns_the_old_identity_when_the_master_does_not_make_it_anew(tmp_path):
    path = str(tmp_path / 'n.fifo')
    master = Master(path, recreate=False)
    ticks = iter(range(100))
    try:
        before = drain.fifo_identity(path)
        assert drain.write_fifo(path, b'S', clock=lambda: next(ticks) * 0.5, sleep=lambda s: None) == before
    finally:
        master.close()


def _params(entries, **node):
    base = {'instance': 'n1', 'fifo': '/nonexistent.fifo', 'state_file': '/nonexistent.drain',
            'subscriptions': entries, 'routers': []}
    base.update(node)
    return {'node': base, 'state': 'drained', 'keys': None, 'wait': True, 'wait_timeout': 1, 'wait_interval': 0.1,
            'force': False}


def test_drain_refuses_unknown_keys_several_addresses_and_no_subscription():
    entries = [{'server': '127.0.0.1:1', 'key': 'a.test', 'address': '127.0.0.1:3031'}]
    params = _params(entries)
    params['keys'] = ['b.test']
    with pytest.raises(DrainError) as info:
        drain.Drain(params)
    assert str(info.value) == "keys: 'b.test': node n1 subscribes only with a.test"
    twice = entries + [{'server': '127.0.0.1:1', 'key': 'a.test', 'address': '127.0.0.1:3032'}]
    with pytest.raises(DrainError) as info:
        drain.Drain(_params(twice))
    assert str(info.value).startswith('node.subscriptions: announce several addresses (127.0.0.1:3031, '
                                      '127.0.0.1:3032)')
    with pytest.raises(DrainError) as info:
        drain.Drain(_params([]))
    assert 'subscribes to no router' in str(info.value)


def test_routers_follow_the_given_order_and_unnamed_servers_get_no_stats():
    entries = [{'server': '127.0.0.1:%d' % port, 'key': 'a.test', 'address': '127.0.0.1:3031'} for port in (9, 5, 7)]
    warnings = []
    subject = drain.Drain(_params(entries, routers=[{'name': 'nine', 'server': '127.0.0.1:9', 'stats': '127.0.0.1:1',
                                                     'tolerance': 4}]), warn=warnings.append)
    assert [(r.name, r.stats, r.tolerance) for r in subject.routers] == [
        ('nine', '127.0.0.1:1', 4), ('127.0.0.1:5', None, 17), ('127.0.0.1:7', None, 17)]
    assert warnings and 'routers 127.0.0.1:5, 127.0.0.1:7: no stats address' in warnings[0]
    json.dumps(subject.result)  # the result is plain data
