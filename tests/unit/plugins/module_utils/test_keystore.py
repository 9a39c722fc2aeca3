# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/keystore.py: real keys and certificates in a tmp dir."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import stat

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.uwsgi.topology.plugins.module_utils import keystore as ks
from ansible_collections.uwsgi.topology.plugins.module_utils.keystore import Keystore, KeystoreError, parse_days

# The smallest size cryptography generates: the logic is the same, the tests faster.
SIZE = 1024
NOW = datetime.datetime.now(datetime.timezone.utc)


def make_plan(root):
    root = str(root)
    return {
        'root': root,
        'dirs': [root, root + '/signing', root + '/signing/public', root + '/ca', root + '/sni', root + '/routers'],
        'signing_keys': [
            {'key': 'app.test', 'private': root + '/signing/app.test.pem',
             'public': root + '/signing/public/app.test.pem'},
            {'key': 'other.test', 'private': root + '/signing/other.test.pem',
             'public': root + '/signing/public/other.test.pem'},
        ],
        'ca': {'key': root + '/ca/ca.key', 'cert': root + '/ca/ca.crt', 'common_name': 'uwsgi.topology CA'},
        'certificates': [
            {'name': 'app.test', 'key': root + '/sni/app.test.key', 'cert': root + '/sni/app.test.crt',
             'common_name': 'app.test', 'dns': ['app.test']},
            {'name': 'edge-https', 'key': root + '/routers/edge-https.key', 'cert': root + '/routers/edge-https.crt',
             'common_name': 'edge-https', 'dns': ['edge-https'], 'ip': ['127.0.0.1']},
        ],
    }


def run(plan, check_mode=False, diff=False, **options):
    """Decide, apply unless check mode, and return (report, store)."""
    options.setdefault('signing_key_size', SIZE)
    options.setdefault('tls_key_size', SIZE)
    store = Keystore(plan, **options)
    store.decide()
    if not check_mode:
        store.apply()
    return store.report(diff=diff), store


def snapshot(root):
    """path -> (bytes, inode, mtime_ns) of every file under root."""
    found = {}
    for directory, _dirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            info = os.stat(path)
            with open(path, 'rb') as handle:
                found[path] = (handle.read(), info.st_ino, info.st_mtime_ns)
    return found


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def load_cert(path):
    with open(path, 'rb') as handle:
        return x509.load_pem_x509_certificate(handle.read())


def load_key(path):
    with open(path, 'rb') as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


def spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_signed(cert, issuer_public_key):
    issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                             cert.signature_hash_algorithm)


def all_paths(plan):
    paths = list(plan['dirs'])
    for entry in plan['signing_keys']:
        paths += [entry['private'], entry['public']]
    paths += [plan['ca']['key'], plan['ca']['cert']]
    for entry in plan['certificates']:
        paths += [entry['key'], entry['cert']]
    return paths


@pytest.fixture
def plan(tmp_path):
    return make_plan(tmp_path / 'store')


@pytest.fixture
def built(plan):
    """A complete store, made once by the plugin logic."""
    run(plan)
    return plan


# --- a fresh store --------------------------------------------------------------------------------

def test_fresh_store_is_created_with_everything_planned(plan):
    report, store = run(plan)
    assert report['changed'] is True
    assert report['created'] == all_paths(plan)
    assert report['renewed'] == [] and report['kept'] == []
    assert report['reasons'][plan['ca']['cert']] == 'missing'
    assert store.warnings == []

    # Signing pairs: an RSA key of the asked size (PKCS#1 PEM) and its SubjectPublicKeyInfo public key.
    for entry in plan['signing_keys']:
        with open(entry['private'], 'rb') as handle:
            assert handle.read().startswith(b'-----BEGIN RSA PRIVATE KEY-----')
        private = load_key(entry['private'])
        assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == SIZE
        with open(entry['public'], 'rb') as handle:
            public = serialization.load_pem_public_key(handle.read())
        assert spki(public) == spki(private.public_key())

    # The CA: self-signed, CA:TRUE and keyCertSign+cRLSign, both critical.
    ca_key = load_key(plan['ca']['key'])
    ca = load_cert(plan['ca']['cert'])
    assert ca.subject == ca.issuer
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == 'uwsgi.topology CA'
    verify_signed(ca, ca_key.public_key())
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)

    # Leaves: CN, SAN, serverAuth, SHA256, signed by the CA, matching their own key.
    for entry in plan['certificates']:
        cert = load_cert(entry['cert'])
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == entry['common_name']
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == entry['dns']
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == entry.get('ip', [])
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
        assert cert.issuer == ca.subject
        verify_signed(cert, ca_key.public_key())
        assert spki(cert.public_key()) == spki(load_key(entry['key']).public_key())
        assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == \
            ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        not_after = cert.not_valid_after_utc - NOW
        assert datetime.timedelta(days=824) < not_after <= datetime.timedelta(days=825, minutes=1)


