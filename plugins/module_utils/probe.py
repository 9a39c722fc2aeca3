# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded HTTP(S) requests to a uWSGI router, and what answered them.

Standard library only (socket, ssl, http.client), so that it runs on any
target.  The peer certificate is read from its DER bytes by a small
ASN.1 reader (``certificate_info``): an unverified TLS connection gives no
parsed certificate in Python, and ``cryptography`` may not be on the target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import http.client
import os
import socket
import ssl
import time

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

MAX_COUNT = 10000
MAX_BODY_BYTES = 1024 * 1024
BODY_KEY_CHARS = 200
USER_AGENT = 'uwsgi.topology.http_probe'


class ProbeError(TopologyError):
    """Bad probe parameters (before any request is sent)."""


# --- the peer certificate --------------------------------------------------------------------

_OID_CN = b'\x55\x04\x03'
_OID_SAN = b'\x55\x1d\x11'
_STRING_TAGS = (0x0c, 0x12, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e)


def _tlv(der, pos, end):
    """Read one DER element at ``pos``: return ``(tag, content_start, content_end)``."""
    if pos + 2 > end:
        raise ValueError('truncated DER element')
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7f
        if not 0 < size <= 4 or pos + size > end:
            raise ValueError('bad DER length')
        length = int.from_bytes(der[pos:pos + size], 'big')
        pos += size
    if pos + length > end:
        raise ValueError('truncated DER element')
    return tag, pos, pos + length


def _children(der, start, end):
    pos = start
    while pos < end:
        tag, cstart, cend = _tlv(der, pos, end)
        yield tag, cstart, cend
        pos = cend


def _text(tag, raw):
    if tag == 0x1e:
        return raw.decode('utf-16-be', 'replace')
    if tag == 0x1c:
        return raw.decode('utf-32-be', 'replace')
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        return raw.decode('latin-1')


def _common_name(der, start, end):
    """The (last) commonName of an X.501 Name, or None."""
    found = None
    for set_tag, sstart, send in _children(der, start, end):
        if set_tag != 0x31:
            continue
        for _seq, astart, aend in _children(der, sstart, send):
            parts = list(_children(der, astart, aend))
            if len(parts) == 2 and parts[0][0] == 0x06 and der[parts[0][1]:parts[0][2]] == _OID_CN:
                tag, vstart, vend = parts[1]
                if tag in _STRING_TAGS:
                    found = _text(tag, der[vstart:vend])
    return found


def _time(tag, raw):
    """ASN.1 UTCTime or GeneralizedTime -> ``YYYYMMDDHHMMSSZ``."""
    text = raw.decode('ascii')
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ('19' if year >= 50 else '20') + text
    return text


def _ip(raw):
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw.hex()


def _alt_names(der, start, end):
    names = []
    for tag, gstart, gend in _children(der, start, end):
        raw = der[gstart:gend]
        if tag == 0x82:
            names.append('DNS:' + raw.decode('ascii', 'replace'))
        elif tag == 0x87:
            names.append('IP:' + _ip(raw))
        elif tag == 0x81:
            names.append('email:' + raw.decode('ascii', 'replace'))
        elif tag == 0x86:
            names.append('URI:' + raw.decode('ascii', 'replace'))
    return names


def _colon_hex(digest):
    return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


def pem_fingerprint(pem_text, path='expect_certificate'):
    """SHA-256 fingerprint (colon-separated hex, as in ``certificate_info``) of the first
    certificate of a PEM text. Raises ProbeError (named ``path``) when there is none."""
    begin, end = '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----'
    start = pem_text.find(begin)
    stop = pem_text.find(end, start + 1)
    if start < 0 or stop < 0:
        raise ProbeError(path, 'no PEM certificate found')
    try:
        der = ssl.PEM_cert_to_DER_cert(pem_text[start:stop + len(end)] + '\n')
    except ValueError as exc:
        raise ProbeError(path, 'unreadable PEM certificate: %s' % exc)
    if not der:
        raise ProbeError(path, 'unreadable PEM certificate: no base64 data')
    return _colon_hex(hashlib.sha256(der).hexdigest())


