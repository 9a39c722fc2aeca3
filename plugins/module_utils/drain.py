# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take a uWSGI 2.0 node out of its routers' pools and bring it back, without losing a request.

What uWSGI 2.0 does (branch ``uwsgi-2.0`` of github:unbit/uwsgi, commit 9b1bb837):

* Master FIFO ``S`` only flips ``subscriptions_blocked`` (core/fifo.c:40-49): a toggle that no
  stats field shows. While it is set the master sends no announce at all, not even the
  unsubscribe of a stopping node (core/subscription.c:1089-1090).
* A router takes a correctly signed unsubscribe from any program, with no time check
  (plugins/corerouter/cr_common.c:150-172). It death-marks the node and frees it at once when its
  reference count is 0. The reference count is the stats field ``ref``: requests in flight
  through this router to that node, raised when a balancing algorithm picks the node
  (core/subscription.c:153, 187, 199, 228) and lowered when the request's peer closes
  (plugins/corerouter/corerouter.c:331, 439). A death-marked node with ``ref`` > 0 stays listed;
  no algorithm picks a death-marked node (core/subscription.c:141, 169, 197, 209), and it is freed
  at the next lookup of its key once ``ref`` is 0 (core/subscription.c:279-289). So a node's
  state in one router's pool is ``present`` (listed, ``death_mark`` 0), ``draining``
  (death-marked, requests in flight) or ``absent`` (not listed, or death-marked with ``ref`` 0:
  nothing in flight, freed at the next lookup). A node absent from every router gets no new
  request through them and has none of theirs in flight.
* A node's own announce (or any subscribe) clears the death mark (core/subscription.c:434): the
  announces must be blocked before the unsubscribes are sent, or the next announce undoes them.
* The master creates its FIFO afresh (unlink, mkfifo) when it starts or reloads
  (core/master.c:368, core/fifo.c:103-121) and after every writer closed it (core/fifo.c:135-141).
  The FIFO's identity (device, inode) after this module's own write is kept in the state record;
  another identity later means the master restarted (its announces are then as configured at
  start: sent, or blocked with ``start-unsubscribed``, core/uwsgi.c:660) or someone else wrote a
  command. Then the state is read from the routers instead: a master announces on its first
  cycle and every ``subscribe-freq`` seconds after (core/master.c:813), so a node listed live with
  an announce newer than its FIFO announces, and one silent for longer than its announce interval
  since does not.

The I/O helpers are small functions; ``Drain`` decides first, then acts (outside check mode).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat
import tempfile
import time

from ansible_collections.uwsgi.topology.plugins.module_utils import packet
from ansible_collections.uwsgi.topology.plugins.module_utils import stats as stats_mod
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

# uWSGI 2.0's defaults (core/init.c:99-100).
DEFAULT_TOLERANCE = 17
DEFAULT_ANNOUNCE_INTERVAL = 10
# How often an unacknowledged (UDP) packet is sent again while waiting.
RESEND_EVERY = 1.0
# How long the master may take to create its FIFO again after a write.
FIFO_RECREATE_WAIT = 2.0

PRESENT, DRAINING, ABSENT, UNKNOWN = 'present', 'draining', 'absent', 'unknown'


class DrainError(TopologyError):
    """A refusal or a failure; ``result`` holds what was learnt and done before it."""

    def __init__(self, path, message, result=None):
        self.result = result or {}
        super(DrainError, self).__init__(path, message)


# --- the state record ----------------------------------------------------------------------------