def test_modes_of_directories_keys_and_certificates(built):
    for path in built['dirs']:
        assert mode(path) == 0o700, path
    for entry in built['signing_keys']:
        assert mode(entry['private']) == 0o600
        assert mode(entry['public']) == 0o644
    assert mode(built['ca']['key']) == 0o600
    assert mode(built['ca']['cert']) == 0o644
    for entry in built['certificates']:
        assert mode(entry['key']) == 0o600
        assert mode(entry['cert']) == 0o644


def test_modes_do_not_depend_on_the_umask(plan):
    old = os.umask(0o077)
    try:
        run(plan)
    finally:
        os.umask(old)
    assert mode(plan['ca']['cert']) == 0o644
    assert mode(plan['signing_keys'][0]['public']) == 0o644


def test_no_temporary_files_are_left(built):
    for path in snapshot(built['root']):
        assert not os.path.basename(path).startswith('.'), path


def test_missing_parents_of_the_root_are_created(tmp_path):
    plan = make_plan(tmp_path / 'a' / 'b' / 'store')
    run(plan)
    assert os.path.isfile(plan['ca']['cert'])


# --- re-runs ----------------------------------------------------------------------------------------

def test_rerun_changes_nothing_and_generates_nothing(built, monkeypatch):
    before = snapshot(built['root'])

    def no_generation(*args, **kwargs):
        raise AssertionError('a re-run must not generate keys')
    monkeypatch.setattr(ks.rsa, 'generate_private_key', no_generation)
    report, _store = run(built)
    assert report['changed'] is False
    assert report['created'] == [] and report['renewed'] == [] and report['modes'] == []
    assert report['kept'] == all_paths(built)
    assert report['reasons'] == {}
    assert snapshot(built['root']) == before


def test_rerun_diff_shows_no_difference(built):
    report, _store = run(built, diff=True)
    assert report['diff']['before'] == report['diff']['after']
    assert 'ca/ca.crt: certificate CN=uwsgi.topology CA, expires ' in report['diff']['after']


def test_key_size_option_change_keeps_existing_keys_with_a_warning(built):
    before = snapshot(built['root'])
    report, store = run(built, signing_key_size=2048)
    assert report['changed'] is False
    assert snapshot(built['root']) == before
    assert any(built['signing_keys'][0]['private'] in warning and 'RSA 1024' in warning
               for warning in store.warnings)


def test_days_accept_the_keys_role_form(built):
    report, _store = run(built, ca_not_after_days='+3650d', cert_not_after_days='+825d')
    assert report['changed'] is False


# --- check mode and diff ------------------------------------------------------------------------------

def test_check_mode_on_an_empty_store_writes_nothing(plan, tmp_path):
    report, _store = run(plan, check_mode=True, diff=True)
    assert report['changed'] is True
    assert report['created'] == all_paths(plan)
    assert not os.path.exists(plan['root'])
    assert os.listdir(str(tmp_path)) == []
    assert report['diff']['before'] == ''
    assert 'signing/app.test.pem: private key RSA 1024\n' in report['diff']['after']


def test_check_mode_on_a_damaged_store_writes_nothing(built):
    os.unlink(built['signing_keys'][0]['public'])
    os.chmod(built['ca']['key'], 0o644)
    before = snapshot(built['root'])
    report, _store = run(built, check_mode=True, diff=True)
    assert report['changed'] is True
    assert report['created'] == [built['signing_keys'][0]['public']]
    assert report['modes'] == [built['ca']['key']]
    assert snapshot(built['root']) == before
    assert mode(built['ca']['key']) == 0o644
    assert 'ca/ca.key: private key RSA 1024 0600\n' in report['diff']['after']


