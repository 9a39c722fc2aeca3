# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the demo application's endpoints (roles/node/files/demo_app.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import os
import time

import pytest

APP = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'node', 'files', 'demo_app.py')


@pytest.fixture(scope='module')
def app():
    spec = importlib.util.spec_from_file_location('demo_app', APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(app, path, query='', monkeypatch=None):
    seen = {}

    def start_response(status, headers):
        seen['status'], seen['headers'] = status, dict(headers)

    body = b''.join(app.application({'PATH_INFO': path, 'QUERY_STRING': query, 'HTTP_HOST': 'app.test'},
                                    start_response))
    return seen['status'], seen['headers'], body


def test_root_answers_with_the_node_name(app, monkeypatch):
    monkeypatch.setenv('TOPOLOGY_NODE', 'app1')
    status, headers, body = call(app, '/')
    assert (status, body) == ('200 OK', b'app1')
    assert headers['Content-Length'] == '4' and headers['X-Topology-Node'] == 'app1'
    assert headers['X-Topology-Key'] == 'app.test'


def test_slow_waits_then_answers(app, monkeypatch):
    monkeypatch.setenv('TOPOLOGY_NODE', 'app2')
    start = time.monotonic()
    status, _headers, body = call(app, '/slow', 'ms=150')
    assert time.monotonic() - start >= 0.15
    assert (status, body) == ('200 OK', b'app2')


@pytest.mark.parametrize('size', [0, 1, 16 * 1024, 16 * 1024 + 1, 1024 * 1024])
def test_bytes_has_the_size_and_a_content_length(app, size):
    status, headers, body = call(app, '/bytes', 'n=%d' % size)
    assert status == '200 OK' and len(body) == size and headers['Content-Length'] == str(size)


def test_chunked_has_no_content_length(app):
    status, headers, body = call(app, '/chunked', 'other=1&n=70000')
    assert status == '200 OK' and len(body) == 70000 and 'Content-Length' not in headers


@pytest.mark.parametrize('path, query', [('/slow', 'ms=abc'), ('/slow', 'ms=60001'), ('/bytes', 'n=-1'),
                                         ('/bytes', 'n=%d' % (64 * 1024 * 1024 + 1))])
def test_bad_numbers_are_refused(app, path, query):
    status, _headers, body = call(app, path, query)
    assert status == '400 Bad Request' and b'must be a whole number' in body