def read_record(path):
    """The state record at ``path`` (a dict), or None when there is none."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise DrainError('node.state_file', 'cannot read %s: %s' % (path, exc.strerror or exc))
    except ValueError as exc:
        raise DrainError('node.state_file', '%s is not this module\'s JSON state record (%s); remove it and run '
                                            'again: the module then reads the state from the routers' % (path, exc))
    if not isinstance(data, dict) or not isinstance(data.get('blocked'), bool):
        raise DrainError('node.state_file', '%s is not this module\'s state record (no boolean "blocked"); remove '
                                            'it and run again' % path)
    return data


def write_record(path, record):
    """Write ``record`` to ``path`` atomically (a temporary file beside it, fsync, rename)."""
    directory = os.path.dirname(path) or '.'
    try:
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=directory)
    except (IOError, OSError) as exc:
        raise DrainError('node.state_file', 'cannot write in %s: %s' % (directory, exc.strerror or exc))
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(record, handle, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise DrainError('node.state_file', 'cannot write %s: %s' % (path, exc.strerror or exc))


# --- the master FIFO ------------------------------------------------------------------------------

def fifo_identity(path):
    """``[device, inode, ctime in ns]`` of the FIFO at ``path``; DrainError when it is missing or not a FIFO.

    The change time tells a new FIFO from an old one whose inode number the file system reused.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise DrainError('node.fifo', '%s does not exist: is the node running, with master-fifo = %s as its '
                                          'first master-fifo?' % (path, path))
        raise DrainError('node.fifo', 'cannot read %s: %s' % (path, exc.strerror or exc))
    if not stat.S_ISFIFO(info.st_mode):
        raise DrainError('node.fifo', '%s is not a FIFO (a uWSGI master FIFO is created by the node itself)' % path)
    return [info.st_dev, info.st_ino, info.st_ctime_ns]


def fifo_made(identity):
    """When the FIFO of ``identity`` was made (seconds since the epoch): the master made it anew then."""
    return identity[2] / 1e9