def test_result_never_holds_key_material(plan):
    reports = [run(plan, diff=True)[0]]
    os.unlink(plan['certificates'][0]['cert'])
    reports.append(run(plan, check_mode=True, diff=True)[0])
    reports.append(run(plan, diff=True)[0])
    for report in reports:
        text = json.dumps(report)
        assert 'PRIVATE KEY' not in text
        assert '-----BEGIN' not in text


# --- repairs ------------------------------------------------------------------------------------------

def test_deleted_public_key_is_rederived_without_touching_the_private_key(built):
    entry = built['signing_keys'][0]
    before = snapshot(built['root'])
    os.unlink(entry['public'])
    report, _store = run(built)
    assert report['changed'] is True
    assert report['created'] == [entry['public']]
    assert report['renewed'] == []
    after = snapshot(built['root'])
    assert after[entry['private']] == before[entry['private']]  # same bytes, inode and mtime
    assert after[entry['public']][0] == before[entry['public']][0]
    assert mode(entry['public']) == 0o644


def test_public_key_of_another_private_key_is_rederived(built):
    first, second = built['signing_keys']
    with open(second['public'], 'rb') as handle:
        foreign = handle.read()
    with open(first['public'], 'wb') as handle:
        handle.write(foreign)
    report, _store = run(built)
    assert report['renewed'] == [first['public']]
    assert 'does not match' in report['reasons'][first['public']]
    with open(first['public'], 'rb') as handle:
        public = serialization.load_pem_public_key(handle.read())
    assert spki(public) == spki(load_key(first['private']).public_key())


def test_certificate_with_wrong_cn_is_reissued(built):
    entry = built['certificates'][0]
    key_before = snapshot(built['root'])[entry['key']]
    entry['common_name'] = 'www.app.test'
    report, _store = run(built)
    assert report['renewed'] == [entry['cert']]
    assert report['reasons'][entry['cert']] == 'CN app.test, planned www.app.test'
    assert snapshot(built['root'])[entry['key']] == key_before
    cert = load_cert(entry['cert'])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == 'www.app.test'
    assert run(built)[0]['changed'] is False


def test_certificate_with_other_san_is_reissued(built):
    entry = built['certificates'][1]
    entry['dns'] = ['edge-https', 'edge.test']
    report, _store = run(built)
    assert report['renewed'] == [entry['cert']]
    assert report['reasons'][entry['cert']].startswith('SAN DNS:edge-https,IP:127.0.0.1, planned ')
    san = load_cert(entry['cert']).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ['edge-https', 'edge.test']


def test_certificate_not_matching_its_key_is_reissued(built):
    sni, router = built['certificates']
    with open(router['cert'], 'rb') as handle:
        foreign = handle.read()
    with open(sni['cert'], 'wb') as handle:
        handle.write(foreign)
    report, _store = run(built)
    assert report['renewed'] == [sni['cert']]
    assert report['reasons'][sni['cert']].startswith('does not match its key')
    assert spki(load_cert(sni['cert']).public_key()) == spki(load_key(sni['key']).public_key())


def test_unreadable_certificate_is_reissued(built):
    entry = built['certificates'][0]
    with open(entry['cert'], 'w') as handle:
        handle.write('garbage\n')
    report, _store = run(built)
    assert report['renewed'] == [entry['cert']]
    load_cert(entry['cert'])


def test_new_ca_key_reissues_every_certificate(built):
    before = snapshot(built['root'])
    os.unlink(built['ca']['key'])
    report, _store = run(built)
    certs = [entry['cert'] for entry in built['certificates']]
    assert report['created'] == [built['ca']['key']]
    assert report['renewed'] == [built['ca']['cert']] + certs
    for cert in certs:
        assert report['reasons'][cert] == 'the CA key is new'
    after = snapshot(built['root'])
    ca_key = load_key(built['ca']['key'])
    for entry in built['certificates']:
        assert after[entry['key']] == before[entry['key']]  # leaf keys kept
        verify_signed(load_cert(entry['cert']), ca_key.public_key())
    for entry in built['signing_keys']:
        assert after[entry['private']] == before[entry['private']]


