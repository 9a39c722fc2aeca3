# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/packet.py: the uWSGI subscription packet, byte for byte, and its signature."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct

import pytest

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ansible_collections.uwsgi.topology.plugins.module_utils import packet
from ansible_collections.uwsgi.topology.plugins.module_utils.compiler import compile_options
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

KEYFILE = '/etc/uwsgi/keys/app.test.pem'


def _entry(**extra):
    entry = {'server': '127.0.0.1:2626', 'key': 'app.test', 'address': '127.0.0.1:3031'}
    entry.update(extra)
    return entry


def _var(name, value):
    """Hand-written: two little-endian length bytes, then the bytes, for the name and the value."""
    return (bytes([len(name) & 0xff, len(name) >> 8]) + name
            + bytes([len(value) & 0xff, len(value) >> 8]) + value)


@pytest.fixture(scope='module')
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


# --- reading entries with the compiler's reader --------------------------------------------------

def test_announcement_reads_the_entry_as_the_compiler_does():
    entry = _entry(balancing_weight=3, modifier={'modifier1': 'psgi', 'modifier2': 7},
                   signing=['SHA256', KEYFILE], sni_key='/r/k.pem', sni_cert='/r/c.pem', check_file='/tmp/off')

    announce = packet.announcement(entry, 'subscribe[0]')

    assert announce.server == '127.0.0.1:2626'
    assert announce.key == 'app.test'
    assert announce.address == '127.0.0.1:3031'
    assert (announce.modifier1, announce.modifier2, announce.weight) == (5, 7, 3)
    assert announce.extra == (('sni_key', '/r/k.pem'), ('sni_crt', '/r/c.pem'))
    assert (announce.digest, announce.keyfile) == ('SHA256', KEYFILE)
    assert announce.check_file == '/tmp/off'
    assert announce.describe() == '127.0.0.1:2626 app.test 127.0.0.1:3031'
    # The same entry compiles to the node's subscribe2 line with the same values.
    (line,) = [value for name, value in compile_options({'subscriptions': {'subscribe': [entry]}})
               if name == 'subscribe2']
    assert 'key=app.test' in line and 'addr=127.0.0.1:3031' in line and 'sign=SHA256:%s' % KEYFILE in line


def test_an_unset_weight_and_modifier_are_sent_as_uwsgi_sends_them():
    announce = packet.announcement(_entry(), 'subscribe[0]')

    assert (announce.modifier1, announce.modifier2, announce.weight) == (0, 0, 0)
    assert announce.digest is None and announce.keyfile is None and announce.extra == ()


@pytest.mark.parametrize('entry, message', [
    (_entry(address=0), 'subscribe[0].address: is a socket index (0)'),
    (_entry(server='router.example:2626'), 'subscribe[0].server: subscription server'),
    (_entry(key=None), 'subscribe[0].key: is required'),
    (_entry(address='%(addr):3031'), "subscribe[0].address: '%(addr):3031' holds a uWSGI placeholder"),
    (_entry(signing='SHA1:/k.pem'), 'subscribe[0].signing: must be a two-item list'),
    (_entry(balancing_algo='lrc'), 'subscribe[0].balancing_algo: '),
])
def test_bad_entries_are_refused_with_the_compilers_words(entry, message):
    with pytest.raises(TopologyError) as caught:
        packet.announcement(entry, 'subscribe[0]')
    assert str(caught.value).startswith(message)


def test_master_only_keys_travel_for_2_1():
    announce = packet.announcement(_entry(balancing_algo='lrc', protocol='http'), 'subscribe[0]', version='2.1')

    assert announce.extra == (('proto', 'http'), ('algo', 'lrc'))


# --- the layout, byte for byte -----------------------------------------------------------------------

