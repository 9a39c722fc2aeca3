#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded HTTP and HTTPS load generator for day-2 changes, standard library only.

One copy serves two callers: the Molecule scenario ``operations`` copies this file into its client
container and runs it there (``python3 loadgen.py run ...``), and ``tests/bench/bench_changes.py``
runs it on this machine against the bundled default on 127.0.0.1. Both then read its records back
and use ``analyse`` and ``table`` below, so they print the same figures.

``run``: ``--threads`` client threads (at least 8 by default), each sending one request per
connection (the routers close every connection: no keep-alive), in turn to each ``--target``:

* ``http:ADDRESS:PORT:KEY``: plain HTTP with ``Host: KEY``;
* ``https:ADDRESS:PORT:KEY[:NAME]``: TLS with the server name NAME (default KEY) in SNI, the
  certificate verified against ``--ca`` and for NAME, then ``Host: KEY``.

The paths mix (per thread, from a seeded random generator): ``--slow-share`` of the requests
``/slow?ms=--slow-ms`` (so some are always in flight), ``--bytes-share`` ``/bytes?n=--bytes-n``, the
rest ``/``: the demo application's endpoints. A request is good when its status is 200 and its body
is complete (``/`` and ``/slow``: the node's name, as its ``X-Topology-Node`` header says;
``/bytes``: exactly n bytes). Anything else is a failure, recorded with its cause:

    connect refused | connect timeout | connect reset | connect error (ERRNO)
    tls wrong certificate (...) | tls error (...) | tls timeout | tls reset
    send reset | send error (...)
    closed without response | response reset | response timeout | incomplete body
    bad response (...) | status NNN | wrong body (...)

Bounded: it stops by itself after ``--max-requests`` requests or ``--max-seconds`` seconds, whichever
comes first, or as soon as ``--stop-file`` exists; each request has ``--timeout`` seconds at most.
Every second it rewrites ``OUT.progress`` (``sent done failed``), and at the end it writes ``OUT``
(JSON, atomically): the targets, why it stopped, and one record per request
``[start, seconds, target, path kind, cause or "", node, tally]`` (``tally``: the response's
``--tally-header``, e.g. the application's version).

``cert ADDRESS PORT NAME``: the sha256 fingerprint (hex) of the certificate presented for the server
name NAME, unverified: the verifiers compare it with the key store's files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import collections
import errno
import hashlib
import http.client
import json
import os
import random
import socket
import ssl
import sys
import threading
import time

DEFAULT_THREADS = 8
MIN_THREADS = 1
USER_AGENT = 'uwsgi-topology-loadgen'

Target = collections.namedtuple('Target', 'scheme address port key name')

# Record fields (one list per request, compact JSON).
START, SECONDS, TARGET, KIND, CAUSE, NODE, TALLY = range(7)


def parse_target(text):
    """``http:ADDRESS:PORT:KEY`` or ``https:ADDRESS:PORT:KEY[:NAME]`` -> Target."""
    parts = text.split(':')
    if len(parts) < 4 or parts[0] not in ('http', 'https') or not parts[2].isdigit():
        raise argparse.ArgumentTypeError('a target is http:ADDRESS:PORT:KEY or https:ADDRESS:PORT:KEY[:NAME], '
                                         'got %r' % text)
    if parts[0] == 'http' and len(parts) != 4 or len(parts) > 5:
        raise argparse.ArgumentTypeError('too many fields in target %r' % text)
    name = parts[4] if len(parts) == 5 else parts[3]
    return Target(parts[0], parts[1], int(parts[2]), parts[3], name if parts[0] == 'https' else None)


def target_label(target):
    if target.scheme == 'http':
        return 'http %s' % target.key
    if target.name == target.key:
        return 'https %s' % target.key
    return 'https %s (SNI %s)' % (target.key, target.name)


def _errno_name(exc):
    number = getattr(exc, 'errno', None)
    return errno.errorcode.get(number, str(number)) if number else type(exc).__name__


class Client(object):
    """One request per connection, each failure classified by the stage it happened in."""

    def __init__(self, ca, timeout, tally_header):
        self.timeout = timeout
        self.tally_header = tally_header
        self.context = None
        if ca:
            self.context = ssl.create_default_context(cafile=ca)
            self.context.check_hostname = True

    def request(self, target, path):
        """Returns ``(cause, node, tally)``; cause '' for a good answer."""
        stage = 'connect'
        sock = None
        try:
            sock = socket.create_connection((target.address, target.port), timeout=self.timeout)
            if target.scheme == 'https':
                stage = 'tls'
                sock = self.context.wrap_socket(sock, server_hostname=target.name)
            stage = 'send'
            sock.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n'
                          % (path, target.key, USER_AGENT)).encode('ascii'))
            stage = 'response'
            response = http.client.HTTPResponse(sock)
            response.begin()
            body = response.read()
            node = response.getheader('X-Topology-Node') or ''
            tally = (response.getheader(self.tally_header) or '') if self.tally_header else ''
            return self._check(response.status, body, node, path), node, tally
        except ssl.SSLCertVerificationError as exc:
            return 'tls wrong certificate (%s)' % (exc.verify_message or exc.reason), '', ''
        except ssl.SSLError as exc:
            return 'tls error (%s)' % (exc.reason or type(exc).__name__), '', ''
        except socket.timeout:
            return '%s timeout' % stage, '', ''
        except ConnectionRefusedError:
            return '%s refused' % stage, '', ''
        except http.client.RemoteDisconnected:
            return 'closed without response', '', ''
        except http.client.IncompleteRead:
            return 'incomplete body', '', ''
        except ConnectionResetError:
            return '%s reset' % stage, '', ''
        except http.client.HTTPException as exc:
            return 'bad response (%s)' % type(exc).__name__, '', ''
        except OSError as exc:
            return '%s error (%s)' % (stage, _errno_name(exc)), '', ''
        finally:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass

    @staticmethod
    def _check(status, body, node, path):
        if status != 200:
            return 'status %d' % status
        if path.startswith('/bytes?n='):
            wanted = int(path.split('=', 1)[1])
            if len(body) != wanted:
                return 'wrong body (%d of %d bytes)' % (len(body), wanted)
            return ''
        if not node or body.decode('utf-8', 'replace') != node:
            return 'wrong body (%r, node header %r)' % (body[:40], node)
        return ''