def test_certificate_signed_by_another_ca_is_reissued(built, tmp_path):
    other = make_plan(tmp_path / 'other')
    run(other)
    # This store's CA becomes the other store's: same CN, another key.
    for name in ('key', 'cert'):
        with open(other['ca'][name], 'rb') as source, open(built['ca'][name], 'wb') as target:
            target.write(source.read())
    report, _store = run(built)
    assert report['renewed'] == [entry['cert'] for entry in built['certificates']]
    assert set(report['reasons'].values()) == {'not signed by the current CA'}


def test_ca_common_name_change_reissues_the_ca_and_its_certificates(built):
    report, _store = run(built, ca_common_name='Other CA')
    assert report['renewed'] == [built['ca']['cert']] + [entry['cert'] for entry in built['certificates']]
    assert report['reasons'][built['ca']['cert']] == 'CN uwsgi.topology CA, planned Other CA'
    issuer = load_cert(built['certificates'][0]['cert']).issuer
    assert issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == 'Other CA'
    assert run(built, ca_common_name='Other CA')[0]['changed'] is False


def test_expiring_certificates_are_renewed(tmp_path):
    plan = make_plan(tmp_path / 'store')
    # Made 810 days ago: the leaves (825 days) expire in 15 days, the CA (3650) much later.
    run(plan, now=NOW - datetime.timedelta(days=810))
    report, _store = run(plan)
    certs = [entry['cert'] for entry in plan['certificates']]
    assert report['renewed'] == certs
    assert report['reasons'][certs[0]].endswith('within renew_before_days')
    assert load_cert(certs[0]).not_valid_after_utc - NOW > datetime.timedelta(days=800)
    assert run(plan)[0]['changed'] is False


def test_expiring_certificate_is_kept_with_a_shorter_renewal_window(tmp_path):
    plan = make_plan(tmp_path / 'store')
    run(plan, now=NOW - datetime.timedelta(days=810))
    assert run(plan, renew_before_days=10)[0]['changed'] is False


def test_expiring_ca_certificate_is_renewed_and_its_certificates_stay(tmp_path):
    plan = make_plan(tmp_path / 'store')
    run(plan, now=NOW - datetime.timedelta(days=3640), cert_not_after_days=4000)
    before = snapshot(plan['root'])
    report, _store = run(plan, cert_not_after_days=4000)
    assert report['renewed'] == [plan['ca']['cert']]
    after = snapshot(plan['root'])
    for entry in plan['certificates']:
        assert after[entry['cert']] == before[entry['cert']]
        verify_signed(load_cert(entry['cert']), load_cert(plan['ca']['cert']).public_key())


def test_wrong_modes_are_corrected_and_reported(built):
    os.chmod(built['signing_keys'][0]['private'], 0o644)
    os.chmod(built['dirs'][1], 0o755)
    report, _store = run(built)
    assert report['changed'] is True
    assert report['modes'] == [built['dirs'][1], built['signing_keys'][0]['private']]
    assert report['reasons'][built['dirs'][1]] == 'mode 0755, wanted 0700'
    assert mode(built['signing_keys'][0]['private']) == 0o600
    assert mode(built['dirs'][1]) == 0o700
    assert run(built)[0]['changed'] is False


# --- private keys are precious ----------------------------------------------------------------------

def test_operator_key_of_another_type_is_kept(plan):
    os.makedirs(os.path.dirname(plan['certificates'][0]['key']))
    key = ec.generate_private_key(ec.SECP256R1())
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    with open(plan['certificates'][0]['key'], 'wb') as handle:
        handle.write(data)
    report, store = run(plan)
    assert plan['certificates'][0]['key'] in report['kept']
    with open(plan['certificates'][0]['key'], 'rb') as handle:
        assert handle.read() == data
    assert spki(load_cert(plan['certificates'][0]['cert']).public_key()) == spki(key.public_key())
    assert any('EC secp256r1' in warning for warning in store.warnings)


def test_unreadable_private_key_fails_and_is_not_overwritten(built):
    path = built['certificates'][0]['key']
    with open(path, 'w') as handle:
        handle.write('not a key\n')
    with pytest.raises(KeystoreError) as caught:
        run(built)
    assert caught.value.path == 'keystore.certificates[0].key'
    assert path in caught.value.message and 'never overwritten' in caught.value.message
    with open(path) as handle:
        assert handle.read() == 'not a key\n'