def test_unsigned_subscribe_bytes():
    announce = packet.announcement(_entry(balancing_weight=2, modifier=5), 'subscribe[0]')

    data = packet.encode(announce, packet.SUBSCRIBE)

    body = (b'\x03\x00key\x08\x00app.test'
            b'\x07\x00address\x0e\x00127.0.0.1:3031'
            b'\x09\x00modifier1\x01\x005'
            b'\x09\x00modifier2\x01\x000'
            b'\x05\x00cores\x01\x001'
            b'\x04\x00load\x01\x000'
            b'\x06\x00weight\x01\x002')
    assert len(body) == 15 + 25 + 14 + 14 + 10 + 9 + 11 == 98
    assert data == b'\xe0\x62\x00\x00' + body


def test_unsubscribe_sets_the_command_byte_only():
    announce = packet.announcement(_entry(), 'subscribe[0]')

    leave = packet.encode(announce, packet.UNSUBSCRIBE)
    join = packet.encode(announce, packet.SUBSCRIBE)

    assert leave[3:4] == b'\x01' and join[3:4] == b'\x00'
    assert leave[:3] == join[:3] and leave[4:] == join[4:]


def test_sni_vars_follow_weight():
    announce = packet.announcement(_entry(sni_key='/r/k.pem', sni_cert='/r/c.pem', sni_client_ca='/r/ca.pem'),
                                   'subscribe[0]')

    cmd, pairs = packet.decode(packet.encode(announce, packet.SUBSCRIBE))

    assert cmd == 0
    assert [name for name, _value in pairs] == [
        'key', 'address', 'modifier1', 'modifier2', 'cores', 'load', 'weight', 'sni_key', 'sni_crt', 'sni_ca']
    assert pairs[-1] == ('sni_ca', b'/r/ca.pem')


@pytest.mark.parametrize('digest, algorithm', [('SHA1', hashes.SHA1), ('SHA256', hashes.SHA256),
                                               ('sha512', hashes.SHA512)])
def test_signed_packet_layout_and_signature(rsa_key, digest, algorithm):
    announce = packet.announcement(_entry(signing=[digest, KEYFILE]), 'subscribe[0]')
    signer = packet.rsa_signer(_pem(rsa_key), announce.digest, KEYFILE)

    data = packet.encode(announce, packet.UNSUBSCRIBE, signer, unix=1700000001)

    signed = (_var(b'key', b'app.test') + _var(b'address', b'127.0.0.1:3031') + _var(b'modifier1', b'0')
              + _var(b'modifier2', b'0') + _var(b'cores', b'1') + _var(b'load', b'0') + _var(b'weight', b'0')
              + _var(b'unix', b'1700000001'))
    assert data[4:4 + len(signed)] == signed
    sign = data[4 + len(signed):]
    assert sign[:6] == b'\x04\x00sign'
    (size,) = struct.unpack('<H', sign[6:8])
    assert size == 256 and len(sign) == 8 + 256          # sign is the last var
    assert data[:4] == bytes([224]) + struct.pack('<H', len(data) - 4) + b'\x01'
    # The router's check: PKCS#1 v1.5 with the digest over bytes 4..end of the unix pair.
    rsa_key.public_key().verify(sign[8:], data[4:4 + len(signed)], padding.PKCS1v15(), algorithm())
    assert packet.signed_part(data) == signed


