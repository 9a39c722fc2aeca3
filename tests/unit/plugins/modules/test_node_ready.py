# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""node_ready against fake uwsgi servers on 127.0.0.1 and a fake master FIFO."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import struct
import threading
import time

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import node_ready as utils
from ansible_collections.uwsgi.topology.plugins.modules import node_ready


def _parse_uwsgi(data):
    """A uwsgi-protocol request -> (modifier1, modifier2, {var: value})."""
    modifier1, size, modifier2 = struct.unpack('<BHB', data[:4])
    body = data[4:4 + size]
    assert len(body) == size
    out = {}
    pos = 0
    while pos < size:
        (klen,) = struct.unpack('<H', body[pos:pos + 2])
        key = body[pos + 2:pos + 2 + klen].decode()
        pos += 2 + klen
        (vlen,) = struct.unpack('<H', body[pos:pos + 2])
        out[key] = body[pos + 2:pos + 2 + vlen].decode()
        pos += 2 + vlen
    return modifier1, modifier2, out


class FakeNode(object):
    """A uwsgi server on 127.0.0.1: ``answer`` is sent after the request is read (None: close at once)."""

    def __init__(self, answer=b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\napp1'):
        self.answer = answer
        self.requests = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = '127.0.0.1:%d' % self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self._serve)
        self.thread.daemon = True
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, dummy = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(2)
            try:
                data = b''
                while len(data) < 4 or len(data) < 4 + struct.unpack('<H', data[1:3])[0]:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(_parse_uwsgi(data))
                if self.answer is not None:
                    conn.sendall(self.answer)
            finally:
                conn.close()

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def fake_node():
    nodes = []

    def make(*args, **kwargs):
        node = FakeNode(*args, **kwargs)
        nodes.append(node)
        return node
    yield make
    for node in nodes:
        node.close()


def _free_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_ready_node_answers_a_real_uwsgi_request(run_module, fake_node):
    node = fake_node()
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'host': 'app.test',
                                                         'uri': '/health?x=1'})
    assert not failed, result
    assert result['changed'] is False and result['reloaded'] is False
    assert (result['status'], result['status_line'], result['attempts']) == (200, 'HTTP/1.1 200 OK', 1)
    modifier1, modifier2, variables = node.requests[0]
    assert (modifier1, modifier2) == (0, 0)
    assert variables == {'REQUEST_METHOD': 'GET', 'REQUEST_URI': '/health?x=1', 'PATH_INFO': '/health',
                         'QUERY_STRING': 'x=1', 'SERVER_NAME': 'app.test',
                         'SERVER_PORT': node.address.split(':')[1], 'SERVER_PROTOCOL': 'HTTP/1.1',
                         'HTTP_HOST': 'app.test'}


def test_a_node_that_closes_without_answering_is_not_ready(run_module, fake_node):
    node = fake_node(answer=None)
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'wait_timeout': 1,
                                                         'interval': 0.2})
    assert failed
    assert 'not ready' in result['msg'] and 'closed without an answer' in result['msg'], result['msg']
    assert node.address in result['msg']
    assert result['attempts'] >= 3 and len(node.requests) == result['attempts']


def test_a_5xx_or_garbage_is_not_ready_and_status_codes_decide(run_module, fake_node):
    node = fake_node(answer=b'HTTP/1.1 500 Internal Server Error\r\n\r\n')
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'wait_timeout': 0})
    assert failed and "HTTP/1.1 500 Internal Server Error" in result['msg'], result
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'status_codes': [500]})
    assert not failed and result['status'] == 500
    garbage = fake_node(answer=b'SSH-2.0-OpenSSH\r\n')
    failed, result, dummy = run_module(node_ready.main, {'address': garbage.address, 'wait_timeout': 0})
    assert failed and 'does not start with an HTTP status line' in result['msg']


def test_a_refused_connection_is_retried_until_the_node_listens(run_module):
    port = _free_port()
    server = {}

    def start_later():
        time.sleep(0.6)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', port))
        sock.listen(4)
        server['sock'] = sock
        conn, dummy = sock.accept()
        conn.recv(4096)
        conn.sendall(b'HTTP/1.0 404 Not Found\r\n\r\n')
        conn.close()
    thread = threading.Thread(target=start_later)
    thread.daemon = True
    thread.start()
    try:
        failed, result, dummy = run_module(node_ready.main, {'address': '127.0.0.1:%d' % port, 'interval': 0.2,
                                                             'wait_timeout': 10})
    finally:
        thread.join(5)
        server['sock'].close()
    assert not failed, result
    assert result['status'] == 404 and result['attempts'] >= 2 and result['waited'] >= 0.5