def test_encrypted_private_key_fails_naming_the_file(built):
    path = built['signing_keys'][1]['private']
    key = load_key(path)
    with open(path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b'secret')))
    with pytest.raises(KeystoreError) as caught:
        run(built)
    assert str(caught.value).startswith('keystore.signing_keys[1].private: %s is an encrypted private key' % path)


def test_a_failure_writes_nothing(built):
    os.unlink(built['signing_keys'][0]['public'])
    with open(built['certificates'][1]['key'], 'w') as handle:
        handle.write('broken\n')
    with pytest.raises(KeystoreError):
        run(built)
    assert not os.path.exists(built['signing_keys'][0]['public'])


# --- the plan and the options --------------------------------------------------------------------------

@pytest.mark.parametrize('change, where, words', [
    (lambda p: p.update(root='relative/store'), 'keystore.root', 'absolute'),
    (lambda p: p['dirs'].append('relative'), 'keystore.dirs[6]', 'absolute'),
    (lambda p: p['certificates'][1].update(key=p['certificates'][0]['key']), 'keystore.certificates[1].key',
     'also planned as keystore.certificates[0].key'),
    (lambda p: p.update(ca=None), 'keystore.ca', 'certificates are planned'),
    (lambda p: p['certificates'][1].update(ip=['edge']), 'keystore.certificates[1].ip[0]', 'not an IP address'),
    (lambda p: p['dirs'].remove(p['root'] + '/sni'), 'keystore.certificates[0].key', 'neither in keystore.dirs'),
])
def test_plan_errors_name_the_entry(plan, change, where, words):
    change(plan)
    with pytest.raises(KeystoreError) as caught:
        Keystore(plan)
    assert caught.value.path == where
    assert words in caught.value.message


def test_no_ca_and_no_certificates_is_fine(tmp_path):
    plan = make_plan(tmp_path / 'store')
    plan['ca'] = None
    plan['certificates'] = []
    report, _store = run(plan)
    assert report['created'][-1] == plan['signing_keys'][-1]['public']
    assert not os.path.exists(plan['root'] + '/ca/ca.key')


@pytest.mark.parametrize('options, where', [
    (dict(renew_before_days=825), 'renew_before_days'),
    (dict(renew_before_days=-1), 'renew_before_days'),
    (dict(cert_not_after_days='825 days'), 'cert_not_after_days'),
    (dict(ca_not_after_days=0), 'ca_not_after_days'),
    (dict(tls_key_size=512), 'tls_key_size'),
])
def test_option_errors_name_the_option(plan, options, where):
    with pytest.raises(KeystoreError) as caught:
        Keystore(plan, **options)
    assert caught.value.path == where


@pytest.mark.parametrize('value, days', [(825, 825), ('825', 825), ('+825d', 825), ('+3650d', 3650)])
def test_parse_days(value, days):
    assert parse_days(value, 'x') == days


def test_a_write_failure_names_the_file_and_what_was_already_written(plan, monkeypatch):
    written = []
    real_write = ks._write_atomic

    def write_once(path, data, mode):
        if written:
            raise OSError(28, 'No space left on device')
        written.append(path)
        real_write(path, data, mode)
    monkeypatch.setattr(ks, '_write_atomic', write_once)
    store = Keystore(plan, signing_key_size=SIZE, tls_key_size=SIZE)
    store.decide()
    with pytest.raises(KeystoreError) as caught:
        store.apply()
    public = plan['signing_keys'][0]['public']
    assert str(caught.value) == 'keystore.signing_keys[0].public: cannot write %s: [Errno 28] No space left on device' \
        % public
    assert store.applied == plan['dirs'] + [plan['signing_keys'][0]['private']]
    assert os.listdir(os.path.dirname(public)) == []


def test_diff_shows_the_old_and_new_mode(built):
    os.chmod(built['ca']['key'], 0o640)
    report, _store = run(built, diff=True)
    assert 'ca/ca.key: private key RSA 1024 0640\n' in report['diff']['before']
    assert 'ca/ca.key: private key RSA 1024 0600\n' in report['diff']['after']