class Load(object):
    """The run: threads, bounds, stop file, progress, records."""

    def __init__(self, args):
        self.args = args
        self.targets = args.target
        self.client = Client(args.ca, args.timeout, args.tally_header)
        self.lock = threading.Lock()
        self.records = []
        self.sent = 0
        self.failed = 0
        self.stopped_by = None
        self.started = time.time()
        self.deadline = self.started + args.max_seconds
        self.paths = (('s', '/slow?ms=%d' % args.slow_ms), ('b', '/bytes?n=%d' % args.bytes_n), ('r', '/'))

    def _stop_reason(self):
        if self.stopped_by:
            return self.stopped_by
        if self.sent >= self.args.max_requests:
            return 'max-requests'
        if time.time() >= self.deadline:
            return 'max-seconds'
        if self.args.stop_file and os.path.exists(self.args.stop_file):
            return 'stop-file'
        return None

    def _path(self, rng):
        draw = rng.random()
        if draw < self.args.slow_share:
            return self.paths[0]
        if draw < self.args.slow_share + self.args.bytes_share:
            return self.paths[1]
        return self.paths[2]

    def worker(self, index):
        rng = random.Random(1000 + index)
        turn = index
        while True:
            with self.lock:
                reason = self._stop_reason()
                if reason:
                    self.stopped_by = reason
                    return
                self.sent += 1
            target_index = turn % len(self.targets)
            turn += 1
            kind, path = self._path(rng)
            start = time.time()
            cause, node, tally = self.client.request(self.targets[target_index], path)
            record = [round(start, 4), round(time.time() - start, 4), target_index, kind, cause, node, tally]
            with self.lock:
                self.records.append(record)
                if cause:
                    self.failed += 1

    def _progress(self):
        if not self.args.out:
            return
        with self.lock:
            text = '%d %d %d\n' % (self.sent, len(self.records), self.failed)
        _write_atomic(self.args.out + '.progress', text)

    def run(self):
        threads = [threading.Thread(target=self.worker, args=(i,)) for i in range(self.args.threads)]
        for thread in threads:
            thread.daemon = True
            thread.start()
        while any(t.is_alive() for t in threads):
            self._progress()
            for thread in threads:
                thread.join(0.5 / len(threads))
        self._progress()
        result = {
            'targets': [dict(t._asdict(), label=target_label(t)) for t in self.targets],
            'threads': self.args.threads, 'started': self.started, 'ended': time.time(),
            'stopped_by': self.stopped_by, 'sent': self.sent, 'failed': self.failed,
            'records': sorted(self.records),
        }
        if self.args.out:
            _write_atomic(self.args.out, json.dumps(result, separators=(',', ':')))
        return result


def _write_atomic(path, text):
    temporary = '%s.tmp.%d' % (path, os.getpid())
    with open(temporary, 'w') as handle:
        handle.write(text)
    os.replace(temporary, path)


