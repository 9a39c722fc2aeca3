#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Router benchmark: the http and https routers of the bundled default against nginx, same nodes.

Run from the repository root (``make bench-router`` does)::

    .venv/bin/python tests/bench/bench_router.py [--rounds 3] [--duration 4] [--latency-duration 2]
                                                 [--paths small,64k,1m,chunked] [--reuse] [--keep]

What it does, on this machine only (every socket on 127.0.0.1):

* **Deploys** the bundled default (``inventory/local.yml`` of this tree, ports moved by
  ``--port-offset``, default +12000: 30080, 30443, 24626-24627, 31191-31192, 25031-25033, all
  below Linux's ephemeral range) with this tree's ``site.yml`` into
  ``.build/bench-router/deploy/prefix``, with the pip virtualenv ``.build/bench/uwsgi-venv``
  shared with ``make bench-play``. To the bundled routers ``edge-http`` and ``edge-https``
  (the collection's defaults) it adds router instances that differ only by raw options in
  ``spec.options``, each on its own port, subscription port and stats port, with ``app1`` and
  ``app2`` subscribing to every one of them with the key ``app.test`` (signed, as the others):

  - ``bench-http-ka`` / ``bench-https-ka``: ``http-keepalive = 1``
  - ``bench-http-buf`` / ``bench-https-buf``: ``http-buffer-size = 65536``
  - ``bench-http-kabuf`` / ``bench-https-kabuf``: both
  - ``bench-http-backlog``: ``listen = 1024``
  - ``bench-rp-solo`` (alone on its port) and ``bench-rp-a`` + ``bench-rp-b`` (two instances on
    one port): http, ``reuse-port = true``, otherwise the defaults. The planner refuses two
    instances on one port, so ``bench-rp-b`` is deployed on a port of its own and then moved
    onto ``bench-rp-a``'s by editing the ``http =`` line of its vassal file (the Emperor reloads
    it); its subscription and stats ports stay its own.

  The added routers are idle while another is measured (the nodes' announces every 2 s aside),
  and every variant is alive at once, so all of them alternate in the same rounds.
* Starts **nginx** (Debian's package) with its own configuration file under
  ``.build/bench-router/nginx`` (``nginx -p DIR -c FILE -e LOG``, ``daemon off``, in the
  foreground as a child of this script, never the system service): one worker process,
  ``uwsgi_pass`` to an upstream of the same nodes as the key ``app.test`` (app1, app2), over http
  on the routers' http port + 1 and https on the https port + 1 with the same certificate and key
  files as the routers' SNI context for ``app.test`` (``<prefix>/certs/app.test.crt``/``.key``).
  Otherwise nginx's defaults (client keep-alive, response buffering).
* Checks every target once before measuring: status 200 and the exact body size of each path;
  over https with SNI ``app.test``, verified against the topology's CA, so the certificate is the
  SNI one on both servers.
* **Measures** with ``wrk`` (Debian's package), in rounds alternating between the targets (the
  target order rotates each round), per path: throughput at ``--connections`` (16) connections
  for ``--duration`` seconds, then latency at 1 connection for ``--latency-duration`` seconds
  (p50, p99 and the maximum, from wrk's own histogram, reported by a Lua ``done`` hook). Paths
  are the demo application's endpoints: ``small`` ``/`` (the node's name, with a
  Content-Length), ``64k`` ``/bytes?n=65536``, ``1m`` ``/bytes?n=1048576``, ``chunked``
  ``/chunked?n=65536`` (no Content-Length). Every request has ``Host: app.test``.
  **https with SNI**: wrk sends the URL's host as SNI and has no option to connect elsewhere,
  so the URL is ``https://app.test:PORT/`` and wrk runs with ``LD_PRELOAD`` of a 20-line shim
  (compiled here with gcc into ``.build/bench-router/tools``) that resolves ``app.test`` to
  127.0.0.1 in ``getaddrinfo``; no system file changes. The script proves once, against a
  local TLS server of its own, that wrk then sends the SNI name ``app.test``.
  wrk cannot complete, over TLS, a response that ends with the connection (the routers' ``chunked``
  answer: no Content-Length, no chunked encoding): its ssl_read counts the TLS close as a read
  error; those rows say NO RESPONSE and a note explains it.
  wrk is an HTTP/1.1 keep-alive client: a router without ``http-keepalive`` closes the
  connection after each response without saying so, and wrk counts a read or write error and
  reconnects (the ``reconn`` column); a well-behaved browser or client library pays the same.
* **Replicas**: ``bench-rp-solo`` against ``bench-rp-a`` + ``bench-rp-b`` (two single-process
  instances on one address; the kernel spreads the connections), throughput at
  ``--connections`` for ``--replica-paths``, alternating; the split of requests between the two
  comes from the per-key ``hits`` of their stats.
* **Listen backlog**: ``bench-http-backlog`` (``listen = 1024``, otherwise the defaults) against
  ``edge-http`` (uWSGI's default backlog, 100) and nginx (511), small responses, at
  ``--burst-connections`` (256) connections opened at once: throughput, p99 and the worst
  latency of the load (a dropped SYN costs a 1 s retransmission), and the errors.
* Prints one table per protocol: for each path and target, requests/s (median of the rounds),
  the ratio to nginx (median of the per-round ratios), p50/p99/max in ms at one connection
  (median p50 and p99 over the rounds, the worst maximum), and the errors; then the replicas.
  The issue's targets are printed as met or MISSED.

It is a measurement, not a test: it exits 0 when everything ran, whatever the figures; 1 when a
step failed (a deploy, nginx, a check, a wrk run); 2 when it cannot start (tools missing, ports
taken). Everything it started (nginx, the deployment) is stopped in a ``finally``, also on
failure or Ctrl-C, unless ``--keep`` (the deployment keeps running; nginx never does);
``--reuse`` uses the deployment a ``--keep`` run left (deploys it when there is none) and keeps
it. The output of every ansible-playbook run is kept in ``.build/bench-router/logs``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'tests', 'e2e'))
sys.path.insert(0, HERE)

import e2e_support as e2e  # noqa: E402  (tests/e2e, a sibling directory)
import bench_play as bp  # noqa: E402  (deployment helpers of make bench-play)
import yaml  # noqa: E402

OUT = os.path.join(REPO, '.build', 'bench-router')
WORKDIR = os.path.join(OUT, 'deploy')
NGINX_DIR = os.path.join(OUT, 'nginx')
TOOLS = os.path.join(OUT, 'tools')
KEY = 'app.test'
APP_NODES = ('app1', 'app2')

PATHS = {
    'small': ('/', None),
    '64k': ('/bytes?n=65536', 65536),
    '1m': ('/bytes?n=1048576', 1048576),
    'chunked': ('/chunked?n=65536', 65536),
}
PATH_ORDER = ('small', '64k', '1m', 'chunked')

# (suffix, label, extra raw options): the router variants measured beside the collection's defaults.
VARIANTS = (
    ('ka', 'keepalive', {'http-keepalive': 1}),
    ('buf', 'buffer 64k', {'http-buffer-size': 65536}),
    ('kabuf', 'keepalive + buffer 64k', {'http-keepalive': 1, 'http-buffer-size': 65536}),
)
# (suffix, port): the port is the http router's + 10 + this; b is moved to a's port after the deploy (the
# planner refuses two instances on one port), by editing its vassal file (move_replica).
REPLICAS = (('solo', 0), ('a', 1), ('b', 2))
# The listen backlog (uWSGI's `listen`, default 100, for every socket of the instance, the router's too):
# measured under a burst of --burst-connections connections against the default and nginx (backlog 511).
BACKLOG_OPTIONS = {'listen': 1024}

TARGET_RATIO = 1.0      # router/nginx throughput, small and 64 KB, with the collection's defaults
TARGET_P99_MS = 5.0     # p99 at one connection, any size up to 1 MB
TARGET_REPLICAS = 1.3   # 2 replicas / 1
STALL_MS = 30.0         # a median p99 above this at one connection is flagged STALL (Nagle + delayed ACK: ~40 ms)

LUA = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH-RESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
    "p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.max))
end
'''

SHIM = r'''
/* LD_PRELOAD shim of make bench-router: getaddrinfo() of $BENCH_RESOLVE_NAME gives 127.0.0.1, so
 * that wrk connects to loopback while sending that name as SNI and in its URL. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    static gai_fn real;
    const char *name = getenv("BENCH_RESOLVE_NAME");
    if (!real)
        real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (node && name && strcmp(node, name) == 0)
        node = "127.0.0.1";
    return real(node, service, hints, res);
}
'''

_RESULT = re.compile(r'^BENCH-RESULT (.*)$', re.M)


class Failed(Exception):
    """A step of the benchmark that did not work."""


def log(message):
    print('bench-router: %s' % message, file=sys.stderr)
    sys.stderr.flush()


# --------------------------------------------------------------------------
# The deployment.
# --------------------------------------------------------------------------

class Target(object):
    """One server measured: a router instance or nginx, over http or https."""

    def __init__(self, label, proto, port, router=None, stats_port=None, nginx=False):
        self.label = label
        self.proto = proto
        self.port = port
        self.router = router
        self.stats_port = stats_port
        self.nginx = nginx

    def url(self, path):
        if self.proto == 'https':
            return 'https://%s:%d%s' % (KEY, self.port, path)
        return 'http://127.0.0.1:%d%s' % (self.port, path)


class Layout(object):
    """The inventory (the bundled default plus the benchmark's routers) and every target's port."""

    def __init__(self, offset, tree):
        inventory = bp.default_inventory(tree, offset)
        variables = e2e.host_vars(inventory)
        routers = variables['uwsgi_router_instances']
        for router in routers:
            # One router process against nginx's one worker: the replicas are measured on their own below.
            router.pop('replicas', None)
        http = e2e.instance(inventory, 'router', 'edge-http')
        https = e2e.instance(inventory, 'router', 'edge-https')
        subscription = max(r['subscription_port'] for r in routers)
        stats = max(r['stats_port'] for r in routers)
        self.targets = {'http': [], 'https': []}
        self.replicas = []
        self.routers = []
        extra = []
        for proto, base in (('http', http), ('https', https)):
            self.targets[proto].append(Target('router default', proto, base['port'], base['name'],
                                              base['stats_port']))
            for i, (suffix, label, options) in enumerate(VARIANTS):
                item = self._router(base, 'bench-%s-%s' % (proto, suffix), base['port'] + 2 + i, options)
                extra.append(item)
                self.targets[proto].append(Target('router ' + label, proto, item['port'], item['name'],
                                                  item['stats_port']))
            self.targets[proto].append(Target('nginx', proto, base['port'] + 1, nginx=True))
        item = self._router(http, 'bench-http-backlog', http['port'] + 5, BACKLOG_OPTIONS)
        extra.append(item)
        self.burst = [self.targets['http'][0], Target('router listen 1024', 'http', item['port'], item['name']),
                      self.targets['http'][-1]]
        for suffix, index in REPLICAS:
            item = self._router(http, 'bench-rp-%s' % suffix, http['port'] + 10 + index, {'reuse-port': True})
            extra.append(item)
            self.replicas.append(Target('replica ' + suffix, 'http', item['port'], item['name'], item['stats_port']))
        for i, item in enumerate(extra):
            item['subscription_port'] = subscription + 10 + i
            item['stats_port'] = stats + 10 + i
        for target in self.replicas + self.targets['http'] + self.targets['https'] + self.burst:
            for item in extra:
                if item['name'] == target.router:
                    target.stats_port = item['stats_port']
        routers.extend(extra)
        for node in variables['uwsgi_node_instances']:
            if node['name'] in APP_NODES:
                node['subscriptions'].extend({'router': item['name'], 'key': KEY} for item in extra)
        self.inventory = inventory
        self.http = http
        self.https = https
        self.nodes = ['127.0.0.1:%d' % e2e.instance(inventory, 'node', n)['port'] for n in APP_NODES]
        self.routers = [t for t in self.targets['http'] + self.targets['https'] + self.replicas + self.burst[1:2]
                        if t.router]
        self.nginx_ports = [self.targets[p][-1].port for p in ('http', 'https')]

    @staticmethod
    def _router(base, name, port, options):
        item = dict((k, v) for k, v in base.items() if k not in ('name', 'port', 'spec'))
        item.update({'name': name, 'port': port, 'keys': [KEY]})
        if base['type'] == 'http':
            item.pop('keys')
        item['spec'] = {'options': dict(options)}
        return item


def the_tree(args):
    """This working tree, or with --commit the tree of that commit, extracted with git archive into
    .build/bench-router/baseline (bench_play's helper; no change to git's state)."""
    if args.commit:
        return bp.baseline_tree(args.commit)
    return bp.current_tree()


def saved_inventory(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def inventory_text(inventory):
    return yaml.safe_dump(inventory, default_flow_style=False, sort_keys=False)


def bring_up(deploy, layout, args):
    """Deploy (or reuse). Returns True when this run deployed it."""
    running = e2e.emperor_pid(deploy.prefix) is not None
    if args.reuse and running and saved_inventory(deploy.inventory_path) == inventory_text(layout.inventory):
        log('reusing the deployment in %s' % os.path.relpath(WORKDIR, REPO))
        deploy.deployed = True
        return False
    deploy.prepare()
    busy = e2e.busy_ports(layout.nginx_ports)
    if busy:
        raise bp.CannotRun('ports %s on 127.0.0.1 are in use; nginx needs them (--port-offset moves them)' % busy)
    deploy.deploy()
    return True


def wait_for_pools(layout, timeout=60):
    """Every router's pool for app.test holds both app nodes."""
    want = sorted(layout.nodes)
    pending = list(layout.routers)
    deadline = time.time() + timeout
    while pending:
        left = []
        for target in pending:
            try:
                nodes = e2e.live_nodes(e2e.router_stats(target.stats_port), KEY)
            except (OSError, ValueError):
                nodes = []
            if nodes != want:
                left.append((target, nodes))
        if not left:
            return
        if time.time() >= deadline:
            raise Failed('router pools for %s not complete after %d s: %s' % (
                KEY, timeout, '; '.join('%s has %s' % (t.router, n) for t, n in left)))
        pending = [t for t, dummy in left]
        time.sleep(0.5)


def move_replica(deploy, layout, timeout=60):
    """Bind bench-rp-b on bench-rp-a's address: its vassal file's ``http`` line is edited in place (the
    Emperor reloads it), as the planner refuses two instances on one port. A re-run of site.yml reverts
    it; the benchmark never re-runs the play on a deployment it keeps."""
    dummy, pair_a, pair_b = layout.replicas
    path = os.path.join(deploy.prefix, 'vassals', '%s.router.topology.ini' % pair_b.router)
    with open(path) as handle:
        text = handle.read()
    old = 'http = 127.0.0.1:%d' % pair_b.port
    new = 'http = 127.0.0.1:%d' % pair_a.port
    if new + '\n' not in text:
        if text.count(old + '\n') != 1:
            raise Failed('%s: expected one line %r to move the replica, found %d'
                         % (path, old, text.count(old + '\n')))
        log('binding %s on 127.0.0.1:%d too (reuse-port): editing %s' % (pair_b.router, pair_a.port,
                                                                         os.path.relpath(path, REPO)))
        with open(path + '.tmp', 'w') as handle:
            handle.write(text.replace(old + '\n', new + '\n'))
        os.rename(path + '.tmp', path)
    pair_b.port = pair_a.port
    deadline = time.time() + timeout
    while listeners(pair_a.port) != 2:
        if time.time() > deadline:
            raise Failed('%s did not bind 127.0.0.1:%d beside %s within %d s (%d listeners)'
                         % (pair_b.router, pair_a.port, pair_a.router, timeout, listeners(pair_a.port)))
        time.sleep(0.5)


def listeners(port):
    """How many TCP sockets listen on 127.0.0.1:port (from /proc/net/tcp)."""
    count = 0
    with open('/proc/net/tcp') as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            address, state = fields[1], fields[3]
            if state == '0A' and address == '0100007F:%04X' % port:
                count += 1
    return count


# --------------------------------------------------------------------------
# nginx.
# --------------------------------------------------------------------------

UWSGI_PARAMS = ('QUERY_STRING $query_string', 'REQUEST_METHOD $request_method', 'CONTENT_TYPE $content_type',
                'CONTENT_LENGTH $content_length', 'REQUEST_URI $request_uri', 'PATH_INFO $document_uri',
                'DOCUMENT_ROOT $document_root', 'SERVER_PROTOCOL $server_protocol', 'REQUEST_SCHEME $scheme',
                'HTTPS $https if_not_empty', 'REMOTE_ADDR $remote_addr', 'REMOTE_PORT $remote_port',
                'SERVER_PORT $server_port', 'SERVER_NAME $server_name')


def nginx_config(layout, certs):
    temp = os.path.join(NGINX_DIR, 'temp')
    params = ''.join('            uwsgi_param %s;\n' % p for p in UWSGI_PARAMS)
    location = '        location / {\n            uwsgi_pass app_test;\n%s        }\n' % params
    http_port, https_port = layout.nginx_ports
    return ('# nginx of make bench-router (tests/bench/bench_router.py); started in the foreground.\n'
            'worker_processes 1;\n'
            'daemon off;\n'
            'pid %(dir)s/nginx.pid;\n'
            'error_log %(dir)s/error.log warn;\n'
            'events {\n    worker_connections 1024;\n}\n'
            'http {\n'
            '    access_log off;\n'
            '    client_body_temp_path %(temp)s/client;\n'
            '    uwsgi_temp_path %(temp)s/uwsgi;\n'
            '    proxy_temp_path %(temp)s/proxy;\n'
            '    fastcgi_temp_path %(temp)s/fastcgi;\n'
            '    scgi_temp_path %(temp)s/scgi;\n'
            '    upstream app_test {\n%(servers)s    }\n'
            '    server {\n'
            '        listen 127.0.0.1:%(http)d;\n'
            '        server_name %(key)s;\n'
            '%(location)s'
            '    }\n'
            '    server {\n'
            '        listen 127.0.0.1:%(https)d ssl;\n'
            '        server_name %(key)s;\n'
            '        ssl_certificate %(crt)s;\n'
            '        ssl_certificate_key %(keyfile)s;\n'
            '%(location)s'
            '    }\n'
            '}\n') % {
                'dir': NGINX_DIR, 'temp': temp, 'http': http_port, 'https': https_port, 'key': KEY,
                'servers': ''.join('        server %s;\n' % n for n in layout.nodes), 'location': location,
                'crt': os.path.join(certs, KEY + '.crt'), 'keyfile': os.path.join(certs, KEY + '.key')}


class Nginx(object):
    def __init__(self, layout, certs):
        self.layout = layout
        self.certs = certs
        self.proc = None

    def start(self):
        shutil.rmtree(NGINX_DIR, ignore_errors=True)
        os.makedirs(os.path.join(NGINX_DIR, 'temp'))
        conf = os.path.join(NGINX_DIR, 'nginx.conf')
        with open(conf, 'w') as handle:
            handle.write(nginx_config(self.layout, self.certs))
        binary = shutil.which('nginx') or '/usr/sbin/nginx'
        ports = ' and '.join(map(str, self.layout.nginx_ports))
        log('starting nginx (%s, 1 worker) on 127.0.0.1:%s' % (os.path.relpath(conf, REPO), ports))
        out = open(os.path.join(NGINX_DIR, 'stderr.log'), 'w')
        self.proc = subprocess.Popen([binary, '-p', NGINX_DIR, '-c', conf, '-e', os.path.join(NGINX_DIR, 'error.log')],
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.time() + 15
        while len(e2e.busy_ports(self.layout.nginx_ports)) < 2:
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failed('nginx did not start: %s' % self._errors())
            time.sleep(0.1)

    def _errors(self):
        text = ''
        for name in ('stderr.log', 'error.log'):
            try:
                with open(os.path.join(NGINX_DIR, name)) as handle:
                    text += handle.read()
            except OSError:
                pass
        return text.strip()[-2000:] or 'no output'

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        log('nginx stopped')


# --------------------------------------------------------------------------
# Tools: the SNI shim, the Lua report, wrk.
# --------------------------------------------------------------------------

def build_tools():
    os.makedirs(TOOLS, exist_ok=True)
    lua = os.path.join(TOOLS, 'report.lua')
    with open(lua, 'w') as handle:
        handle.write(LUA)
    source = os.path.join(TOOLS, 'resolve_shim.c')
    shim = os.path.join(TOOLS, 'resolve_shim.so')
    with open(source, 'w') as handle:
        handle.write(SHIM)
    proc = subprocess.run(['gcc', '-shared', '-fPIC', '-O2', '-o', shim, source, '-ldl'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if proc.returncode != 0:
        raise Failed('cannot build the SNI shim: %s' % proc.stdout)
    return lua, shim


class Wrk(object):
    def __init__(self, lua, shim, threads):
        self.lua = lua
        self.shim = shim
        self.threads = threads

    def run(self, target, path, connections, duration):
        threads = max(1, min(self.threads, connections))
        command = ['wrk', '-t%d' % threads, '-c%d' % connections, '-d%ds' % duration, '--timeout', '5s',
                   '-s', self.lua, '-H', 'Host: %s' % KEY, target.url(path)]
        env = dict(os.environ)
        if target.proto == 'https':
            env['LD_PRELOAD'] = self.shim
            env['BENCH_RESOLVE_NAME'] = KEY
        try:
            proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                  universal_newlines=True, timeout=duration + 30, check=False)
        except subprocess.TimeoutExpired:
            raise Failed('wrk timed out: %s' % ' '.join(command))
        match = _RESULT.search(proc.stdout)
        if proc.returncode != 0 or not match:
            raise Failed('wrk failed (rc %d): %s\n%s' % (proc.returncode, ' '.join(command), proc.stdout[-2000:]))
        raw = dict((k, int(v)) for k, v in (pair.split('=') for pair in match.group(1).split()))
        seconds = raw['duration_us'] / 1e6
        return {
            'rps': raw['requests'] / seconds if seconds else 0.0,
            'requests': raw['requests'],
            'bytes_per_request': raw['bytes'] / raw['requests'] if raw['requests'] else 0,
            'reconnects': raw['read'] + raw['write'],
            'errors': raw['connect'] + raw['status'] + raw['timeout'],
            'p50': raw['p50_us'] / 1000.0, 'p99': raw['p99_us'] / 1000.0, 'max': raw['max_us'] / 1000.0,
        }


def check_wrk_sni(wrk, certs):
    """Prove that wrk, through the shim, connects to 127.0.0.1 and sends the SNI name app.test."""
    seen = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(certs, KEY + '.crt'), os.path.join(certs, KEY + '.key'))
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, dummy = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                conn.settimeout(2)
                tls = context.wrap_socket(conn, server_side=True)
                tls.recv(4096)
                tls.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
                tls.close()
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve)
    thread.daemon = True
    thread.start()
    try:
        probe = Target('sni probe', 'https', listener.getsockname()[1])
        wrk.run(probe, '/', 1, 1)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    if not seen or any(name != KEY for name in seen):
        raise Failed('wrk did not send the SNI name %s through the shim (server saw %r)' % (KEY, seen[:5]))
    log('wrk sends SNI %s through the shim (%d handshakes seen)' % (KEY, len(seen)))


# --------------------------------------------------------------------------
# One request, checked.
# --------------------------------------------------------------------------

def fetch(target, path, ca, timeout=10):
    sock = socket.create_connection(('127.0.0.1', target.port), timeout)
    try:
        if target.proto == 'https':
            context = ssl.create_default_context(cafile=ca)
            sock = context.wrap_socket(sock, server_hostname=KEY)
        sock.sendall(('GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' % (path, KEY)).encode('ascii'))
        chunks = []
        while True:
            data = sock.recv(262144)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    head, dummy, body = b''.join(chunks).partition(b'\r\n\r\n')
    status = head.split(b'\r\n', 1)[0].split()
    return (int(status[1]) if len(status) > 1 else None), body


def check_targets(targets, paths, ca):
    for target in targets:
        for name in paths:
            path, size = PATHS[name]
            try:
                status, body = fetch(target, path, ca)
            except (OSError, ssl.SSLError) as exc:
                raise Failed('%s %s %s: %s' % (target.proto, target.label, path, exc))
            if status != 200 or (size is not None and len(body) != size) or (size is None and not body):
                raise Failed('%s %s %s: status %s, %d bytes of body (expected 200, %s)'
                             % (target.proto, target.label, path, status, len(body), size or 'a node name'))


# --------------------------------------------------------------------------
# The measurement.
# --------------------------------------------------------------------------

def rotated(items, by):
    by %= len(items)
    return items[by:] + items[:by]


def measure(layout, wrk, args):
    """{(proto, path, label): [per-round {'load': wrk result, 'one': wrk result}]}."""
    results = {}
    protos = [p for p in ('http', 'https') if p in args.protos]
    total = args.rounds * len(args.paths) * sum(len(layout.targets[p]) for p in protos)
    done = 0
    for r in range(args.rounds):
        for proto in protos:
            for name in args.paths:
                path = PATHS[name][0]
                for target in rotated(layout.targets[proto], r):
                    load = wrk.run(target, path, args.connections, args.duration)
                    one = wrk.run(target, path, 1, args.latency_duration)
                    results.setdefault((proto, name, target.label), []).append({'load': load, 'one': one})
                    done += 1
                    log('round %d/%d %s %-8s %-24s %9.0f req/s  p50 %7.2f  p99 %7.2f ms  (%d/%d)'
                        % (r + 1, args.rounds, proto, name, target.label, load['rps'], one['p50'], one['p99'],
                           done, total))
    return results


def measure_replicas(layout, wrk, args):
    solo, pair_a, pair_b = layout.replicas
    count = listeners(pair_a.port)
    if count != 2:
        raise Failed('expected 2 listeners on 127.0.0.1:%d (bench-rp-a and bench-rp-b), found %d'
                     % (pair_a.port, count))
    pair = Target('2 replicas', 'http', pair_a.port)
    one = Target('1 replica', 'http', solo.port)
    results = {}
    hits = {}
    for r in range(args.rounds):
        for name in args.replica_paths:
            path = PATHS[name][0]
            for target in rotated([one, pair], r):
                before = [pool_hits(t) for t in (pair_a, pair_b)] if target is pair else None
                load = wrk.run(target, path, args.connections, args.duration)
                if before is not None:
                    after = [pool_hits(t) for t in (pair_a, pair_b)]
                    split = hits.setdefault(name, [0, 0])
                    for i in (0, 1):
                        split[i] += after[i] - before[i]
                results.setdefault((name, target.label), []).append(load)
                log('round %d/%d replicas %-8s %-12s %9.0f req/s' % (r + 1, args.rounds, name, target.label,
                                                                     load['rps']))
    return results, hits


def measure_burst(layout, wrk, args):
    """Throughput and latency under --burst-connections connections (each opened at once by wrk)."""
    results = {}
    for r in range(args.rounds):
        for target in rotated(layout.burst, r):
            load = wrk.run(target, PATHS['small'][0], args.burst_connections, args.duration)
            results.setdefault(target.label, []).append(load)
            log('round %d/%d burst %d connections %-20s %9.0f req/s  p99 %7.2f  max %7.1f ms  errors %d'
                % (r + 1, args.rounds, args.burst_connections, target.label, load['rps'], load['p99'], load['max'],
                   load['errors']))
    return results


def pool_hits(target):
    for pool in e2e.router_stats(target.stats_port).get('subscriptions') or []:
        if pool.get('key') == KEY:
            return pool.get('hits', 0)
    return 0


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------

def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value, pattern):
    return '-' if value is None else pattern % value


def summarize(rounds, nginx_rounds, size):
    load = [x['load'] for x in rounds]
    one = [x['one'] for x in rounds]
    ratios = None
    if nginx_rounds is not None:
        ratios = [a['load']['rps'] / b['load']['rps'] for a, b in zip(rounds, nginx_rounds) if b['load']['rps']]
    return {
        'rps': _median([x['rps'] for x in load]),
        'ratio': _median(ratios) if ratios is not None else None,
        # latency of the runs that completed responses only
        'p50': _median([x['p50'] for x in one if x['requests']]),
        'p99': _median([x['p99'] for x in one if x['requests']]),
        'max': max([x['max'] for x in one if x['requests']] or [None]),
        'reconnects': sum(x['reconnects'] for x in load + one),
        'errors': sum(x['errors'] for x in load + one),
        'requests': sum(x['requests'] for x in load + one),
        # a response shorter than its body: bytes per request count the headers too
        'short': any(x['requests'] and x['bytes_per_request'] < (size or 1) for x in load + one),
        # wrk completed no response at all (every one ended in a read error)
        'failed_runs': sum(1 for x in load + one if not x['requests']),
    }


def report(layout, results, replicas, burst, args):
    summary = {}
    rule = '-' * 104
    print()
    print('Routers against nginx (1 worker), same nodes (app1, app2: 2 processes each), loopback, Host: %s' % KEY)
    print('  req/s: throughput at %d connections, median of %d rounds of %d s; ratio: router/nginx, median of '
          'the per-round ratios' % (args.connections, args.rounds, args.duration))
    print('  p50/p99/max ms: latency at 1 connection (%d s per round; p50, p99: median over the rounds; max: '
          'worst)' % args.latency_duration)
    print('  reconn: wrk read/write errors (the router closed a connection the client expected to reuse); '
          'errors: connect, status, timeout')
    print('  STALL: median p99 above %.0f ms; NO RESPONSE: wrk completed no response in a run (every one ended in '
          'a read error)' % STALL_MS)
    for proto in [p for p in ('http', 'https') if p in args.protos]:
        print()
        print('%s%s' % (proto, ' (SNI %s, through the shim)' % KEY if proto == 'https' else ''))
        print(rule)
        columns = ('path', 'target', 'req/s', 'ratio', 'p50 ms', 'p99 ms', 'max ms', 'reconn', 'errors')
        print('%-8s %-30s %10s %7s %8s %8s %8s %9s %7s' % columns)
        unmeasured = []
        for name in args.paths:
            nginx = results.get((proto, name, 'nginx'))
            for target in layout.targets[proto]:
                rounds = results.get((proto, name, target.label))
                if not rounds:
                    continue
                figures = summarize(rounds, None if target.nginx else nginx, PATHS[name][1])
                summary[(proto, name, target.label)] = figures
                stall = ''
                if figures['p99'] is not None and figures['p99'] > STALL_MS:
                    stall = '  STALL'
                if figures['failed_runs']:
                    stall += '  NO RESPONSE in %d run(s)' % figures['failed_runs']
                elif figures['short']:
                    stall += '  SHORT RESPONSES'
                print('%-8s %-30s %10.0f %7s %8s %8s %8s %9d %7d%s'
                      % (name, target.label, figures['rps'], _fmt(figures['ratio'], '%.2f'),
                         _fmt(figures['p50'], '%.2f'), _fmt(figures['p99'], '%.2f'), _fmt(figures['max'], '%.1f'),
                         figures['reconnects'], figures['errors'], stall))
                if figures['failed_runs'] and proto == 'https' and name == 'chunked':
                    unmeasured.append(target.label)
        if unmeasured:
            print('NOTE: %s: wrk cannot measure a response that ends with the connection (no Content-Length, no '
                  'chunked encoding) over TLS: its ssl_read counts the TLS close (SSL_read 0) as a read error, '
                  'so no such response completes. The responses are complete (checked before the rounds).'
                  % ', '.join(unmeasured))
    if replicas is not None:
        results_r, hits = replicas
        print()
        print('1 versus 2 router instances on one address (http, reuse-port = true, otherwise the defaults), '
              '%d connections' % args.connections)
        print(rule)
        print('%-8s %12s %12s %7s   %s' % ('path', '1 replica', '2 replicas', 'ratio', 'requests served by a / b'))
        for name in args.replica_paths:
            one = results_r.get((name, '1 replica')) or []
            two = results_r.get((name, '2 replicas')) or []
            ratio = _median([b['rps'] / a['rps'] for a, b in zip(one, two) if a['rps']])
            summary[('replicas', name)] = ratio
            split = hits.get(name, [0, 0])
            print('%-8s %12.0f %12.0f %7s   %d / %d'
                  % (name, _median([x['rps'] for x in one]), _median([x['rps'] for x in two]),
                     _fmt(ratio, '%.2f'), split[0], split[1]))
    if burst is not None:
        print()
        print('Burst: %d connections, small responses, http (the router\'s listen backlog: uWSGI\'s `listen`, default '
              '100; nginx: 511)' % args.burst_connections)
        print(rule)
        columns = ('target', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'reconn', 'errors')
        print('%-26s %10s %8s %8s %8s %9s %7s' % columns)
        for target in layout.burst:
            rounds = burst.get(target.label) or []
            if not rounds:
                continue
            summary[('burst', target.label)] = {'rps': _median([x['rps'] for x in rounds])}
            print('%-26s %10.0f %8.2f %8.2f %8.1f %9d %7d'
                  % (target.label, _median([x['rps'] for x in rounds]), _median([x['p50'] for x in rounds]),
                     _median([x['p99'] for x in rounds]), max(x['max'] for x in rounds),
                     sum(x['reconnects'] for x in rounds), sum(x['errors'] for x in rounds)))
    print()
    targets(summary, args)
    return summary


def targets(summary, args):
    def met(ok):
        return 'met' if ok else 'MISSED'

    print('Targets of issue 11 (the collection\'s defaults = "router default"):')
    for proto in [p for p in ('http', 'https') if p in args.protos]:
        for name in ('small', '64k'):
            figures = summary.get((proto, name, 'router default'))
            if figures and figures['ratio'] is not None and not figures['failed_runs']:
                print('  %s %-7s throughput >= %.1fx nginx: %.2f  %s'
                      % (proto, name, TARGET_RATIO, figures['ratio'], met(figures['ratio'] >= TARGET_RATIO)))
        worst = [(f['p99'], k[1]) for k, f in summary.items()
                 if len(k) == 3 and k[0] == proto and k[2] == 'router default' and f['p99'] is not None]
        if worst:
            p99, name = max(worst)
            print('  %s p99 at 1 connection <= %.0f ms, every size: worst %.2f ms (%s)  %s'
                  % (proto, TARGET_P99_MS, p99, name, met(p99 <= TARGET_P99_MS)))
    for name in args.replica_paths:
        ratio = summary.get(('replicas', name))
        if ratio is not None:
            verdict = met(ratio >= TARGET_REPLICAS)
            print('  2 replicas >= %.1fx 1 replica, %s: %.2f  %s' % (TARGET_REPLICAS, name, ratio, verdict))


# --------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rounds', type=int, default=3, help='alternating rounds (default 3)')
    parser.add_argument('--duration', type=int, default=4, help='seconds of each throughput run (default 4)')
    parser.add_argument('--latency-duration', type=int, default=2,
                        help='seconds of each 1-connection latency run (default 2)')
    parser.add_argument('--connections', type=int, default=16, help='connections of the throughput runs (16)')
    parser.add_argument('--threads', type=int, default=2, help='wrk threads of the throughput runs (default 2)')
    parser.add_argument('--paths', default=','.join(PATH_ORDER),
                        help='paths measured, among %s (default all)' % ', '.join(PATH_ORDER))
    parser.add_argument('--replica-paths', default='small,64k',
                        help='paths of the replica comparison; "" for none (default small,64k)')
    parser.add_argument('--burst-connections', type=int, default=256,
                        help='connections of the listen-backlog comparison; 0 for none (default 256)')
    parser.add_argument('--protos', default='http,https', help='http, https or both (default)')
    parser.add_argument('--port-offset', type=int, default=12000,
                        help='move the bundled default\'s ports (default 12000: 30080, 30443, ...)')
    parser.add_argument('--reuse', action='store_true',
                        help='use the deployment a --keep run left (deploy when there is none) and keep it')
    parser.add_argument('--keep', action='store_true', help='keep the deployment running at the end')
    parser.add_argument('--commit', default=None,
                        help='deploy the collection of this commit (git archive) instead of the working tree')
    parser.add_argument('--timeout', type=int, default=900, help='seconds allowed to each ansible-playbook')
    parser.add_argument('--forks', type=int, default=None, help='ANSIBLE_FORKS (default: Ansible\'s)')
    args = parser.parse_args(argv)
    args.paths = [x.strip() for x in args.paths.split(',') if x.strip()]
    args.replica_paths = [x.strip() for x in args.replica_paths.split(',') if x.strip()]
    args.protos = [x.strip() for x in args.protos.split(',') if x.strip()]
    for name in args.paths + args.replica_paths:
        if name not in PATHS:
            parser.error('unknown path %r: one of %s' % (name, ', '.join(PATH_ORDER)))
    if not args.paths or any(p not in ('http', 'https') for p in args.protos) or not args.protos:
        parser.error('--paths and --protos: at least one; --protos among http, https')
    if args.rounds < 1 or args.duration < 1 or args.latency_duration < 1 or args.connections < 1:
        parser.error('--rounds, --duration, --latency-duration, --connections: at least 1')
    return args


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    missing = [t for t in ('wrk', 'nginx', 'gcc') if not (shutil.which(t) or os.path.exists('/usr/sbin/' + t))]
    if missing:
        log('missing %s: run `make apt` (scripts/apt-deps.sh)' % ', '.join(missing))
        return 2
    if not os.path.isabs(e2e.tool('ansible-playbook')):
        log('%s/ansible-playbook not found: run `make venv` first' % e2e.VENV_BIN)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    # bench_play keeps the logs of its playbooks in .build/bench/logs; ours go to .build/bench-router/logs.
    bp.BENCH = OUT
    shutil.rmtree(os.path.join(OUT, 'logs'), ignore_errors=True)
    try:
        tree = the_tree(args)
    except bp.CannotRun as exc:
        log(str(exc))
        return 2
    layout = Layout(args.port_offset, tree)
    deploy = bp.Deployment(tree, 'bench-router', layout.inventory, WORKDIR, args)
    log('deploying with the site.yml of %s' % ('commit %s' % args.commit if args.commit else 'this working tree'))
    nginx = None
    keep = args.keep or args.reuse
    status = 0
    try:
        lua, shim = build_tools()
        wrk = Wrk(lua, shim, args.threads)
        bring_up(deploy, layout, args)
        certs = os.path.join(deploy.prefix, 'certs')
        ca = os.path.join(certs, 'topology-ca.pem')
        if args.replica_paths:
            move_replica(deploy, layout)
        wait_for_pools(layout)
        nginx = Nginx(layout, certs)
        nginx.start()
        if 'https' in args.protos:
            check_wrk_sni(wrk, certs)
        every = [t for p in args.protos for t in layout.targets[p]]
        check_targets(every, args.paths, ca)
        check_targets(layout.replicas, args.replica_paths, ca)
        started = time.time()
        results = measure(layout, wrk, args)
        replicas = measure_replicas(layout, wrk, args) if args.replica_paths else None
        burst = measure_burst(layout, wrk, args) if args.burst_connections else None
        log('measured in %.0f s' % (time.time() - started))
        summary = report(layout, results, replicas, burst, args)
        with open(os.path.join(OUT, 'results.json'), 'w') as handle:
            json.dump({'args': vars(args), 'summary': dict(('/'.join(map(str, k)), v) for k, v in summary.items())},
                      handle, indent=1, sort_keys=True)
    except bp.CannotRun as exc:
        log(str(exc))
        status = 2
    except (Failed, bp.PlayFailed) as exc:
        log('FAILED: %s' % exc)
        if isinstance(exc, bp.PlayFailed) and exc.run is not None:
            log(exc.run.tail(60))
        if isinstance(exc, bp.PlayFailed) and exc.detail:
            log(exc.detail)
        status = 1
    finally:
        if nginx is not None:
            nginx.stop()
        if keep and deploy.deployed:
            where = (os.path.relpath(WORKDIR, REPO), deploy.inventory_path, deploy.prefix)
            log('deployment kept: %s (tear down: a run without --keep/--reuse, or ansible-playbook teardown.yml '
                '-i %s with TOPOLOGY_PREFIX=%s)' % where)
        else:
            try:
                deploy.tear_down()
            except bp.PlayFailed as exc:
                log('FAILED: %s' % exc)
                status = status or 1
    return status


if __name__ == '__main__':
    sys.exit(main())