def test_a_signature_does_not_verify_with_another_key_or_other_bytes(rsa_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    announce = packet.announcement(_entry(signing=['SHA256', KEYFILE]), 'subscribe[0]')
    data = packet.encode(announce, packet.SUBSCRIBE, packet.rsa_signer(_pem(rsa_key), 'SHA256', KEYFILE), unix=5)
    _cmd, pairs = packet.decode(data)
    signature = dict(pairs)['sign']

    with pytest.raises(InvalidSignature):
        other.public_key().verify(signature, packet.signed_part(data), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        rsa_key.public_key().verify(signature, packet.signed_part(data).replace(b'app.test', b'app.tesu'),
                                    padding.PKCS1v15(), hashes.SHA256())


def test_decode_round_trip_and_header_checks(rsa_key):
    announce = packet.announcement(_entry(signing=['SHA1', KEYFILE]), 'subscribe[0]')
    data = packet.encode(announce, packet.SUBSCRIBE, packet.rsa_signer(_pem(rsa_key), 'SHA1', KEYFILE), unix=42)

    cmd, pairs = packet.decode(data)

    assert cmd == 0
    assert [name for name, _value in pairs][-2:] == ['unix', 'sign']
    assert dict(pairs)['unix'] == b'42'
    with pytest.raises(ValueError):
        packet.decode(data[:-1])


def test_a_packet_beyond_what_a_router_reads_is_refused():
    announce = packet.announcement(_entry(sni_key='/' + 'k' * 2100, sni_cert='/' + 'c' * 2100), 'subscribe[3]')

    with pytest.raises(TopologyError) as caught:
        packet.encode(announce, packet.SUBSCRIBE)
    assert str(caught.value).startswith('subscribe[3]: the subscription packet would be ')
    assert 'at most 4096' in str(caught.value)


def test_signing_needs_unix():
    announce = packet.announcement(_entry(), 'subscribe[0]')
    with pytest.raises(ValueError):
        packet.encode(announce, packet.SUBSCRIBE, lambda data: b'x')


# --- keys and digests --------------------------------------------------------------------------------

@pytest.mark.parametrize('digest, name', [('SHA1', 'sha1'), ('sha256', 'sha256'), ('SHA512-256', 'sha512-256'),
                                          ('SHA3-256', 'sha3-256')])
def test_digest_names(digest, name):
    assert packet.hash_algorithm(digest, 'x').name == name


@pytest.mark.parametrize('digest', ['SHAKE128', 'WHIRLPOOL', 'HashAlgorithm'])
def test_unknown_digests_are_refused(digest):
    with pytest.raises(TopologyError) as caught:
        packet.hash_algorithm(digest, 'subscribe[0].signing[0]')
    assert str(caught.value) == ('subscribe[0].signing[0]: digest %r is not one the cryptography library signs '
                                 'with; use SHA256 or SHA1' % digest)


def test_a_bad_key_file_is_named_without_its_content():
    with pytest.raises(TopologyError) as caught:
        packet.rsa_signer(b'-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n', 'SHA1', KEYFILE)
    assert str(caught.value).startswith(KEYFILE + ': is not an unencrypted PEM private key')
    assert 'c2VjcmV0' not in str(caught.value)


def test_an_encrypted_key_is_refused(rsa_key):
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b'pw'))
    with pytest.raises(TopologyError) as caught:
        packet.rsa_signer(pem, 'SHA1', KEYFILE)
    assert str(caught.value).startswith(KEYFILE + ': is not an unencrypted PEM private key')


def test_a_non_rsa_key_is_refused():
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(TopologyError) as caught:
        packet.rsa_signer(pem, 'SHA256', KEYFILE)
    assert str(caught.value) == (KEYFILE + ': holds an EC private key; subscription signatures here are RSA '
                                 '(the keys role generates RSA keys)')


def test_missing_cryptography_fails_clearly(monkeypatch):
    monkeypatch.setattr(packet, 'HAS_CRYPTOGRAPHY', False)
    with pytest.raises(TopologyError) as caught:
        packet.rsa_signer(b'', 'SHA1', KEYFILE)
    assert str(caught.value).startswith(KEYFILE + ': signing needs the Python library cryptography')


# --- sending ---------------------------------------------------------------------------------------

def test_send_udp_on_loopback():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(('127.0.0.1', 0))
    receiver.settimeout(5)
    try:
        packet.send('127.0.0.1:%d' % receiver.getsockname()[1], b'\xe0\x01\x00\x00x')
        assert receiver.recv(4096) == b'\xe0\x01\x00\x00x'
    finally:
        receiver.close()


def test_send_unix_datagram(tmp_path):
    path = str(tmp_path / 'sub.sock')
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(5)
    try:
        packet.send(path, b'payload')
        assert receiver.recv(4096) == b'payload'
    finally:
        receiver.close()
