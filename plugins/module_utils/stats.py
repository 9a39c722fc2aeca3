# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a uWSGI router's stats server: what the router knows about its pools.

A corerouter (http, fastrouter, rawrouter, sslrouter, forkptyrouter) started
with ``<router>-stats = ADDRESS`` accepts a connection, writes one JSON
document and closes; no request is sent (plugins/corerouter/corerouter.c,
``corerouter_send_stats``).  Its JSON is hand-written by uWSGI and is not
always valid:

* a stray comma before ``]`` when several routers share an instance (the
  comma after a gateway socket is written whenever *any* socket follows, even
  one that belongs to another router), and the same slip in the subscription
  list when a hash bucket chain is cut short;
* strings are written as they are, never escaped: control characters,
  backslashes and quotes can appear raw.

``parse_stats`` repairs exactly these slips with a small scanner and the
standard ``json`` module; nothing is ever evaluated.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import socket
import time

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

ROUTER_KEYS = ('http', 'fastrouter', 'rawrouter', 'sslrouter', 'forkptyrouter')
NODE_FIELDS = ('name', 'weight', 'requests', 'death_mark', 'failcnt', 'ref', 'last_check',
               'modifier1', 'pid', 'uid', 'gid')
MAX_STATS_BYTES = 64 * 1024 * 1024

_JSON_ESCAPES = '"\\/bfnrt'
_HEX = '0123456789abcdefABCDEF'
_WHITESPACE = ' \t\r\n'
_AFTER_STRING = ',:]}'


class StatsError(TopologyError):
    """The stats server could not be read or its answer understood.

    ``retryable`` is true for connection problems (the router may still be
    starting), false for an answer that is not a router's stats.
    """

    def __init__(self, address, message, retryable=False):
        self.address = address
        self.retryable = retryable
        super(StatsError, self).__init__('router stats server %s' % address, message)


class WaitTimeout(Exception):
    """The expected pools did not appear in time.

    ``data`` is the last stats document read (None if none could be read),
    ``unmet`` the expectations still unmet (see ``check_pools``),
    ``last_error`` the StatsError of the last read if it failed.
    """

    def __init__(self, address, waited, data, unmet, last_error):
        self.address = address
        self.waited = waited
        self.data = data
        self.unmet = unmet
        self.last_error = last_error
        super(WaitTimeout, self).__init__(self.describe())

    def describe(self):
        head = 'router stats server %s: the expected pools did not appear within %.1f s' % (self.address, self.waited)
        if self.data is None and self.last_error is not None:
            return '%s; the stats server could not be read: %s' % (head, self.last_error.message)
        parts = []
        for item in self.unmet:
            detail = []
            if not item['present']:
                detail.append('no such pool')
            if item['missing']:
                detail.append('missing %s' % ', '.join(item['missing']))
            if item['unexpected']:
                detail.append('unexpected %s' % ', '.join(item['unexpected']))
            live = ', '.join(item['live']) or 'none'
            parts.append('key %r: %s (live: %s)' % (item['key'], '; '.join(detail), live))
        message = '%s: %s' % (head, ' | '.join(parts))
        if self.last_error is not None:
            message += '; the last read failed: %s' % self.last_error.message
        return message


# --- address and transport ------------------------------------------------------------------

def parse_address(address):
    """Return ``(family, target)`` for a stats server address as uWSGI reads it.

    uWSGI binds TCP when the address contains ``:``, a UNIX socket otherwise
    (``@name`` is an abstract socket).  ``:PORT``, ``0.0.0.0:PORT`` and
    ``[::]:PORT`` (bound to every address) are read through the loopback.
    For TCP ``target`` is ``(host, port)``; for UNIX it is the socket path.
    """
    if not isinstance(address, str) or not address.strip():
        raise StatsError(address, 'the address must be HOST:PORT or a UNIX socket path, got %r' % (address,))
    address = address.strip()
    if ':' not in address:
        if address.startswith('@'):
            return socket.AF_UNIX, '\0' + address[1:]
        return socket.AF_UNIX, address
    host, _sep, port = address.rpartition(':')
    if host.startswith('[') and host.endswith(']'):
        host = host[1:-1]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise StatsError(address, 'the port must be a number from 1 to 65535, got %r' % port)
    if host in ('', '0.0.0.0', '*'):
        host = '127.0.0.1'
    elif host == '::':
        host = '::1'
    return socket.AF_INET, (host, int(port))