def write_fifo(path, command, clock=time.monotonic, sleep=time.sleep):
    """Write the one-byte ``command`` to the master FIFO; return its identity once the master made it anew.

    The master reads one byte per wakeup and makes the FIFO anew when its writer closed
    (core/fifo.c:125-141). Opening for writing fails with ENXIO when no process reads it (the
    node is not running). While waiting this process holds the old FIFO open for reading (never
    reading from it), so the file system cannot give its inode number to the new one. The identity
    returned is the new FIFO's, or the old one's if the master did not make it anew within
    FIFO_RECREATE_WAIT (the record then does not match it later, and the state is read from the
    routers).
    """
    before = fifo_identity(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise DrainError('node.fifo', 'no process reads %s: the node\'s master is not running (or this is not '
                                          'its master FIFO)' % path)
        raise DrainError('node.fifo', 'cannot open %s for writing: %s (run the module as the node\'s user or root)'
                         % (path, exc.strerror or exc))
    watch = None
    try:
        watch = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.write(fd, command)
    except OSError as exc:
        if watch is not None:
            os.close(watch)
        raise DrainError('node.fifo', 'cannot write to %s: %s' % (path, exc.strerror or exc))
    finally:
        os.close(fd)
    try:
        deadline = clock() + FIFO_RECREATE_WAIT
        while clock() < deadline:
            if os.fstat(watch).st_nlink == 0:
                try:
                    return fifo_identity(path)
                except DrainError:
                    pass  # between the master's unlink and its mkfifo
            sleep(0.01)
    finally:
        os.close(watch)
    return before


# --- the routers' view ----------------------------------------------------------------------------

def node_state(pool_nodes, address):
    """present | draining | absent: ``address`` in one key's pool (nodes as ``stats.pools`` gives them)."""
    for node in pool_nodes:
        if node.get('name') == address:
            if not node.get('death_mark'):
                return PRESENT
            return DRAINING if node.get('ref') else ABSENT
    return ABSENT


def _nodes_by_key(data):
    by_key = {}
    for pool in stats_mod.pools(data):
        by_key.setdefault(pool['key'], []).extend(pool['nodes'])
    return by_key


def live_others(pool_nodes, address, now, tolerance):
    """The other nodes of a pool a router still sends to: not death-marked, announced within ``tolerance``."""
    out = []
    for node in pool_nodes:
        if node.get('name') == address or node.get('death_mark'):
            continue
        last = node.get('last_check')
        if isinstance(last, (int, float)) and now - last > tolerance:
            continue
        out.append(node.get('name'))
    return out


class Router(object):
    """One router the node subscribes to: its subscription server, stats address, the node's keys there."""

    def __init__(self, name, server, stats, keys, tolerance):
        self.name = name
        self.server = server
        self.stats = stats
        self.keys = keys
        self.tolerance = tolerance
        self.data = None
        self.error = None

    def read(self, timeout):
        """Read the stats (None when there is no stats address); keep the last error."""
        self.data = self.error = None
        if self.stats is None:
            return None
        try:
            self.data = stats_mod.fetch(self.stats, timeout=timeout)
        except stats_mod.StatsError as exc:
            self.error = exc
        return self.data

    def states(self, address, keys):
        """``{key: present|draining|absent|unknown}`` from the last read."""
        wanted = [key for key in self.keys if key in keys]
        if self.data is None:
            return dict((key, UNKNOWN) for key in wanted)
        by_key = _nodes_by_key(self.data)
        return dict((key, node_state(by_key.get(key, []), address)) for key in wanted)


# --- the module's logic ---------------------------------------------------------------------------

class Drain(object):
    """Decide, then act: ``run()`` returns the result dict or raises DrainError.

    ``params`` are the module's; ``warn`` takes a warning; ``check_mode`` sends and writes nothing.
    """

    def __init__(self, params, check_mode=False, warn=None, clock=time.monotonic, wall=time.time,
                 sleep=time.sleep, send=packet.send):
        self.params = params
        self.node = params['node']
        self.check_mode = check_mode
        self.warn = warn or (lambda message: None)
        self.clock, self.wall, self.sleep, self.send = clock, wall, sleep, send
        self.announces = [packet.announcement(item, 'node.subscriptions[%d]' % i)
                          for i, item in enumerate(self.node['subscriptions'])]
        if not self.announces:
            raise DrainError('node.subscriptions', 'is empty: node %s subscribes to no router, there is nothing to '
                                                   'drain' % self.node['instance'])
        addresses = sorted(set(a.address for a in self.announces))
        if len(addresses) != 1:
            raise DrainError('node.subscriptions', 'announce several addresses (%s); one node instance announces '
                                                   'one' % ', '.join(addresses))
        self.address = addresses[0]
        self.all_keys = sorted(set(a.key for a in self.announces))
        self.keys = self._keys()
        self.routers = self._routers()
        self.diff = {'before': '', 'after': ''}
        self.result = {'changed': False, 'state': params['state'], 'drained_keys': [], 'before': {}, 'after': {},
                       'announces': {}, 'sent': [], 'waited': 0.0}
        self.signers = {}

    # -- reading the inputs

    def _keys(self):
        keys = self.params.get('keys')
        if not keys:
            return list(self.all_keys)
        unknown = [key for key in keys if key not in self.all_keys]
        if unknown:
            raise DrainError('keys', '%s: node %s subscribes only with %s' % (
                ', '.join(repr(k) for k in unknown), self.node['instance'], ', '.join(self.all_keys)))
        if sorted(set(keys)) != self.all_keys:
            raise DrainError('keys', 'names %s, a part of node %s\'s keys (%s). uWSGI 2.0 can only block all of a '
                                     'node\'s announces (master FIFO S), so the keys left out would stop being '
                                     'announced too and leave their pools after the routers\' tolerance. Drain the '
                                     'node for all its keys (leave keys out), or give the keys to drain separately '
                                     'to separate node instances' % (', '.join(sorted(set(keys))),
                                                                     self.node['instance'], ', '.join(self.all_keys)))
        return list(self.all_keys)

    def _routers(self):
        given = {}
        for i, item in enumerate(self.node.get('routers') or []):
            server = item.get('server')
            if not server:
                raise DrainError('node.routers[%d].server' % i, 'is required: the subscription server the node\'s '
                                                                'entries name')
            given[server] = item
        routers = []
        servers = set(a.server for a in self.announces)
        # The routers in the order given, then the servers no router entry names.
        order = [item['server'] for item in self.node.get('routers') or [] if item['server'] in servers]
        for server in order + sorted(servers - set(order)):
            item = given.get(server) or {}
            keys = sorted(set(a.key for a in self.announces if a.server == server))
            tolerance = item.get('tolerance') or DEFAULT_TOLERANCE
            routers.append(Router(item.get('name') or server, server, item.get('stats'), keys, tolerance))
        without = [r.name for r in routers if r.stats is None]
        if without:
            self.warn('router%s %s: no stats address, so this module cannot confirm there that node %s left or '
                      'joined the pools, nor count the requests in flight; it sends the packets three times. For '
                      'a zero-loss drain give each router\'s stats address, reachable from this host'
                      % ('s' if len(without) > 1 else '', ', '.join(without), self.node['instance']))
        return routers

    # -- the routers

    def _read_all(self):
        for router in self.routers:
            router.read(self.params['wait_interval'] + 2.0)

    def _states(self):
        return dict((router.name, router.states(self.address, self.keys)) for router in self.routers)

    def _signer(self, announce):
        if announce.keyfile is None:
            return None
        cache = (announce.keyfile, announce.digest)
        if cache not in self.signers:
            if not packet.HAS_CRYPTOGRAPHY:
                raise DrainError(announce.path + '.signing', 'signing needs the Python library cryptography on the '
                                                             'node host (python3-cryptography)')
            try:
                with open(announce.keyfile, 'rb') as handle:
                    pem = handle.read()
            except (IOError, OSError) as exc:
                raise DrainError(announce.path + '.signing[1]', 'cannot read %s: %s (run the module as the node\'s '
                                                                'user or root)' % (announce.keyfile,
                                                                                   exc.strerror or exc))
            self.signers[cache] = packet.rsa_signer(pem, announce.digest, announce.path + '.signing[1]')
        return self.signers[cache]

    def _packets(self, cmd):
        """One signed packet per subscription, the time as uWSGI sends it (now + command for an unsubscribe)."""
        now = int(self.wall())
        # A subscribe dated one second back: a router refuses a signed subscribe not newer than the node's
        # last (core/subscription.c:425), so the node's own announce in the same second still counts.
        unix = now + 1 if cmd == packet.UNSUBSCRIBE else now - 1
        return [(a, packet.encode(a, cmd, self._signer(a), unix=unix if a.keyfile else None))
                for a in self.announces if a.key in self.keys]

    def _send(self, cmd, only=None):
        """Send a packet for every subscription (or those of the routers named in ``only``)."""
        for announce, data in self._packets(cmd):
            if only is not None and announce.server not in only:
                continue
            try:
                self.send(announce.server, data)
            except (OSError, ValueError) as exc:
                self.warn('could not send the %s for %s: %s' % (
                    'unsubscribe' if cmd else 'subscribe', announce.describe(), exc))
                continue
            described = announce.describe()
            if described not in self.result['sent']:
                self.result['sent'].append(described)

    # -- the announces (master FIFO S)

    def _blocked(self, record):
        """``(blocked, source)``: whether the node's announces are blocked now, and how that is known."""
        identity = fifo_identity(self.node['fifo'])
        if record is not None and record.get('fifo') is not None and list(record['fifo']) == identity:
            return record['blocked'], 'recorded'
        readable = [r for r in self.routers if r.stats is not None]
        start = bool(self.node.get('start_blocked'))
        if not readable:
            self.warn('node %s: the state record does not match its FIFO %s (the node was started or reloaded since, '
                      'or someone wrote to the FIFO) and no router\'s stats can be read: assuming its announces are '
                      '%s, as the node starts' % (self.node['instance'], self.node['fifo'],
                                                  'blocked' if start else 'sent'))
            return start, 'assumed'
        # Read the routers until the node either announced since its FIFO was made (it announces) or stayed
        # silent for longer than its announce interval (it does not).
        interval = self.node.get('announce_interval') or DEFAULT_ANNOUNCE_INTERVAL
        made = fifo_made(identity)
        deadline = self.clock() + interval + 2.0
        while True:
            self._read_all()
            wall = self.wall()
            for router in readable:
                if router.data is None:
                    continue
                by_key = _nodes_by_key(router.data)
                for key in router.keys:
                    for node in by_key.get(key, []):
                        if node.get('name') == self.address and not node.get('death_mark') and \
                                isinstance(node.get('last_check'), (int, float)) and node['last_check'] >= int(made):
                            return False, 'observed'
            if wall - made > interval + 2.0:
                if any(r.data is None for r in readable):
                    self.warn('node %s: some routers\' stats could not be read while looking for its announces; '
                              'taking its silence on the others as blocked announces' % self.node['instance'])
                return True, 'observed'
            if self.clock() >= deadline:
                return start, 'assumed'
            self.sleep(min(self.params['wait_interval'], 1.0))

    def _toggle(self, blocked_after, since):
        """Write S and record the new state with the FIFO's new identity (after the write: a crash between
        them leaves a record whose identity does not match, which is never trusted)."""
        identity = write_fifo(self.node['fifo'], b'S', clock=self.clock, sleep=self.sleep)
        write_record(self.node['state_file'], {'blocked': blocked_after, 'keys': self.keys, 'since': since,
                                               'fifo': identity, 'instance': self.node['instance']})

    # -- drained / active

    def run(self):
        record = read_record(self.node['state_file'])
        blocked, source = self._blocked(record)
        self._read_all()
        before = self._states()
        self.result['before'] = before
        self.result['announces'] = {'before': 'blocked' if blocked else 'sent', 'source': source}
        if self.params['state'] == 'drained':
            self._drain(blocked, before, record)
        else:
            self._activate(blocked, before)
        return self.result

    def _unreadable(self):
        return ['%s (%s)' % (r.name, r.error.message) for r in self.routers if r.stats is not None and r.data is None]

    def _drain(self, blocked, before, record):
        listed = [(r, k) for r, keys in before.items() for k, s in keys.items() if s in (PRESENT, DRAINING)]
        self.result['drained_keys'] = list(self.keys)
        if blocked and not listed and not self._unreadable():
            self.result['after'] = before
            self.result['announces']['after'] = 'blocked'
            self._diff_texts(before, before, blocked, True)
            return
        self._refuse_last_node()
        after = dict((r, dict((k, ABSENT if s != UNKNOWN else UNKNOWN) for k, s in keys.items()))
                     for r, keys in before.items())
        self.result['changed'] = True
        self.result['announces']['after'] = 'blocked'
        self._diff_texts(before, after, blocked, True)
        if self.check_mode:
            self.result['after'] = after
            return
        since = record.get('since') if blocked and record else None
        if not blocked:
            self._toggle(True, self.wall())
        elif record is None or not record.get('blocked') or record.get('fifo') is None or since is None:
            write_record(self.node['state_file'], {'blocked': True, 'keys': self.keys, 'since': self.wall(),
                                                   'fifo': fifo_identity(self.node['fifo']),
                                                   'instance': self.node['instance']})
        self._send(packet.UNSUBSCRIBE)
        self._wait(ABSENT)

    def _refuse_last_node(self):
        if self.params['force']:
            return
        now = self.wall()
        last = []
        for router in self.routers:
            if router.data is None:
                continue
            by_key = _nodes_by_key(router.data)
            for key in router.keys:
                nodes = by_key.get(key, [])
                if node_state(nodes, self.address) == PRESENT and not live_others(nodes, self.address, now,
                                                                                  router.tolerance):
                    last.append('%s key %r' % (router.name, key))
        if last:
            raise DrainError('state', 'drained would take node %s (%s) out of its pools, and it is the last live node '
                                      'of: %s (live: not death-marked, announced within the router\'s tolerance). '
                                      'Requests for these keys would fail. Start another node for them first, or '
                                      'set force: true' % (self.node['instance'], self.address, '; '.join(last)),
                             self.result)
        unchecked = [r.name for r in self.routers if r.data is None]
        if unchecked:
            self.warn('node %s: could not check on %s that another live node serves its keys' % (
                self.node['instance'], ', '.join(unchecked)))

    def _activate(self, blocked, before):
        self.result['drained_keys'] = []
        missing = [(r, k) for r, keys in before.items() for k, s in keys.items() if s != PRESENT]
        if not blocked and not missing:
            self.result['after'] = before
            self.result['announces']['after'] = 'sent'
            self._diff_texts(before, before, blocked, False)
            return
        after = dict((r, dict((k, PRESENT if s != UNKNOWN else UNKNOWN) for k, s in keys.items()))
                     for r, keys in before.items())
        self.result['changed'] = True
        self.result['announces']['after'] = 'sent'
        self._diff_texts(before, after, blocked, False)
        if self.check_mode:
            self.result['after'] = after
            return
        if blocked:
            self._toggle(False, self.wall())
        self._send(packet.SUBSCRIBE)
        self._wait(PRESENT)

    # -- waiting

    def _wait(self, goal):
        """Until every router shows ``goal`` for every key; unacknowledged packets are sent again."""
        cmd = packet.UNSUBSCRIBE if goal == ABSENT else packet.SUBSCRIBE
        blind = [r for r in self.routers if r.stats is None]
        if blind:
            for _repeat in range(2):
                self.sleep(0.2)
                self._send(cmd, only=set(r.server for r in blind))
        if not self.params['wait']:
            self._read_all()
            self.result['after'] = self._states()
            return
        start = last_sent = self.clock()
        timeout, interval = self.params['wait_timeout'], self.params['wait_interval']
        while True:
            self._read_all()
            states = self._states()
            self.result['after'] = states
            self.result['waited'] = round(self.clock() - start, 3)
            pending = dict((r.name, [k for k, s in states[r.name].items() if s != goal])
                           for r in self.routers if r.stats is not None)
            pending = dict((name, keys) for name, keys in pending.items() if keys)
            if not pending:
                return
            now = self.clock()
            if now - start >= timeout:
                raise DrainError('wait_timeout', self._timeout_message(goal, states, pending, now - start),
                                 self.result)
            if now - last_sent >= RESEND_EVERY:
                # Datagrams get lost; a router that already dropped (or lists) the node ignores a repeat.
                resend = set(r.server for r in self.routers if r.name in pending and
                             any(states[r.name][k] == (PRESENT if goal == ABSENT else ABSENT)
                                 for k in pending[r.name]))
                if resend:
                    self._send(cmd, only=resend)
                last_sent = now
            self.sleep(max(0.0, min(interval, timeout - (now - start))))

    def _timeout_message(self, goal, states, pending, waited):
        parts = []
        for router in self.routers:
            if router.name not in pending:
                continue
            if router.data is None:
                parts.append('%s: stats %s could not be read (%s)' % (
                    router.name, router.stats, router.error.message if router.error else 'no answer'))
                continue
            parts.append('%s: %s' % (router.name, ', '.join('%s %s' % (k, states[router.name][k])
                                                            for k in pending[router.name])))
        head = 'node %s (%s) is not %s every router\'s pool after %.1f s: %s' % (
            self.node['instance'], self.address, 'out of' if goal == ABSENT else 'back in', waited, '; '.join(parts))
        if goal == ABSENT:
            return head + ('. Its announces are blocked and it stays so (state: drained): run again to wait longer. '
                           '"draining" means requests through that router are still in flight on it; "present" that '
                           'the router still lists it live (the unsubscribe was refused: wrong signing key? or the '
                           'node still announces: see announces in the result)')
        return head + '. Its announces are resumed; "absent" means the router refused the subscribe (signing key?)'

    def _diff_texts(self, before, after, blocked, blocked_after):
        def text(states, is_blocked):
            lines = ['announces: %s' % ('blocked' if is_blocked else 'sent')]
            for router in sorted(states):
                for key in sorted(states[router]):
                    lines.append('%s %s: %s' % (router, key, states[router][key]))
            return '\n'.join(lines) + '\n'
        self.diff = {'before': text(before, blocked), 'after': text(after, blocked_after)}
