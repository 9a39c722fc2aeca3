# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the end-to-end tests: run the real playbooks against a temporary prefix.

Everything runs on 127.0.0.1 only. The bundled inventory (inventory/local.yml) is copied
with its ports shifted by an offset, so that the tests never collide with a `make demo`
deployment on the default ports, nor with each other.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
VENV_BIN = os.path.join(ROOT, '.venv', 'bin')
LOCAL_INVENTORY = os.path.join(ROOT, 'inventory', 'local.yml')
HOST = 'uwsgi-local'
PORT_KEYS = ('port', 'subscription_port', 'stats_port')

_RECAP = re.compile(r'^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+'
                    r'skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)', re.M)


def tool(name):
    """A tool of the test virtualenv (.venv/bin), else from PATH."""
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else name


def clean_env(prefix=None, **extra):
    """The environment for ansible-playbook: no UWSGI_* variable (uWSGI reads them as options),
    no PYTHONPATH (the collection comes from a collections path, as for a user)."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith('UWSGI_') and k != 'PYTHONPATH')
    env.update({
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_FORCE_COLOR': '0',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'PATH': VENV_BIN + os.pathsep + env.get('PATH', ''),
    })
    if prefix is not None:
        env['TOPOLOGY_PREFIX'] = str(prefix)
    env.update(extra)
    return env


def load_local_inventory():
    with open(LOCAL_INVENTORY) as handle:
        return yaml.safe_load(handle)


def host_vars(inventory):
    return inventory['all']['hosts'][HOST]


def shift_ports(inventory, offset):
    """A copy of ``inventory`` with every router and node port moved by ``offset``."""
    inventory = copy.deepcopy(inventory)
    variables = host_vars(inventory)
    for name in ('uwsgi_router_instances', 'uwsgi_node_instances'):
        for item in variables.get(name) or []:
            for key in PORT_KEYS:
                if isinstance(item.get(key), int):
                    item[key] += offset
    return inventory


def write_inventory(inventory, path):
    with open(str(path), 'w') as handle:
        yaml.safe_dump(inventory, handle, default_flow_style=False, sort_keys=False)
    return str(path)


def instances(inventory, kind):
    return host_vars(inventory)['uwsgi_%s_instances' % kind]


def instance(inventory, kind, name):
    for item in instances(inventory, kind):
        if item['name'] == name:
            return item
    raise KeyError(name)


class Run(object):
    """The outcome of one ansible-playbook run."""

    def __init__(self, args, returncode, output, seconds):
        self.args = args
        self.returncode = returncode
        self.output = output
        self.seconds = seconds
        self.recap = dict((m.group(1), dict(zip(
            ('ok', 'changed', 'unreachable', 'failed', 'skipped', 'rescued', 'ignored'),
            (int(g) for g in m.groups()[1:])))) for m in _RECAP.finditer(output))

    def changed(self, host=HOST):
        return self.recap[host]['changed']

    def tail(self, lines=60):
        return '\n'.join(self.output.splitlines()[-lines:])

    def __repr__(self):
        return '<Run %s rc=%s %.1fs recap=%s>' % (' '.join(self.args), self.returncode, self.seconds, self.recap)


def playbook(playbook_name, inventory, env, *args, **kwargs):
    """Run ansible-playbook (from the repository root unless ``cwd`` is given)."""
    cwd = kwargs.pop('cwd', ROOT)
    timeout = kwargs.pop('timeout', 900)
    command = [tool('ansible-playbook'), playbook_name, '-i', str(inventory)] + list(args)
    start = time.time()
    proc = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)
    return Run(command, proc.returncode, proc.stdout, time.time() - start)


def ports_of(inventory):
    out = []
    for kind in ('router', 'node'):
        for item in instances(inventory, kind):
            out.extend(item[k] for k in PORT_KEYS if isinstance(item.get(k), int))
    return out


def busy_ports(ports):
    """The TCP ports among ``ports`` that something on 127.0.0.1 listens on."""
    busy = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(0.5)
        try:
            if sock.connect_ex(('127.0.0.1', port)) == 0:
                busy.append(port)
        finally:
            sock.close()
    return busy


def http_get(port, host_header, tls=False, ca=None, server_name=None, timeout=5):
    """One GET through a router on 127.0.0.1; returns (status, body, peer certificate DER or None).

    Over TLS the SNI name (and the name the certificate is checked against, with ``ca``) is
    ``server_name``, default the key without its port.
    """
    sock = socket.create_connection(('127.0.0.1', port), timeout)
    der = None
    try:
        if tls:
            if ca:
                context = ssl.create_default_context(cafile=ca)
            else:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=server_name or host_header.split(':')[0])
            der = sock.getpeercert(binary_form=True)
        request = 'GET / HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' % host_header
        sock.sendall(request.encode('ascii'))
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    raw = b''.join(chunks)
    head, _sep, body = raw.partition(b'\r\n\r\n')
    status_line = head.split(b'\r\n', 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 else None
    return status, body.decode('utf-8', 'replace').strip(), der


def bodies(port, host_header, count, **kwargs):
    """The bodies of ``count`` requests, as {body: how many}."""
    seen = {}
    for dummy in range(count):
        dummy, body, dummy = http_get(port, host_header, **kwargs)
        seen[body] = seen.get(body, 0) + 1
    return seen


def answered_by(port, host_header, count, **kwargs):
    """The set of bodies (node names) of ``count`` requests. Through a router with replicas each replica
    balances on its own, so only which nodes answer is certain, not how many times each (any replica
    that gets three requests or more shows both nodes of a two-node pool)."""
    return set(bodies(port, host_header, count, **kwargs))


def router_stats(port, timeout=5):
    """The JSON document of a router's stats server on 127.0.0.1 (stray commas repaired)."""
    sock = socket.create_connection(('127.0.0.1', port), timeout)
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    text = b''.join(chunks).decode('utf-8', 'replace')
    return json.loads(re.sub(r',(\s*[\]}])', r'\1', text))


