# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the uwsgi.topology.router_metrics module, run in-process against a stats server the
test serves itself on 127.0.0.1."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import time

import pytest

from ansible_collections.uwsgi.topology.plugins.modules import router_metrics
# The fake stats server of the exporter's tests: one copy.
from ansible_collections.uwsgi.topology.tests.unit.plugins.module_utils.test_metrics import StatsServer

APP = ['10.0.0.21:3031', '10.0.0.22:3031']


@pytest.fixture
def server():
    now = int(time.time())
    data = {'version': '2.0.31', 'pid': 1, 'active_sessions': 2, 'http': ['127.0.0.1:8080'], 'cheap': 0,
            'subscriptions': [{'key': 'app.test', 'hits': 6, 'nodes': [
                {'name': APP[0], 'last_check': now, 'death_mark': 0, 'requests': 6, 'tx': 60, 'rx': 30,
                 'failcnt': 0, 'ref': 0, 'weight': 1}]}]}
    started = StatsServer(json.dumps(data))
    yield started
    started.close()


def _closed_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check'])
def test_returns_figures_missing_nodes_and_text(run_module, server, check_mode):
    routers = [{'router': 'edge', 'stats': server.address, 'tolerance': 10, 'expect': {'app.test': APP}},
               {'router': 'gone', 'stats': '127.0.0.1:%d' % _closed_port()}]
    failed, result, warnings = run_module(router_metrics.main, {'routers': routers, 'timeout': 1},
                                          check_mode=check_mode)
    assert not failed, result
    assert warnings == [] and result['changed'] is False
    edge, gone = result['routers']
    assert (edge['up'], edge['version'], edge['active_sessions'], edge['tolerance']) == (True, '2.0.31', 2, 10)
    key = edge['keys'][0]
    assert (key['key'], key['nodes'], key['expected'], key['live']) == ('app.test', 1, 2, [APP[0]])
    assert (gone['up'], gone['tolerance'], gone['keys']) == (False, 17, [])
    assert 'connection refused' in gone['error']
    assert result['missing'] == [{'router': 'edge', 'key': 'app.test', 'nodes': [APP[1]]}]
    assert result['down'] == ['gone']
    assert 'uwsgi_router_nodes{router="edge",key="app.test"} 1\n' in result['text']
    assert 'uwsgi_router_up{router="gone"} 0\n' in result['text']


@pytest.mark.parametrize('args, message', [
    ({'routers': [], 'timeout': 0}, 'timeout must be a positive number of seconds, got 0'),
    ({'routers': [{'router': 'a', 'stats': 'x', 'expect': {'k': 'n'}}]},
     'routers[0].expect: router a: must map each key to a list of node addresses'),
])
def test_bad_arguments_fail_naming_them(run_module, args, message):
    failed, result, _warnings = run_module(router_metrics.main, args)
    assert failed
    assert message in result['msg']