def _master(fifo, node, commands, recreate_after=0.3):
    """A fake uWSGI master: reads commands from ``fifo``; after each, makes the FIFO anew (as uWSGI does)."""
    def run():
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                data = os.read(fd, 16)
            except BlockingIOError:
                data = None
            if data:
                commands.append(data.decode())
                os.close(fd)
                time.sleep(recreate_after)
                os.unlink(fifo)
                os.mkfifo(fifo, 0o600)
                return
            time.sleep(0.02)
        os.close(fd)
    thread = threading.Thread(target=run)
    thread.daemon = True
    thread.start()
    return thread


def test_reload_writes_the_command_waits_for_a_new_fifo_then_probes(run_module, fake_node, tmp_path):
    node = fake_node()
    fifo = str(tmp_path / 'app1.fifo')
    os.mkfifo(fifo, 0o600)
    before = utils.fifo_identity(fifo)
    commands = []
    thread = _master(fifo, node, commands)
    time.sleep(0.1)
    start = time.time()
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'reload': 'r', 'fifo': fifo,
                                                         'wait_timeout': 10, 'interval': 0.1})
    thread.join(5)
    assert not failed, result
    assert commands == ['r']
    assert result['changed'] is True and result['reloaded'] is True and result['status'] == 200
    assert time.time() - start >= 0.3, 'it did not wait for the new FIFO'
    assert utils.fifo_identity(fifo) != before


def test_reload_fails_when_the_fifo_is_never_made_anew(run_module, fake_node, tmp_path):
    node = fake_node()
    fifo = str(tmp_path / 'app1.fifo')
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # a master that reads nothing
    try:
        failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'reload': 'q', 'fifo': fifo,
                                                             'wait_timeout': 1, 'interval': 0.1})
    finally:
        os.close(reader)
    assert failed
    assert "after writing 'q' to %s" % fifo in result['msg'] and 'was not made anew' in result['msg'], result
    assert result['reloaded'] is True and node.requests == []


def test_reload_of_a_node_that_is_not_running_fails_at_once(run_module, fake_node, tmp_path):
    node = fake_node()
    fifo = str(tmp_path / 'app1.fifo')
    os.mkfifo(fifo, 0o600)
    start = time.time()
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'reload': 'r', 'fifo': fifo})
    assert failed and 'nothing reads master FIFO %s' % fifo in result['msg'], result
    assert time.time() - start < 2 and result['reloaded'] is False
    failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'reload': 'r',
                                                         'fifo': str(tmp_path / 'missing.fifo')})
    assert failed and 'does not exist' in result['msg']


def test_check_mode_writes_nothing_and_still_probes(run_module, fake_node, tmp_path):
    node = fake_node()
    fifo = str(tmp_path / 'app1.fifo')
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        before = utils.fifo_identity(fifo)
        failed, result, dummy = run_module(node_ready.main, {'address': node.address, 'reload': 'r', 'fifo': fifo},
                                           check_mode=True)
        assert os.read(reader, 16) == b''   # no writer came: EOF, nothing written
    finally:
        os.close(reader)
    assert not failed, result
    assert result['changed'] is True and result['reloaded'] is False and result['status'] == 200
    assert utils.fifo_identity(fifo) == before and len(node.requests) == 1


@pytest.mark.parametrize('args, message', [
    ({'address': 'no-port'}, "'no-port' is neither HOST:PORT nor a UNIX socket path"),
    ({'address': '127.0.0.1:99999'}, "'127.0.0.1:99999' is not HOST:PORT"),
    ({'address': '127.0.0.1:3031', 'reload': 'r'}, 'fifo'),
    ({'address': '127.0.0.1:3031', 'interval': 0}, 'interval must be a positive number'),
    ({'address': '127.0.0.1:3031', 'uri': 'health'}, "uri must start with /, got 'health'"),
])
def test_bad_arguments_are_named(run_module, args, message):
    failed, result, dummy = run_module(node_ready.main, args)
    assert failed and message in result['msg'], result['msg']


def test_unix_socket_and_ipv6_addresses_parse():
    assert utils.parse_address('/run/app1.sock') == (socket.AF_UNIX, '/run/app1.sock')
    assert utils.parse_address('[::1]:3031') == (socket.AF_INET6, ('::1', 3031))