def live_nodes(stats, key):
    for pool in stats.get('subscriptions') or []:
        if pool.get('key') == key:
            return sorted(n['name'] for n in pool.get('nodes') or [] if not n.get('death_mark'))
    return []


def snapshot(path):
    """Every file and directory under ``path`` with its type, size, mode and mtime."""
    out = {}
    for base, dirs, files in os.walk(str(path)):
        for name in dirs + files:
            full = os.path.join(base, name)
            st = os.lstat(full)
            out[full] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def emperor_pid(prefix):
    try:
        with open(os.path.join(str(prefix), 'run', 'emperor.pid')) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def processes_under(prefix):
    """Pids of processes whose command line mentions ``prefix``."""
    found = []
    needle = str(prefix).encode()
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if needle in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def vassal_pids(prefix, vassal):
    """Pids of the processes of one vassal (master, workers, gateways) of the Emperor of ``prefix``.

    The Emperor starts each vassal as `uwsgi --ini <file name>` in the vassals directory.
    """
    vassals = os.path.join(str(prefix), 'vassals')
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                argv = handle.read().split(b'\0')
            if vassal.encode() in argv and os.readlink('/proc/%s/cwd' % entry) == vassals:
                found.append(int(entry))
        except OSError:
            continue
    return sorted(found)


def require_free_ports(inventory):
    """Fail the test at once when a port of ``inventory`` is taken on 127.0.0.1."""
    busy = busy_ports(ports_of(inventory))
    if busy:
        pytest.fail('ports %s on 127.0.0.1 are in use; the test needs them free' % busy)


def tear_down(prefix, inventory_path, env):
    """Whatever a test left: the teardown play while the prefix exists, then kill_leftovers."""
    if prefix.exists():
        run = playbook('teardown.yml', inventory_path, env)
        if run.returncode != 0:
            print(run.tail())
    kill_leftovers(prefix)


def kill_leftovers(prefix):
    """Last resort after a failed teardown: SIGINT the Emperor (it stops its vassals), then SIGKILL."""
    pid = emperor_pid(prefix)
    if pid:
        os.kill(pid, signal.SIGINT)
        for dummy in range(60):
            if emperor_pid(prefix) is None:
                break
            time.sleep(0.5)
    for pid in processes_under(prefix):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def wait_until(predicate, timeout=30, interval=0.5):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)
