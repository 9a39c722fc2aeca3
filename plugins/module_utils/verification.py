# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify one router against the plan: its pools, its answers, its certificates.

The input is one entry of a host manifest's ``verify`` list (docs/manifest.md):
``{router, type, bind, stats, pools, connect, probes}``.  ``verify_router`` runs
three steps and composes the readers that already exist:

1. with ``stats``: wait until each planned key's live nodes are exactly the
   planned addresses (``stats.wait`` with ``exact``; keys the plan does not
   name are not checked);
2. with ``connect``: for each probe, send ``requests_per_node`` requests per
   answering node with the key as ``Host`` (``probe.probe``: TLS with SNI, CA
   verification), and repeat the whole round until, in one round, every
   request got a 200, every planned node answered (the demo application's
   body is the node's name: roles/node/files/demo_app.py) and the certificate
   is the planned one;
3. read the pools again and summarise them, node names included.

It changes nothing.  Failures raise ``VerificationFailed`` with the partial
result, so that the module can return what was seen.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.uwsgi.topology.plugins.module_utils import probe as probe_utils
from ansible_collections.uwsgi.topology.plugins.module_utils import stats
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

#: Seconds between two reads of the stats server while waiting for the pools.
WAIT_INTERVAL = 0.5
#: Routers whose sockets speak HTTP, and the one among them that speaks it over TLS.
PROBED_TYPES = ('http', 'https')
TLS_TYPE = 'https'
_TLS_FIELDS = ('server_name', 'ca', 'certificate', 'common_name')
_EXPECTED_STATUS = 200
# probe.ProbeError names probe's parameters; a verify entry calls them so.
_PROBE_FIELDS = {'ca_path': 'ca', 'host_header': 'key', 'port': 'connect.port', 'server_name': 'server_name'}


class VerifyError(TopologyError):
    """A verify entry (or an option) that cannot be used; ``path`` names the field."""


class VerificationFailed(Exception):
    """The router does not do what the plan says; ``result`` holds what was seen."""

    def __init__(self, message, result):
        self.message = message
        self.result = result
        super(VerificationFailed, self).__init__(message)


# --- the entry -------------------------------------------------------------------------------

def _is_str(value):
    return isinstance(value, str) and value.strip() != ''


def check_entry(entry, where='router'):
    """Return a normalised copy of a verify entry, or raise VerifyError naming the field.

    ``pools`` becomes ``[{key, nodes}]`` (the expectations ``stats.wait``
    takes), each probe's ``answers`` a sorted ``[(address, name)]`` list.
    """
    if not isinstance(entry, dict):
        raise VerifyError(where, 'must be one entry of a manifest\'s verify list (a mapping), got %r' % (entry,))
    name = entry.get('router')
    if not _is_str(name):
        raise VerifyError(where + '.router', 'must be the router instance name, got %r' % (name,))
    rtype = entry.get('type')
    if not _is_str(rtype):
        raise VerifyError(where + '.type', 'router %s: must be the router type, got %r' % (name, rtype))
    stats_address = entry.get('stats')
    if stats_address is not None and not _is_str(stats_address):
        raise VerifyError(where + '.stats', 'router %s: must be the stats server address or null, got %r'
                          % (name, stats_address))
    pools = entry.get('pools') or {}
    if not isinstance(pools, dict):
        raise VerifyError(where + '.pools', 'router %s: must map each key to its node addresses, got %r'
                          % (name, pools))
    expectations = []
    for key in sorted(pools):
        nodes = pools[key]
        if not isinstance(nodes, list) or not all(_is_str(n) for n in nodes):
            raise VerifyError('%s.pools[%r]' % (where, key), 'router %s: must be a list of node addresses, got %r'
                              % (name, nodes))
        expectations.append({'key': key, 'nodes': list(nodes)})
    if stats_address is None:
        expectations = []  # the pools cannot be read (the planner lists them all the same): no wait
    connect = entry.get('connect')
    probes = entry.get('probes') or []
    if not isinstance(probes, list):
        raise VerifyError(where + '.probes', 'router %s: must be a list, got %r' % (name, probes))
    if connect is not None:
        if not isinstance(connect, dict) or not _is_str(connect.get('host')):
            raise VerifyError(where + '.connect', 'router %s: must be {host, port} or null, got %r' % (name, connect))
        port = connect.get('port')
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise VerifyError(where + '.connect.port', 'router %s: must be from 1 to 65535, got %r' % (name, port))
        if rtype not in PROBED_TYPES:
            raise VerifyError(where + '.connect', 'router %s: only %s routers answer HTTP requests; this one is %s'
                              % (name, ' and '.join(PROBED_TYPES), rtype))
        connect = {'host': _loopback(connect['host'].strip()), 'port': port}
    checked = []
    for index, item in enumerate(probes):
        checked.append(_check_probe(item, '%s.probes[%d]' % (where, index), name, rtype))
    bind = entry.get('bind')
    if bind is not None and not _is_str(bind):
        raise VerifyError(where + '.bind', 'router %s: must be the router\'s bind address or null, got %r'
                          % (name, bind))
    return {'router': name, 'type': rtype, 'bind': bind, 'stats': stats_address, 'pools': expectations,
            'connect': connect, 'probes': checked}


def _check_probe(item, where, name, rtype):
    if not isinstance(item, dict):
        raise VerifyError(where, 'router %s: must be a mapping, got %r' % (name, item))
    key = item.get('key')
    if not _is_str(key):
        raise VerifyError(where + '.key', 'router %s: must be the subscription key, got %r' % (name, key))
    for field in _TLS_FIELDS:
        value = item.get(field)
        if value is not None and (rtype != TLS_TYPE or not _is_str(value)):
            reason = ('is only for https routers; router %s is %s' % (name, rtype)) if rtype != TLS_TYPE \
                else 'router %s, key %s: must be a non-empty string or null' % (name, key)
            raise VerifyError('%s.%s' % (where, field), '%s, got %r' % (reason, value))
    answers = item.get('answers') or {}
    if not isinstance(answers, dict) or not all(_is_str(a) and _is_str(n) for a, n in answers.items()):
        raise VerifyError(where + '.answers', 'router %s, key %s: must map node addresses to node names, got %r'
                          % (name, key, answers))
    result = dict((field, item.get(field)) for field in _TLS_FIELDS)
    result['key'] = key
    result['answers'] = sorted(answers.items())
    return result


def _loopback(host):
    """A wildcard bind address is reached through the loopback (as router.yml did)."""
    if host in ('0.0.0.0', '*'):
        return '127.0.0.1'
    if host in ('::', '[::]'):
        return '::1'
    return host[1:-1] if host.startswith('[') and host.endswith(']') else host


def node_names(entry):
    """Node address -> node name, from every probe's ``answers`` of a checked entry."""
    names = {}
    for item in entry['probes']:
        names.update(item['answers'])
    return names


def router_label(entry):
    """``router NAME (TYPE BIND)``, how messages name the router."""
    return 'router %s (%s%s)' % (entry['router'], entry['type'], ' ' + entry['bind'] if entry.get('bind') else '')


def _label(address, names):
    name = names.get(address)
    return '%s (%s)' % (address, name) if name else address


# --- step 1: the planned pools ---------------------------------------------------------------

def describe_unmet(entry, unmet, names, waited):
    """One message for a wait timeout: router, then per key what is missing and unexpected."""
    parts = []
    for item in unmet:
        detail = []
        if not item['present']:
            detail.append('the router has no pool for this key')
        if item['missing']:
            detail.append('missing %s' % ', '.join(_label(a, names) for a in item['missing']))
        if item['unexpected']:
            detail.append('unexpected %s' % ', '.join(_label(a, names) for a in item['unexpected']))
        if item['dead']:
            detail.append('dead %s' % ', '.join(_label(a, names) for a in item['dead']))
        parts.append('key %s: %s' % (item['key'], '; '.join(detail)))
    return '%s, stats %s: the pools are not the planned ones after %.1f s: %s' % (
        router_label(entry), entry['stats'], waited, ' | '.join(parts))


def wait_for_pools(entry, read, wait_timeout, names, clock=time.monotonic, sleep=time.sleep):
    """Wait until the planned keys hold exactly their planned live nodes; return seconds waited.

    Raises VerificationFailed (with ``missing``: the unmet expectations) on
    timeout, and StatsError when the stats server answers something else.
    """
    try:
        _data, waited = stats.wait(read, entry['pools'], exact=True, wait_timeout=wait_timeout,
                                   interval=WAIT_INTERVAL, address=entry['stats'], clock=clock, sleep=sleep)
    except stats.WaitTimeout as exc:
        result = {'waited': round(exc.waited, 3), 'missing': exc.unmet}
        if exc.data is None and exc.last_error is not None:
            message = '%s: the stats server could not be read within %.1f s: %s' % (
                router_label(entry), exc.waited, exc.last_error)
        else:
            message = describe_unmet(entry, exc.unmet, names, exc.waited)
            if exc.data is not None:
                result['pools'] = pool_summary(stats.pools(exc.data), names)
        raise VerificationFailed(message, result)
    return round(waited, 3)


# --- step 2: the answers ---------------------------------------------------------------------

def read_fingerprint(path, where, context):
    """SHA-256 fingerprint of the certificate in the PEM file ``path``; VerifyError names ``where``."""
    label = '%s %s' % (where, path)
    try:
        with open(path) as stream:
            text = stream.read()
    except (IOError, OSError, UnicodeDecodeError) as exc:
        raise VerifyError(label, '%s: cannot read the expected certificate: %s'
                          % (context, getattr(exc, 'strerror', None) or exc))
    try:
        return probe_utils.pem_fingerprint(text, label)
    except probe_utils.ProbeError as exc:
        raise VerifyError(label, '%s: %s' % (context, exc.message))


def check_round(item, tally, fingerprint):
    """What one round of requests got wrong: ``(missing names, problems)``."""
    expected = sorted(set(name for _address, name in item['answers']))
    missing = [name for name in expected if name not in tally['bodies']]
    problems = []
    trouble = probe_utils.problems(tally, _EXPECTED_STATUS)
    if trouble:
        problems.append(trouble)
    if 'peer_certificate' in tally:
        cert = tally['peer_certificate']
        if cert is None:
            problems.append('no certificate was presented (no TLS handshake completed)')
        else:
            if fingerprint is not None and cert['sha256_fingerprint'] != fingerprint:
                problems.append('certificate mismatch: the router presented %s (CN %s), not the one in %s (%s)'
                                % (cert['sha256_fingerprint'], cert['subject_cn'], item['certificate'], fingerprint))
            if item['common_name'] is not None and cert['subject_cn'] != item['common_name']:
                problems.append('certificate mismatch: CN %s presented, %s expected' % (
                    cert['subject_cn'], item['common_name']))
            if item['ca'] is not None and not cert['verified']:
                problems.append('the certificate (CN %s) does not verify against %s' % (cert['subject_cn'], item['ca']))
    return missing, problems


def run_probe(entry, item, where, requests_per_node, request_timeout, retries, delay, fingerprint=None,
              sleep=time.sleep):
    """Send the rounds of one probe until one is right, at most ``1 + retries`` of them.

    ``fingerprint`` is that of ``item['certificate']`` (``read_fingerprint``).
    Returns the probe's report; ``report['ok']`` tells whether a round was right.
    """
    tls = entry['type'] == TLS_TYPE
    expected = sorted(set(name for _address, name in item['answers']))
    report = {'key': item['key'], 'expected': expected, 'attempts': 0, 'requests': 0, 'ok': False}
    if not item['answers']:
        report['ok'] = True  # no node answers this key: nothing to send, nothing to prove
        return report
    count = requests_per_node * len(item['answers'])
    report['requests'] = count
    while True:
        report['attempts'] += 1
        try:
            tally = probe_utils.probe(entry['connect']['host'], entry['connect']['port'], host_header=item['key'],
                                      tls=tls, server_name=item['server_name'], ca_path=item['ca'], count=count,
                                      timeout=request_timeout)
        except probe_utils.ProbeError as exc:
            field = _PROBE_FIELDS.get(exc.path, exc.path)
            raise VerifyError('%s.%s' % (where, field), 'router %s, key %s: %s' % (
                entry['router'], item['key'], exc.message))
        missing, problems = check_round(item, tally, fingerprint)
        report.update({'bodies': tally['bodies'], 'statuses': tally['statuses'], 'failures': tally['failures'],
                       'answered': sorted(set(tally['bodies']) & set(expected)), 'missing': missing,
                       'problems': problems})
        if tls:
            report['server_name'] = tally['server_name']
            report['peer_certificate'] = tally['peer_certificate']
            if fingerprint is not None:
                presented = (tally['peer_certificate'] or {}).get('sha256_fingerprint')
                report['certificate_matches'] = presented == fingerprint
        if not missing and not problems:
            report['ok'] = True
            return report
        if report['attempts'] > retries:
            return report
        sleep(delay)


def describe_probe(entry, item, report):
    """The failure message of one probe: router, key, nodes that never answered, bodies, problems."""
    connect = entry['connect']
    scheme = 'https' if entry['type'] == TLS_TYPE else 'http'
    addresses = dict((name, address) for address, name in item['answers'])
    head = 'router %s (%s://%s:%s), key %s, after %d round(s) of %d requests' % (
        entry['router'], scheme, connect['host'], connect['port'], item['key'], report['attempts'],
        report['requests'])
    parts = []
    if report['missing']:
        parts.append('nodes that never answered: %s' % ', '.join(
            '%s (%s)' % (name, addresses[name]) for name in report['missing']))
    parts.extend(report['problems'])
    bodies = ', '.join('%r x%d' % (body, n) for body, n in sorted(report['bodies'].items())) or 'none'
    parts.append('bodies seen: %s' % bodies)
    if report.get('server_name'):
        parts.append('SNI %s' % report['server_name'])
    return '%s: %s' % (head, '; '.join(parts))


# --- step 3: what the router knows -----------------------------------------------------------

def pool_summary(current_pools, names):
    """The pools as returned: ``[{key, hits, nodes: [{address, name, weight, requests, live, ...}]}]``."""
    result = []
    for pool in current_pools:
        nodes = []
        for node in pool['nodes']:
            nodes.append({'address': node['name'], 'name': names.get(node['name']), 'weight': node['weight'],
                          'requests': node['requests'], 'live': not node['death_mark'],
                          'death_mark': node['death_mark'], 'failcnt': node['failcnt']})
        result.append({'key': pool['key'], 'hits': pool['hits'], 'nodes': nodes})
    return result


def summary_lines(entry, pools=None, probes=None):
    """One line per key, ready to print.

    From the pools when they were read (``edge (http 127.0.0.1:18080) key app.test: app1
    [127.0.0.1:13031] weight=1 requests=8 live, ...``), else from the answers of the probes.
    """
    lines = []
    router = entry['router']
    if entry.get('bind'):
        router = '%s (%s %s)' % (router, entry['type'], entry['bind'])
    if pools is not None:
        for pool in pools:
            labels = []
            for node in pool['nodes']:
                who = '%s [%s]' % (node['name'], node['address']) if node['name'] else node['address']
                state = 'live' if node['live'] else 'DEAD'
                labels.append('%s weight=%s requests=%s %s' % (who, node['weight'], node['requests'], state))
            lines.append('%s key %s: %s' % (router, pool['key'], ', '.join(labels) or 'no nodes'))
        if not pools:
            lines.append('%s: no pools (no node has subscribed)' % router)
        return lines
    for report in probes or []:
        answered = ', '.join('%s x%d' % (body, n) for body, n in sorted((report.get('bodies') or {}).items()))
        lines.append('%s key %s: answered by %s (no stats server: pools not read)'
                     % (router, report['key'], answered or 'nobody'))
    if not lines:
        lines.append('%s: nothing to verify (no stats server, no probe)' % router)
    return lines


# --- all of it -------------------------------------------------------------------------------

def verify_router(entry, requests_per_node=4, wait_timeout=60, request_timeout=5.0, probe_retries=5,
                  probe_delay=2.0, clock=time.monotonic, sleep=time.sleep, where='router'):
    """Verify one router against its verify entry; return the result, or raise.

    Raises VerifyError for an unusable entry or option (nothing was checked
    yet, or an expected certificate file cannot be read), VerificationFailed
    when the router does not match the plan or cannot be read (``.result``
    holds what was seen).
    """
    if isinstance(requests_per_node, bool) or not isinstance(requests_per_node, int) or requests_per_node < 1:
        raise VerifyError('requests_per_node', 'must be 1 or more, got %r' % (requests_per_node,))
    if probe_retries < 0:
        raise VerifyError('probe_retries', 'must be 0 or more, got %r' % (probe_retries,))
    for option, value in (('wait_timeout', wait_timeout), ('probe_delay', probe_delay)):
        if value < 0:
            raise VerifyError(option, 'must be 0 or more seconds, got %r' % (value,))
    if request_timeout <= 0:
        raise VerifyError('request_timeout', 'must be a positive number of seconds, got %r' % (request_timeout,))
    entry = check_entry(entry, where)
    # Without connect (not an HTTP router, or a UNIX socket) the probes only name the nodes.
    probes = entry['probes'] if entry['connect'] is not None else []
    for index, item in enumerate(probes):
        count = requests_per_node * len(item['answers'])
        if count > probe_utils.MAX_COUNT:
            raise VerifyError('%s.probes[%d]' % (where, index), 'router %s, key %s: %d requests per round is more '
                              'than %d; lower requests_per_node' % (entry['router'], item['key'], count,
                                                                    probe_utils.MAX_COUNT))
    # The files a probe needs are checked before anything is read or sent.
    fingerprints = []
    for index, item in enumerate(probes):
        context = 'router %s, key %s' % (entry['router'], item['key'])
        if item['ca']:
            try:
                probe_utils.ssl_context(item['ca'])
            except probe_utils.ProbeError as exc:
                raise VerifyError('%s.probes[%d].ca' % (where, index), '%s: %s' % (context, exc.message))
        fingerprints.append(read_fingerprint(item['certificate'], '%s.probes[%d].certificate' % (where, index),
                                             context) if item['certificate'] else None)
    names = node_names(entry)
    result = {'router': entry['router'], 'waited': 0.0, 'probes': []}

    def read():
        return stats.fetch(entry['stats'], request_timeout)

    def fail(message, extra=None):
        failed = dict(result)
        failed.update(extra or {})
        failed['summary'] = summary_lines(entry, failed.get('pools'), failed['probes'])
        raise VerificationFailed(message, failed)

    def stats_trouble(exc):
        return '%s: %s' % (router_label(entry), exc)

    if entry['stats'] is not None:
        try:
            result['waited'] = wait_for_pools(entry, read, wait_timeout, names, clock=clock, sleep=sleep)
        except VerificationFailed as exc:
            fail(exc.message, exc.result)
        except stats.StatsError as exc:  # not retryable: the address is not a router's stats server
            fail(stats_trouble(exc))

    messages = []
    for index, item in enumerate(probes):
        report = run_probe(entry, item, '%s.probes[%d]' % (where, index), requests_per_node, request_timeout,
                           probe_retries, probe_delay, fingerprint=fingerprints[index], sleep=sleep)
        result['probes'].append(report)
        if not report['ok']:
            messages.append(describe_probe(entry, item, report))

    if entry['stats'] is not None:
        try:
            result['pools'] = pool_summary(stats.pools(read()), names)
        except stats.StatsError as exc:
            messages.append('then the pools could not be read again: %s' % stats_trouble(exc))
    if messages:
        fail(' | '.join(messages))
    result['summary'] = summary_lines(entry, result.get('pools'), result['probes'])
    return result