def _describe_os_error(exc):
    code = getattr(exc, 'errno', None)
    if isinstance(exc, socket.timeout):
        return 'timed out'
    if code == errno.ECONNREFUSED:
        return 'connection refused (is the router running, with its stats server on this address?)'
    if code == errno.ENOENT:
        return 'no such socket file (is the router running, with its stats server on this path?)'
    if code in (errno.EACCES, errno.EPERM):
        return 'permission denied (%s)' % (exc.strerror or exc)
    if isinstance(exc, socket.gaierror):
        return 'cannot resolve the host name: %s' % (exc.strerror or exc)
    return exc.strerror or str(exc) or type(exc).__name__


def read_stats(address, timeout=5.0):
    """Connect to the stats server at ``address``, read until EOF, return the text.

    ``timeout`` (seconds) bounds the connection and the whole read.  Nothing
    is sent.  Raises StatsError (retryable) on any connection problem.
    """
    family, target = parse_address(address)
    deadline = time.monotonic() + timeout
    sock = None
    chunks = []
    size = 0
    try:
        if family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(target)
        else:
            sock = socket.create_connection(target, timeout=timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout('timed out')
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_STATS_BYTES:
                raise StatsError(address, 'the answer is larger than %d bytes; is this a uWSGI stats server?'
                                 % MAX_STATS_BYTES)
    except socket.timeout:
        what = 'no complete answer' if chunks else ('no answer' if sock is not None else 'no connection')
        raise StatsError(address, '%s within %s s (the server must write its JSON and close; a server with '
                                  '--stats-http waits for a request and is not supported)' % (what, timeout),
                         retryable=True)
    except (OSError, socket.error) as exc:
        raise StatsError(address, _describe_os_error(exc), retryable=True)
    finally:
        if sock is not None:
            sock.close()
    return b''.join(chunks).decode('utf-8', 'replace')


# --- parsing -------------------------------------------------------------------------------

def _next_significant(text, index):
    n = len(text)
    while index < n and text[index] in _WHITESPACE:
        index += 1
    return text[index] if index < n else ''


def _scan_string(text, start, out):
    """Copy the string that opens at ``text[start]`` into ``out`` as valid JSON; return the next index.

    Control characters are escaped, a backslash that starts no JSON escape is
    doubled, and a quote that is not followed by ``, : ] }`` (or the end) is
    taken as part of the string.  A valid JSON string is copied unchanged.
    """
    n = len(text)
    out.append('"')
    i = start + 1
    while i < n:
        ch = text[i]
        if ch == '"':
            if _next_significant(text, i + 1) in _AFTER_STRING:
                out.append('"')
                return i + 1
            out.append('\\"')
        elif ch == '\\':
            following = text[i + 1] if i + 1 < n else ''
            if following and following in _JSON_ESCAPES:
                out.append(ch + following)
                i += 1
            elif following == 'u' and len(text) >= i + 6 and all(c in _HEX for c in text[i + 2:i + 6]):
                out.append(text[i:i + 6])
                i += 5
            else:
                out.append('\\\\')
        elif ch < ' ':
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
        i += 1
    return i  # unterminated: let json report it


def repair_json(text):
    """Return ``text`` with uWSGI's JSON slips repaired (see the module docstring).

    Commas that precede ``]``, ``}`` or another comma, or follow ``[`` or ``{``,
    are dropped; strings are made valid by ``_scan_string``.  Everything else
    is copied as it is.
    """
    out = []
    last = ''          # last significant character written
    comma = None       # index in out of a comma not yet followed by a value
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            out.append(ch)
        elif ch == ',':
            if comma is None and last not in ('[', '{', ''):
                out.append(ch)
                comma = len(out) - 1
        else:
            if comma is not None and ch in ']}':
                out[comma] = ''
            comma = None
            last = ch
            if ch == '"':
                i = _scan_string(text, i, out)
                continue
            out.append(ch)
        i += 1
    return ''.join(out)


def _strip_http(text):
    """Drop the ``HTTP/1.0 200 OK`` headers a server with ``--stats-http`` prepends."""
    if text.startswith('HTTP/'):
        for separator in ('\r\n\r\n', '\n\n'):
            head, found, body = text.partition(separator)
            if found:
                return body
    return text


def parse_stats(text, address='(text)'):
    """Parse a router stats answer into a dict, repairing uWSGI's invalid JSON."""
    text = _strip_http(text)
    if not text.strip():
        raise StatsError(address, 'the server closed the connection without sending anything')
    try:
        data = json.loads(text)
    except ValueError:
        repaired = repair_json(text)
        try:
            data = json.loads(repaired)
        except ValueError as exc:
            raise StatsError(address, 'the answer is not JSON, even after repairing the slips uWSGI is known for '
                                      '(%s); it starts with %r' % (exc, text[:80]))
    if not isinstance(data, dict):
        raise StatsError(address, 'the answer is JSON but not an object; it starts with %r' % text[:80])
    return data


# --- the pools ------------------------------------------------------------------------------

def router_name(data, address='(text)'):
    """The short name of the router that wrote ``data`` (``http``, ``fastrouter``, ...)."""
    for key in ROUTER_KEYS:
        if isinstance(data.get(key), list):
            return key
    if 'peers' in data:
        reason = 'this is a tuntap router stats server (it lists "peers"); it has no subscription pools'
    elif 'workers' in data:
        reason = ('this is the instance stats server (--stats), which lists workers; give the router\'s own '
                  'stats address (http-stats, fastrouter-stats, ...)')
    else:
        reason = 'the answer names none of the routers (%s); keys: %s' % (
            ', '.join(ROUTER_KEYS), ', '.join(sorted(str(k) for k in data)) or 'none')
    raise StatsError(address, reason)


def _as_list(value):
    return value if isinstance(value, list) else []


def pools(data):
    """The subscription pools in ``data``: ``[{key, hits[, sni_enabled], nodes: [...]}]``.

    ``sni_enabled`` is present only when the router was built with SSL; it
    is returned as a boolean.  Node fields keep uWSGI's names (``ref``,
    ``failcnt``); a field the router did not write is None.
    """
    result = []
    for slot in _as_list(data.get('subscriptions')):
        if not isinstance(slot, dict):
            continue
        pool = {'key': slot.get('key'), 'hits': slot.get('hits')}
        if 'sni_enabled' in slot:
            pool['sni_enabled'] = bool(slot['sni_enabled'])
        nodes = []
        for node in _as_list(slot.get('nodes')):
            if isinstance(node, dict):
                nodes.append(dict((field, node.get(field)) for field in NODE_FIELDS))
        pool['nodes'] = nodes
        result.append(pool)
    return result


def summary(data, address='(text)'):
    """``{router, sockets, pools, static_nodes}`` from a parsed stats document."""
    router = router_name(data, address)
    return {
        'router': router,
        'sockets': [str(item) for item in data[router]],
        'pools': pools(data),
        'static_nodes': [item for item in _as_list(data.get('static_nodes')) if isinstance(item, dict)],
    }


def fetch(address, timeout=5.0):
    """Read and parse the stats server at ``address``; raise StatsError unless it is a router's."""
    data = parse_stats(read_stats(address, timeout), address)
    router_name(data, address)
    return data


# --- waiting --------------------------------------------------------------------------------

def _is_live(node):
    return not node.get('death_mark')


def check_pools(current_pools, expectations, exact=True):
    """The expectations that ``current_pools`` do not meet, as dicts.

    Each expectation is ``{key, nodes}``.  With ``exact`` the key's live
    nodes (``death_mark`` 0) must be exactly ``nodes``; otherwise they must
    include them.  Each unmet one is reported as ``{key, present, expected,
    live, dead, missing, unexpected}``.
    """
    by_key = {}
    for pool in current_pools:
        by_key.setdefault(pool['key'], []).extend(pool['nodes'])
    unmet = []
    for expectation in expectations:
        key = expectation['key']
        expected = sorted(set(expectation.get('nodes') or []))
        nodes = by_key.get(key)
        live = sorted(set(n['name'] for n in nodes or [] if _is_live(n)))
        dead = sorted(set(n['name'] for n in nodes or [] if not _is_live(n)))
        missing = [name for name in expected if name not in live]
        unexpected = [name for name in live if name not in expected] if exact else []
        if missing or unexpected:
            unmet.append({'key': key, 'present': nodes is not None, 'expected': expected,
                          'live': live, 'dead': dead, 'missing': missing, 'unexpected': unexpected})
    return unmet


def wait(read, expectations, exact=True, wait_timeout=30, interval=0.5, address='(stats)',
         clock=time.monotonic, sleep=time.sleep):
    """Read with ``read()`` until the pools meet ``expectations``; return ``(data, waited)``.

    ``read`` returns a parsed stats document or raises StatsError.  Retryable
    errors (connection refused: the router may be starting) are retried until
    ``wait_timeout``; others are raised at once.  On timeout WaitTimeout is
    raised with the last document and what was still unmet.
    """
    start = clock()
    data = None
    unmet = []
    while True:
        last_error = None
        try:
            data = read()
        except StatsError as exc:
            if not exc.retryable:
                raise
            last_error = exc
        else:
            unmet = check_pools(pools(data), expectations, exact)
            if not unmet:
                return data, clock() - start
        waited = clock() - start
        if waited >= wait_timeout:
            if data is None:
                unmet = check_pools([], expectations, exact)
            raise WaitTimeout(address, waited, data, unmet, last_error)
        sleep(max(0.0, min(interval, wait_timeout - waited)))
