# -*- coding: utf-8 -*-
# The demo WSGI application of the uwsgi.topology collection (role uwsgi.topology.node).
# It answers every request with the name of the node instance that served it, so that a
# client (and the collection's verification) can see which nodes a key reaches.
# The node name comes from the environment of the vassal (the planner sets it with an
# `env` option): TOPOLOGY_NODE, or UWSGI_TOPOLOGY_NODE.
"""uwsgi.topology demo application: answers with the node's name."""

import os


def _node_name():
    return os.environ.get('TOPOLOGY_NODE') or os.environ.get('UWSGI_TOPOLOGY_NODE') or 'unknown'


def application(environ, start_response):
    """WSGI entry point: the body is the node name, the Host header is echoed in a header."""
    name = _node_name()
    body = name.encode('utf-8')
    start_response('200 OK', [
        ('Content-Type', 'text/plain; charset=utf-8'),
        ('Content-Length', str(len(body))),
        ('X-Topology-Node', name),
        ('X-Topology-Key', environ.get('HTTP_HOST', '')),
    ])
    return [body]
