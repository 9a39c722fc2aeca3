# -*- coding: utf-8 -*-
# The demo WSGI application of the uwsgi.topology collection (role uwsgi.topology.node).
# It answers every request with the name of the node instance that served it, so that a
# client (and the collection's verification) can see which nodes a key reaches.
# The node name comes from the environment of the vassal (the planner sets it with an
# `env` option): TOPOLOGY_NODE, or UWSGI_TOPOLOGY_NODE.
#
# Endpoints for tests and benchmarks (requests in flight during changes, response sizes):
#   /slow?ms=N     waits N milliseconds (at most 60000), then answers with the node's name
#   /bytes?n=N     N bytes (at most 64 MiB) with a Content-Length
#   /chunked?n=N   N bytes without a Content-Length, in 16 KiB pieces
# Everything else answers with the node's name. Every answer names the node in X-Topology-Node.
"""uwsgi.topology demo application: answers with the node's name."""

import os
import time

MAX_SLOW_MS = 60000
MAX_BYTES = 64 * 1024 * 1024
PIECE = 16 * 1024


def _node_name():
    return os.environ.get('TOPOLOGY_NODE') or os.environ.get('UWSGI_TOPOLOGY_NODE') or 'unknown'


def _number(environ, name, maximum):
    """The integer query parameter ``name`` (0 when absent), or None when it is not one in range."""
    for pair in environ.get('QUERY_STRING', '').split('&'):
        key, _sep, value = pair.partition('=')
        if key == name:
            if not value.isdigit() or int(value) > maximum:
                return None
            return int(value)
    return 0


def _pieces(size):
    block = b'x' * PIECE
    while size > 0:
        yield block[:size]
        size -= PIECE


def application(environ, start_response):
    """WSGI entry point: the body is the node name, the Host header is echoed in a header."""
    name = _node_name()
    headers = [('Content-Type', 'text/plain; charset=utf-8'), ('X-Topology-Node', name),
               ('X-Topology-Key', environ.get('HTTP_HOST', ''))]
    path = environ.get('PATH_INFO', '/')
    limits = {'/slow': ('ms', MAX_SLOW_MS), '/bytes': ('n', MAX_BYTES), '/chunked': ('n', MAX_BYTES)}
    if path in limits:
        parameter, maximum = limits[path]
        value = _number(environ, parameter, maximum)
        if value is None:
            body = ('%s=N: N must be a whole number up to %d\n' % (parameter, maximum)).encode('utf-8')
            start_response('400 Bad Request', headers + [('Content-Length', str(len(body)))])
            return [body]
        if path == '/slow':
            time.sleep(value / 1000.0)
        elif path == '/bytes':
            start_response('200 OK', headers + [('Content-Length', str(value))])
            return _pieces(value)
        else:
            start_response('200 OK', headers)
            return _pieces(value)
    body = name.encode('utf-8')
    start_response('200 OK', headers + [('Content-Length', str(len(body)))])
    return [body]
