# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A live proof on loopback with the PyPI build: a router and signed nodes compiled
from specs route a real request, and a node signing with the wrong key is kept out.

Everything binds 127.0.0.1 only; every wait is bounded (at most 20 s); every
process is stopped in teardown (SIGINT, then SIGKILL of its own group) and its log
is printed when the test fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import time

import realbin_support as support
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options, render_ini

KEY = 'app.test'
ANNOUNCE_INTERVAL = 1

APP = '''\
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b%r]
'''


def _write_ini(directory, name, spec, build):
    text = render_ini(compile_options(spec, '2.0', build))
    path = os.path.join(directory, name + '.ini')
    with open(path, 'w') as handle:
        handle.write(text)
    return path, text


def _node_spec(directory, name, port, sub_port, private_key):
    app = os.path.join(directory, name + '.py')
    with open(app, 'w') as handle:
        handle.write(APP % name)
    return {
        'options': [['socket', '127.0.0.1:%d' % port], ['wsgi-file', app], ['processes', 1]],
        'subscriptions': {
            'client_params': {'announce_interval': ANNOUNCE_INTERVAL},
            'subscribe': [{'server': '127.0.0.1:%d' % sub_port, 'key': KEY, 'address': '127.0.0.1:%d' % port,
                           'signing': ['SHA1', private_key]}],
        },
    }


def _stats_or_none(port):
    try:
        return support.read_stats(port)
    except (OSError, ValueError):
        return None


def test_signed_node_joins_and_serves_wrongly_signed_node_stays_out(binaries, material, tmp_path, processes):
    binary = binaries['pypi']
    work = str(tmp_path)
    http_port = support.free_port()
    stats_port = support.free_port()
    sub_port = support.free_port(socket.SOCK_DGRAM)
    good_port = support.free_port()
    bad_port = support.free_port()
    good, bad = '127.0.0.1:%d' % good_port, '127.0.0.1:%d' % bad_port

    # The router's sign-check directory holds <key>.pem: the good node's PUBLIC key.
    pub_dir = os.path.join(work, 'pub')
    os.mkdir(pub_dir)
    support.write(os.path.join(pub_dir, KEY + '.pem'), material.node_public_pem)

    router_spec = {
        'routers': [{
            'type': 'http', 'bind': '127.0.0.1:%d' % http_port,
            'forward_to': {'type': 'subscription_server', 'address': '127.0.0.1:%d' % sub_port},
            'basic_params': {'stats_server': '127.0.0.1:%d' % stats_port},
        }],
        'subscriptions': {'server_verification_params': {'digest_algo': 'SHA1', 'dir_cert': pub_dir}},
        'options': [['processes', 1]],
    }
    router_ini, router_text = _write_ini(work, 'router', router_spec, binary.build)
    assert 'subscriptions-sign-check = SHA1:%s' % pub_dir in router_text
    router = processes('router', [binary.path, '--ini', router_ini], os.path.join(work, 'router.log'))
    assert support.wait_for(lambda: _stats_or_none(stats_port) is not None or not router.alive()), \
        'the router stats server never answered'
    assert router.alive(), 'the router exited'

    # A node signing with the right private key joins the pool.
    good_ini, good_text = _write_ini(work, 'node-good', _node_spec(work, 'node-good', good_port, sub_port,
                                                                   material.node_private), binary.build)
    assert 'sign=SHA1:%s' % material.node_private in good_text and 'subscribe-freq = 1' in good_text
    node = processes('node-good', [binary.path, '--ini', good_ini], os.path.join(work, 'node-good.log'))

    def good_in_pool():
        stats = _stats_or_none(stats_port)
        return stats is not None and good in support.pool_nodes(stats, KEY)
    assert support.wait_for(good_in_pool), 'the signed node never appeared in pool %s: %s' % (
        KEY, _stats_or_none(stats_port))
    assert node.alive()

    # The router routes Host: app.test to it.
    status, body = support.http_get(http_port, KEY)
    assert status.split()[1:2] == ['200'] and body == b'node-good', (status, body)

    # A node signing with a WRONG private key announces, and never gets in.
    bad_ini, _bad_text = _write_ini(work, 'node-bad', _node_spec(work, 'node-bad', bad_port, sub_port,
                                                                 material.wrong_private), binary.build)
    intruder = processes('node-bad', [binary.path, '--ini', bad_ini], os.path.join(work, 'node-bad.log'))
    assert support.wait_for(lambda: 'subscribing to' in intruder.log() or not intruder.alive()), \
        'the wrongly signed node never announced'
    assert intruder.alive(), 'the wrongly signed node exited'
    deadline = time.monotonic() + 3 * ANNOUNCE_INTERVAL + 0.5
    polls = 0
    while time.monotonic() < deadline:
        stats = support.read_stats(stats_port)
        nodes = support.pool_nodes(stats, KEY)
        assert bad not in nodes, 'the wrongly signed node got into the pool: %s' % nodes
        assert good in nodes, 'the signed node left the pool: %s' % nodes
        polls += 1
        time.sleep(0.25)
    assert polls >= 3
    # Round robin over the pool would reach the intruder if it were there.
    for _i in range(4):
        assert support.http_get(http_port, KEY)[1] == b'node-good'
    assert 'new node: %s' % bad not in router.log()
    assert 'new node: %s' % good in router.log()


def test_repair_json_handles_the_stray_commas():
    broken = '{"http":["127.0.0.1:1","127.0.0.1:2",\n],"subscriptions":[{"key":"a","nodes":[{"name":"x"},]},]}'
    import json
    repaired = json.loads(support.repair_json(broken))
    assert repaired['http'] == ['127.0.0.1:1', '127.0.0.1:2']
    assert support.pool_nodes(repaired, 'a') == ['x']