def certificate_info(der, verified=False):
    """Facts about a DER certificate: CNs, subjectAltName, notAfter, SHA-256 fingerprint.

    The fingerprint is always given; if the certificate cannot be read the
    other facts are None and ``error`` says why.
    """
    digest = hashlib.sha256(der).hexdigest()
    info = {
        'subject_cn': None,
        'issuer_cn': None,
        'subject_alt_name': [],
        'not_after': None,
        'sha256_fingerprint': _colon_hex(digest),
        'verified': verified,
    }
    try:
        tag, start, end = _tlv(der, 0, len(der))
        tbs_tag, tstart, tend = next(_children(der, start, end))
        if tag != 0x30 or tbs_tag != 0x30:
            raise ValueError('not an X.509 certificate')
        fields = list(_children(der, tstart, tend))
        if fields and fields[0][0] == 0xa0:  # explicit version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, [1], [2], [3]
        if len(fields) < 6:
            raise ValueError('truncated certificate')
        info['issuer_cn'] = _common_name(der, fields[2][1], fields[2][2])
        validity = list(_children(der, fields[3][1], fields[3][2]))
        if len(validity) == 2:
            info['not_after'] = _time(validity[1][0], der[validity[1][1]:validity[1][2]])
        info['subject_cn'] = _common_name(der, fields[4][1], fields[4][2])
        for tag, estart, eend in fields[6:]:
            if tag != 0xa3:
                continue
            _seq, lstart, lend = _tlv(der, estart, eend)
            for _ext, xstart, xend in _children(der, lstart, lend):
                parts = list(_children(der, xstart, xend))
                if parts and parts[0][0] == 0x06 and der[parts[0][1]:parts[0][2]] == _OID_SAN:
                    octets = parts[-1]
                    inner_tag, istart, iend = _tlv(der, octets[1], octets[2])
                    if inner_tag == 0x30:
                        info['subject_alt_name'] = _alt_names(der, istart, iend)
    except (ValueError, StopIteration, IndexError, UnicodeDecodeError) as exc:
        info['error'] = 'cannot read the certificate: %s' % exc
    return info


# --- requests --------------------------------------------------------------------------------

def default_server_name(host, host_header):
    """The SNI name: the Host header without its port, else the host."""
    if host_header:
        name = host_header.strip()
        if name.startswith('['):
            return name[1:name.index(']')] if ']' in name else name[1:]
        if name.count(':') == 1:
            name = name.split(':', 1)[0]
        return name
    return host


