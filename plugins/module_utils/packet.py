# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The uWSGI subscription packet: what a node sends to a router's subscription server.

A subscribe entry of a node's spec (``subscriptions.subscribe[N]``) is read with the
compiler's own reader (``Subscriptions.subscribe``, the one that writes the node's
``subscribe2`` line), so the packet announces exactly what the node itself announces.

The layout is uWSGI 2.0's ``uwsgi_send_subscription`` (core/subscription.c:672-753):

* a 4-byte header: modifier1 ``224``, the body size as u16 little-endian, then
  modifier2 = the command: 0 subscribe, 1 unsubscribe (a router reads any non-zero
  command as an unsubscribe, plugins/corerouter/cr_common.c:138);
* the body, uwsgi vars (u16le size + bytes, for the name and the value) in this order:
  ``key``, ``address``, ``modifier1``, ``modifier2``, ``cores``, ``load``, ``weight``,
  then ``sni_key``, ``sni_crt``, ``sni_ca`` when set, numbers as ASCII decimals;
* when signed: ``unix`` (uWSGI sends ``now + command``), then ``sign``, the signature
  of every body byte before it (from byte 4 up to and including the ``unix`` pair;
  RSA PKCS#1 v1.5 with the digest of the entry's ``signing``, core/ssl.c:439-527).
  ``sign`` must be the last var: the router finds the signed part by its size
  (cr_common.c:131-135).

A router reads at most 4096 bytes of a datagram (cr_common.c:118-128). An unsubscribe
is matched by the exact ``(key, address)`` strings of the subscribe (cr_common.c:153)
and gets no time check, only the signature check (cr_common.c:155-160).

Values the node computes at run time and no spec holds are sent as fixed values:
``cores`` 1 (the router only shows it in its stats) and ``load`` 0.  ``weight`` is the
entry's ``balancing_weight``, else 0, which the router stores as 1 (as uWSGI 2.0 sends
its global weight, 0 unless set).

Encoding is pure; ``send`` is the only function with I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import socket
import struct
import traceback

from ansible_collections.uwsgi.topology.plugins.module_utils.core import Target
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.subscriptions import Subscriptions

try:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.backends import default_backend
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

SUBSCRIBE = 0
UNSUBSCRIBE = 1
MODIFIER1 = 224
MAX_DATAGRAM = 4096

# subscribe2 keys (what Subscriptions.subscribe returns) -> packet vars, in packet order, after weight.
# uWSGI master's subscribe2 also sends these 2.1-only keys; a 2.0 router ignores unknown vars.
_MASTER_VARS = (('backup', 'backup'), ('vassal', 'vassal'), ('proto', 'proto'), ('algo', 'algo'))
_SNI_VARS = ('sni_key', 'sni_crt', 'sni_ca')


class Announce(collections.namedtuple('Announce', (
        'path', 'server', 'key', 'address', 'modifier1', 'modifier2', 'weight', 'extra', 'digest', 'keyfile',
        'check_file'))):
    """One subscribe entry, read as the node reads it.

    ``extra`` holds the optional vars (``(name, value)`` pairs, packet order) that follow
    ``weight``; ``digest`` and ``keyfile`` are None for an unsigned entry; ``check_file``
    is the file whose existence makes uWSGI skip the subscription (or None).
    """

    __slots__ = ()

    def describe(self):
        """``server key address``: how results and messages name the subscription."""
        return '%s %s %s' % (self.server, self.key, self.address)


def announcement(item, path, version=None, build=None):
    """Read one subscribe entry (a mapping as in ``subscriptions.subscribe``) into an Announce.

    The entry is checked by the compiler's reader, so its errors are the compiler's,
    named by ``path``.  An address given as a socket index is refused: the packet
    must carry the address string the node announces, which only the running node
    knows for an index.
    """
    pairs, _weight = Subscriptions(None, Target(version, build)).subscribe(item, path)
    values = dict(pairs)
    for name, where in (('server', '.server'), ('addr', '.address')):
        if '%(' in values.get(name, ''):
            raise TopologyError(path + where, '%r holds a uWSGI placeholder, which only the node expands: give '
                                              'the address itself' % values[name])
    if 'socket' in values:
        raise TopologyError(path + '.address', 'is a socket index (%s): a packet sent for the node must carry the '
                                               'address it announces; give the address itself (IPv4:port or a '
                                               'UNIX socket path)' % values['socket'])
    digest = keyfile = None
    if 'sign' in values:
        digest, _sep, keyfile = values['sign'].partition(':')
    extra = [(name, values[key]) for key, name in _MASTER_VARS if key in values]
    extra.extend((name, values[name]) for name in _SNI_VARS if name in values)
    return Announce(path=path, server=values['server'], key=values['key'], address=values['addr'],
                    modifier1=int(values.get('modifier1', 0)), modifier2=int(values.get('modifier2', 0)),
                    weight=int(values.get('weight', 0)), extra=tuple(extra), digest=digest, keyfile=keyfile,
                    check_file=values.get('check'))


def uwsgi_var(name, value):
    """One uwsgi var: u16le size + name, u16le size + value (str, int or bytes)."""
    if not isinstance(name, bytes):
        name = str(name).encode('utf-8')
    if not isinstance(value, bytes):
        value = str(value).encode('utf-8')
    if len(name) > 0xffff or len(value) > 0xffff:
        raise ValueError('a uwsgi var holds at most 65535 bytes')
    return struct.pack('<H', len(name)) + name + struct.pack('<H', len(value)) + value


def header(size, cmd):
    """The 4-byte uwsgi header of a subscription packet: 224, u16le size, command."""
    return struct.pack('<BHB', MODIFIER1, size, cmd)