def presented_fingerprint(address, port, name, timeout=10):
    """sha256 (hex) of the certificate presented for server name ``name`` (not verified)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=name) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


# --------------------------------------------------------------------------
# What the callers compute from the records (the scenario's verifier, the benchmark).
# --------------------------------------------------------------------------

def analyse(result, start, end):
    """The figures of one change that ran from ``start`` to ``end`` (epoch seconds) under the load
    ``result``: requests started during the change, every request of the load, failures (all of
    the load's, by cause), requests in flight at the change's start and end, the slowest request,
    and per node the tallies seen in requests started after the change ended."""
    records = result['records']
    during = [r for r in records if start <= r[START] <= end]
    failures = collections.Counter(r[CAUSE] for r in records if r[CAUSE])
    failed_during = sum(1 for r in during if r[CAUSE])
    after = [r for r in records if r[START] > end and not r[CAUSE]]
    tallies = {}
    for record in after:
        tallies.setdefault(record[NODE], collections.Counter())[record[TALLY]] += 1
    return {
        'seconds': end - start,
        'requests': len(during),
        'total': len(records),
        'failed': sum(failures.values()),
        'failed_during': failed_during,
        'causes': dict(failures),
        'in_flight': (_in_flight(records, start), _in_flight(records, end)),
        'max_ms': max([r[SECONDS] for r in records] or [0]) * 1000.0,
        'rate': len(during) / (end - start) if end > start else 0.0,
        'nodes_after': dict((node, dict(counts)) for node, counts in tallies.items()),
        'stopped_by': result.get('stopped_by'),
        'failures_by_target': dict(collections.Counter(
            result['targets'][r[TARGET]]['label'] for r in records if r[CAUSE])),
    }


def _in_flight(records, moment):
    return sum(1 for r in records if r[START] <= moment <= r[START] + r[SECONDS])


def nodes_between(result, start, end):
    """{node: answers} of the good requests started between ``start`` and ``end``."""
    return dict(collections.Counter(r[NODE] for r in result['records']
                                    if start <= r[START] <= end and not r[CAUSE]))


def table(rows, title='changes under load'):
    """The per-change table: each row a dict with ``change`` and ``analyse``'s figures (or ``error``)."""
    lines = ['', '==== %s ====' % title,
             '%-28s %9s %9s %7s %7s %8s %9s  %s' % ('change', 'dur. s', 'requests', 'req/s', 'failed', 'in fl.',
                                                    'max ms', 'failures by cause / remarks')]
    for row in rows:
        if row.get('requests') is None:
            dashes = ('-',) * 6
            lines.append('%-28s %9s %9s %7s %7s %8s %9s  %s' % ((row['change'],) + dashes + (row.get('error') or 'not run',)))
            continue
        causes = ', '.join('%s: %d' % item for item in sorted(row['causes'].items(), key=lambda i: -i[1]))
        remarks = [causes or 'none']
        if row.get('failed_during') != row['failed']:
            remarks.append('%d of them during the change' % row['failed_during'])
        if row.get('error'):
            remarks.append('CHECK FAILED: %s' % row['error'])
        lines.append('%-28s %9.1f %9d %7.0f %7d %8s %9.0f  %s' % (
            row['change'], row['seconds'], row['requests'], row['rate'], row['failed'],
            '%d/%d' % row['in_flight'], row['max_ms'], '; '.join(remarks)))
    lines.append('requests: started during the change (the load ran before and after it too: %s in all); '
                 'failed: every failed request of the load, before, during and after the change; '
                 'in fl.: requests in flight when the change started/ended; max ms: the slowest request of the load'
                 % sum(r.get('total') or 0 for r in rows))
    return '\n'.join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command')
    run = sub.add_parser('run', help='run a bounded load')
    run.add_argument('--target', action='append', type=parse_target, required=True,
                     help='http:ADDRESS:PORT:KEY or https:ADDRESS:PORT:KEY[:NAME] (repeat)')
    run.add_argument('--ca', help='CA certificate file the https targets are verified with')
    run.add_argument('--threads', type=int, default=DEFAULT_THREADS)
    run.add_argument('--max-requests', type=int, default=20000)
    run.add_argument('--max-seconds', type=float, default=120.0)
    run.add_argument('--timeout', type=float, default=10.0, help='seconds per request at most')
    run.add_argument('--slow-share', type=float, default=0.15)
    run.add_argument('--slow-ms', type=int, default=200)
    run.add_argument('--bytes-share', type=float, default=0.10)
    run.add_argument('--bytes-n', type=int, default=65536)
    run.add_argument('--tally-header', default='', help='a response header counted per node (e.g. a version)')
    run.add_argument('--stop-file', help='stop as soon as this file exists')
    run.add_argument('--out', help='the JSON result (written at the end; OUT.progress every second)')
    cert = sub.add_parser('cert', help='print the sha256 of the certificate presented for a server name')
    cert.add_argument('address')
    cert.add_argument('port', type=int)
    cert.add_argument('name')
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error('a command is needed: run or cert')
    if args.command == 'run':
        if args.threads < MIN_THREADS or args.threads > 64:
            parser.error('--threads must be in %d..64' % MIN_THREADS)
        if args.max_requests < 1 or args.max_requests > 200000 or not 0 < args.max_seconds <= 900:
            parser.error('bounded load: --max-requests in 1..200000, --max-seconds in (0, 900]')
        if any(t.scheme == 'https' for t in args.target) and not args.ca:
            parser.error('https targets need --ca')
        if args.slow_share < 0 or args.bytes_share < 0 or args.slow_share + args.bytes_share > 1:
            parser.error('--slow-share and --bytes-share must be shares that add up to 1 at most')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == 'cert':
        print(presented_fingerprint(args.address, args.port, args.name))
        return 0
    result = Load(args).run()
    if not args.out:
        print(json.dumps(dict((k, v) for k, v in result.items() if k != 'records')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