def ssl_context(ca_path):
    """A client context: verifying the chain and the name against ``ca_path``, or not verifying."""
    if ca_path:
        if not os.path.exists(ca_path):
            raise ProbeError('ca_path', '%s: no such file or directory' % ca_path)
        try:
            if os.path.isdir(ca_path):
                context = ssl.create_default_context(capath=ca_path)
            else:
                context = ssl.create_default_context(cafile=ca_path)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ProbeError('ca_path', '%s: cannot load CA certificates: %s' % (ca_path, exc))
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def describe_error(exc, timeout):
    """A short, user-facing reason for a failed request."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return 'TLS certificate verification failed: %s' % (exc.verify_message or exc.reason or exc)
    if isinstance(exc, socket.timeout):
        return 'timed out after %s s' % timeout
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(exc, http.client.RemoteDisconnected):
        return ('the server closed the connection without a response (a uWSGI router does so when no live '
                'node serves the Host key)')
    if isinstance(exc, ConnectionResetError):
        return 'connection reset by the server'
    if isinstance(exc, ssl.SSLError):
        return 'TLS error: %s' % (exc.reason or exc)
    if isinstance(exc, http.client.HTTPException):
        return 'bad HTTP response: %s' % (exc.__class__.__name__ if not str(exc) else str(exc))
    if isinstance(exc, socket.gaierror):
        return 'cannot resolve the host: %s' % (exc.strerror or exc)
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or exc.__class__.__name__
    return '%s: %s' % (exc.__class__.__name__, exc)


class Prober(object):
    """Sends GET requests to one router address and tallies the answers."""

    def __init__(self, host, port, host_header=None, path='/', tls=False, server_name=None, ca_path=None,
                 timeout=5.0, keepalive=False):
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ProbeError('port', 'must be from 1 to 65535, got %r' % (port,))
        if not path.startswith('/') or any(c in path for c in ' \r\n\t'):
            raise ProbeError('path', 'must start with / and hold no spaces or line breaks, got %r' % path)
        if host_header is not None and (not host_header.strip() or any(c in host_header for c in '\r\n')):
            raise ProbeError('host_header', 'must be a non-empty line, got %r' % host_header)
        if timeout is None or timeout <= 0:
            raise ProbeError('timeout', 'must be a positive number of seconds, got %r' % timeout)
        self.host = host
        self.port = port
        self.host_header = host_header
        self.path = path
        self.tls = tls
        self.ca_path = ca_path
        self.timeout = timeout
        self.keepalive = keepalive
        self.server_name = (server_name or default_server_name(host, host_header)) if tls else None
        self.context = ssl_context(ca_path) if tls else None
        self.certificate = None
        self._conn = None

    # one connection
    def _connect(self, context=None):
        """A connection to the router, through TLS with ``context`` (default: the probe's)."""
        verified = context is None and bool(self.ca_path)
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.tls:
            try:
                sock = (context or self.context).wrap_socket(sock, server_hostname=self.server_name or None)
            except Exception:
                sock.close()
                raise
            if self.certificate is None:
                der = sock.getpeercert(binary_form=True)
                if der:
                    self.certificate = certificate_info(der, verified=verified)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        conn.sock = sock
        return conn

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _exchange(self, conn):
        conn.putrequest('GET', self.path, skip_host=self.host_header is not None, skip_accept_encoding=True)
        if self.host_header is not None:
            conn.putheader('Host', self.host_header)
        conn.putheader('User-Agent', USER_AGENT)
        conn.putheader('Accept', '*/*')
        conn.putheader('Connection', 'keep-alive' if self.keepalive else 'close')
        conn.endheaders()
        response = conn.getresponse()
        body = response.read(MAX_BODY_BYTES)
        complete = response.isclosed() or len(body) < MAX_BODY_BYTES
        return response.status, body, complete and not response.will_close

    def request(self):
        """One GET; return ``(status, body bytes)`` or raise the connection's exception."""
        reused = self._conn is not None
        if self._conn is None:
            self._conn = self._connect()
        try:
            status, body, reusable = self._exchange(self._conn)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # A kept-alive connection the router closed meanwhile: once more on a new one.
            self._conn = self._connect()
            try:
                status, body, reusable = self._exchange(self._conn)
            except Exception:
                self.close()
                raise
        except Exception:
            self.close()
            raise
        if not (self.keepalive and reusable):
            self.close()
        return status, body

    def fetch_certificate(self):
        """Read the peer certificate over an unverified handshake (after verification failed)."""
        if not self.tls or self.certificate is not None:
            return
        try:
            self._connect(ssl_context(None)).close()
        except Exception:  # only a diagnostic: the failures are already reported
            pass


def body_key(body):
    """How a response body is counted: decoded, stripped, first 200 characters."""
    return body.decode('utf-8', 'replace').strip()[:BODY_KEY_CHARS]


def probe(host, port, host_header=None, path='/', tls=False, server_name=None, ca_path=None, count=1,
          timeout=5.0, keepalive=False, clock=time.monotonic):
    """Send ``count`` GET requests, one after the other; return the tally.

    The result holds ``requests_total``, ``responses_total``, ``failures``
    (``[{index, error}]``), ``statuses`` (``{"200": n}``), ``bodies``
    (``{body_key: n}``), ``elapsed`` and, with ``tls``, ``server_name`` and
    ``peer_certificate`` (None if no handshake got that far).
    """
    if not isinstance(count, int) or not 0 < count <= MAX_COUNT:
        raise ProbeError('count', 'must be from 1 to %d, got %r' % (MAX_COUNT, count))
    prober = Prober(host, port, host_header=host_header, path=path, tls=tls, server_name=server_name,
                    ca_path=ca_path, timeout=timeout, keepalive=keepalive)
    statuses = {}
    bodies = {}
    failures = []
    responses = 0
    start = clock()
    try:
        for index in range(count):
            try:
                status, body = prober.request()
            except Exception as exc:  # every failure of one request is reported, none escapes
                failures.append({'index': index, 'error': describe_error(exc, timeout)})
                continue
            responses += 1
            key = str(status)
            statuses[key] = statuses.get(key, 0) + 1
            text = body_key(body)
            bodies[text] = bodies.get(text, 0) + 1
    finally:
        prober.close()
    elapsed = clock() - start
    result = {
        'requests_total': count,
        'responses_total': responses,
        'failures': failures,
        'statuses': statuses,
        'bodies': bodies,
        'elapsed': round(elapsed, 3),
    }
    if tls:
        prober.fetch_certificate()
        result['server_name'] = prober.server_name
        result['peer_certificate'] = prober.certificate
    return result


def problems(result, expect_status):
    """A message saying what went wrong in ``result``, or None if every request got ``expect_status``."""
    parts = []
    failures = result['failures']
    if failures:
        errors = {}
        for failure in failures:
            errors[failure['error']] = errors.get(failure['error'], 0) + 1
        detail = '; '.join('%s (%d)' % (error, n) for error, n in sorted(errors.items(), key=lambda item: -item[1]))
        parts.append('%d of %d requests failed: %s' % (len(failures), result['requests_total'], detail))
    expected = str(expect_status)
    others = dict((status, n) for status, n in result['statuses'].items() if status != expected)
    if others:
        parts.append('%d responses had another status than %s: %s' % (
            sum(others.values()), expected, ', '.join('%s (%d)' % item for item in sorted(others.items()))))
    return '; '.join(parts) or None