def body(announce):
    """The vars every packet of ``announce`` starts with (before ``unix`` and ``sign``)."""
    fields = [('key', announce.key), ('address', announce.address), ('modifier1', announce.modifier1),
              ('modifier2', announce.modifier2), ('cores', 1), ('load', 0), ('weight', announce.weight)]
    fields.extend(announce.extra)
    return b''.join(uwsgi_var(name, value) for name, value in fields)


def encode(announce, cmd, signer=None, unix=None):
    """The whole datagram announcing (``cmd`` SUBSCRIBE) or withdrawing (UNSUBSCRIBE) ``announce``.

    With ``signer`` (a callable returning the signature of the bytes it is given),
    ``unix`` (seconds since the epoch) is appended and the body so far signed.
    """
    if cmd not in (SUBSCRIBE, UNSUBSCRIBE):
        raise ValueError('cmd must be SUBSCRIBE (0) or UNSUBSCRIBE (1), got %r' % (cmd,))
    data = body(announce)
    if signer is not None:
        if unix is None:
            raise ValueError('a signed packet needs its unix time')
        data += uwsgi_var('unix', int(unix))
        data += uwsgi_var('sign', signer(data))
    elif unix is not None:
        data += uwsgi_var('unix', int(unix))
    if len(data) + 4 > MAX_DATAGRAM:
        raise TopologyError(announce.path, 'the subscription packet would be %d bytes; a router reads at most %d'
                            % (len(data) + 4, MAX_DATAGRAM))
    return header(len(data), cmd) + data


def signed_part(packet):
    """The bytes a signed packet's signature covers: from byte 4 up to the ``sign`` var."""
    size = struct.unpack('<H', packet[1:3])[0]
    end = 4 + size
    pos = 4
    while pos < end:
        klen = struct.unpack('<H', packet[pos:pos + 2])[0]
        name = packet[pos + 2:pos + 2 + klen]
        if name == b'sign':
            return packet[4:pos]
        vpos = pos + 2 + klen
        vlen = struct.unpack('<H', packet[vpos:vpos + 2])[0]
        pos = vpos + 2 + vlen
    raise ValueError('the packet has no sign var')


def decode(packet):
    """``(cmd, [(name, value bytes), ...])`` of a packet (for checks and tests)."""
    if len(packet) < 4 or packet[0:1] != struct.pack('<B', MODIFIER1):
        raise ValueError('not a subscription packet')
    size = struct.unpack('<H', packet[1:3])[0]
    cmd = struct.unpack('<B', packet[3:4])[0]
    if len(packet) != 4 + size:
        raise ValueError('the header says %d body bytes, the packet has %d' % (size, len(packet) - 4))
    pairs = []
    pos = 4
    while pos < len(packet):
        klen = struct.unpack('<H', packet[pos:pos + 2])[0]
        name = packet[pos + 2:pos + 2 + klen]
        pos += 2 + klen
        vlen = struct.unpack('<H', packet[pos:pos + 2])[0]
        pairs.append((name.decode('utf-8'), packet[pos + 2:pos + 2 + vlen]))
        pos += 2 + vlen
    return cmd, pairs


# --- signing -----------------------------------------------------------------------------------

def hash_algorithm(digest, path):
    """The cryptography hash for an OpenSSL digest name (SHA1, SHA256, sha512, SHA3-256, ...)."""
    name = digest.upper()
    for candidate in (name.replace('-', '_'), name.replace('-', '')):
        cls = getattr(hashes, candidate, None)
        if isinstance(cls, type) and issubclass(cls, hashes.HashAlgorithm):
            try:
                return cls()
            except TypeError:  # SHAKE and BLAKE2 need a size: not a signing digest here
                break
    raise TopologyError(path, 'digest %r is not one the cryptography library signs with; use SHA256 or SHA1'
                        % digest)


def rsa_signer(pem, digest, path):
    """A callable signing bytes with the PEM private key ``pem`` (bytes), as uWSGI does.

    uWSGI signs with ``EVP_SignFinal``, which for an RSA key is PKCS#1 v1.5 with
    ``digest``.  ``path`` names the key file in messages; no key content is ever in one.
    """
    if not HAS_CRYPTOGRAPHY:
        raise TopologyError(path, 'signing needs the Python library cryptography on the target (for example '
                                  'the python3-cryptography package)')
    algorithm = hash_algorithm(digest, path)
    try:
        # default_backend(): cryptography < 3.1 requires it, later versions ignore it.
        key = serialization.load_pem_private_key(pem, password=None, backend=default_backend())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise TopologyError(path, 'is not an unencrypted PEM private key: %s' % exc)
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = 'an EC' if isinstance(key, ec.EllipticCurvePrivateKey) else \
            'a DSA' if isinstance(key, dsa.DSAPrivateKey) else 'a non-RSA (%s)' % type(key).__name__
        raise TopologyError(path, 'holds %s private key; subscription signatures here are RSA (the keys role '
                                  'generates RSA keys)' % kind)

    def sign(data):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    return sign


# --- sending -----------------------------------------------------------------------------------

def send(server, data):
    """Send ``data`` as one datagram to ``server`` as uWSGI reads it: ``IPv4:port`` is UDP,
    anything else a UNIX datagram socket path (``@name``: abstract)."""
    if ':' in server:
        host, _sep, port = server.rpartition(':')
        family, target = socket.AF_INET, (host, int(port))
    else:
        family, target = socket.AF_UNIX, ('\0' + server[1:]) if server.startswith('@') else server
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.sendto(data, target)
    finally:
        sock.close()


def check_file_exists(announce):
    """Whether uWSGI skips ``announce`` on this host: its check file exists (core/subscription.c 2.0:1029)."""
    return announce.check_file is not None and os.path.exists(announce.check_file)
