# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's key store: decide what is missing or invalid, then create it.

Pure logic behind the ``uwsgi.topology.keystore`` action plugin; nothing here knows
about Ansible.  The input is the plan's ``keystore`` part (``docs/manifest.md``):
one RSA signing key pair per signed subscription key, a self-signed CA, and
certificates signed by that CA (SNI keys, https/ssl routers' default certificates).

``Keystore.decide()`` reads and parses the files only (a re-run of an existing store
generates nothing), and returns one ``Item`` per planned directory and file, each
saying whether it is kept, created or renewed and why.  ``Keystore.apply()`` then
acts on that decision; check mode simply does not call it.

Rules (the store holds private keys an operator may depend on):

* A private key file that exists and parses is kept, never overwritten.  One that
  exists and does not parse (or is encrypted) fails the run, naming the file.
* A public key is (re)derived when it is missing or does not match its private key.
* A certificate is (re)issued when it is missing or unreadable, does not match its
  key, carries another CN or SAN than planned, is not signed by the current CA
  key, or expires within ``renew_before_days``.  A new CA key therefore re-issues
  every certificate; a CA certificate re-issued with the same key and name does not.
* Directories 0700, private keys 0600, public keys and certificates 0644; a wrong
  mode is corrected.  Files are written to a temporary file in the same directory
  and renamed into place (``os.replace``).

The ``cryptography`` library does the generation, parsing and signing, as it does
for community.crypto's modules (whose ``module_utils`` are private to that
collection since its 3.0.0, so they are not imported here).  No ``openssl`` command.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import os
import re
import stat
import tempfile
import traceback

from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

DIR_MODE = 0o700
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644

# Certificates start this much in the past: a host whose clock is a little behind the
# controller's must not see a certificate that is not valid yet.
BACKDATE = datetime.timedelta(minutes=5)

MIN_KEY_SIZE = 1024

_DAYS = re.compile(r'^\+?(\d+)d?$')


def argument_spec():
    """The options of the keystore action (the module file documents exactly these)."""
    return dict(
        # no_log=False: these are paths and key names (validate-modules flags the words "key"/"keystore").
        keystore=dict(type='dict', required=True, no_log=False, options=dict(
            root=dict(type='path', required=True),
            dirs=dict(type='list', elements='path', default=[]),
            signing_keys=dict(type='list', elements='dict', default=[], no_log=False, options=dict(
                key=dict(type='str', required=True, no_log=False),
                private=dict(type='path', required=True),
                public=dict(type='path', required=True),
            )),
            ca=dict(type='dict', options=dict(
                key=dict(type='path', required=True),
                cert=dict(type='path', required=True),
                common_name=dict(type='str'),
            )),
            certificates=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                key=dict(type='path', required=True),
                cert=dict(type='path', required=True),
                common_name=dict(type='str', required=True),
                dns=dict(type='list', elements='str', default=[]),
                ip=dict(type='list', elements='str', default=[]),
            )),
        )),
        signing_key_size=dict(type='int', default=2048),
        tls_key_size=dict(type='int', default=2048),
        ca_common_name=dict(type='str'),
        ca_not_after_days=dict(type='raw', default=3650),
        cert_not_after_days=dict(type='raw', default=825),
        renew_before_days=dict(type='int', default=30),
    )


class KeystoreError(TopologyError):
    """The key store cannot be made to match the plan; ``path`` names the option or file."""


def parse_days(value, name):
    """A number of days from an int, ``"825"`` or the keys role's ``"+825d"`` form."""
    if isinstance(value, bool):
        raise KeystoreError(name, 'expected a number of days (825 or "+825d"), got %r' % (value,))
    if isinstance(value, int):
        days = value
    else:
        match = _DAYS.match(str(value).strip())
        if not match:
            raise KeystoreError(name, 'expected a number of days (825 or "+825d"), got %r' % (value,))
        days = int(match.group(1))
    if days < 1:
        raise KeystoreError(name, 'must be at least 1 day, got %r' % (value,))
    return days


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _not_after(cert):
    try:
        return cert.not_valid_after_utc
    except AttributeError:  # cryptography < 42: naive UTC
        return cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read(path, origin):
    """The file's bytes, or None when there is no file."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError) as exc:
        if not os.path.lexists(path):
            return None
        raise KeystoreError(origin, '%s cannot be read: %s' % (path, exc))


def _load_private_key(data):
    try:
        # The RSA consistency check costs ~60 ms per 2048-bit key; the store is our own
        # material, and a damaged key still fails to parse or to match its certificate.
        return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError as exc:
        if 'unsafe_skip_rsa_key_validation' not in str(exc):
            raise  # encrypted key: the caller says so
        return serialization.load_pem_private_key(data, password=None)  # cryptography < 39


def _key_summary(key):
    if HAS_CRYPTOGRAPHY and isinstance(key, rsa.RSAPrivateKey):
        return 'RSA %d' % key.key_size
    if HAS_CRYPTOGRAPHY and isinstance(key, ec.EllipticCurvePrivateKey):
        return 'EC %s' % key.curve.name
    return type(key).__name__


def _hash_for(key):
    """SHA256, except for key types that sign without a separate digest (Ed25519, Ed448)."""
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return hashes.SHA256()
    return None


def _signed_by(cert, issuer_public_key):
    """Whether ``issuer_public_key`` verifies the signature of ``cert``."""
    try:
        if isinstance(issuer_public_key, rsa.RSAPublicKey):
            issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                     cert.signature_hash_algorithm)
        elif isinstance(issuer_public_key, ec.EllipticCurvePublicKey):
            issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes,
                                     ec.ECDSA(cert.signature_hash_algorithm))
        else:  # Ed25519 / Ed448
            issuer_public_key.verify(cert.signature, cert.tbs_certificate_bytes)
    except (InvalidSignature, UnsupportedAlgorithm, TypeError, ValueError):
        return False
    return True


def _common_names(name):
    return [attribute.value for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME)]


def _sans(cert):
    """``(set of DNS names, set of IP addresses as text)`` of a certificate."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(san.get_values_for_type(x509.DNSName)),
            set(str(address) for address in san.get_values_for_type(x509.IPAddress)))


def _is_ca(cert):
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


class Item(object):
    """One planned directory or file and what happens to it.

    ``action`` is ``keep``, ``create`` or ``renew``; ``fix_mode`` says that only the
    permissions change (a kept file or directory with another mode).  ``before`` and
    ``after`` are short states for the diff, never key material.
    """

    def __init__(self, kind, path, origin, mode):
        self.kind = kind          # dir, private_key, public_key, ca_cert, certificate
        self.path = path
        self.origin = origin      # where the path came from: keystore.certificates[0].cert
        self.mode = mode
        self.action = 'keep'
        self.reason = None
        self.fix_mode = False
        self.old_mode = None
        self.before = 'absent'
        self.after = None
        self.size = None          # private keys to generate: RSA bits

    @property
    def changes(self):
        return self.action != 'keep' or self.fix_mode

    def set(self, action, reason):
        self.action = action
        self.reason = reason


class Keystore(object):
    """What the store must hold (from the plan and the options), decided then applied."""

    def __init__(self, keystore, signing_key_size=2048, tls_key_size=2048, ca_common_name=None,
                 ca_not_after_days=3650, cert_not_after_days=825, renew_before_days=30, now=None):
        if not HAS_CRYPTOGRAPHY:
            raise KeystoreError(None, 'the keystore needs the Python library cryptography on the controller '
                                      '(the one community.crypto uses): %s'
                                % CRYPTOGRAPHY_IMPORT_ERROR.strip().splitlines()[-1])
        self.plan = keystore
        self.signing_key_size = self._key_size(signing_key_size, 'signing_key_size')
        self.tls_key_size = self._key_size(tls_key_size, 'tls_key_size')
        self.ca_not_after = parse_days(ca_not_after_days, 'ca_not_after_days')
        self.cert_not_after = parse_days(cert_not_after_days, 'cert_not_after_days')
        if not isinstance(renew_before_days, int) or renew_before_days < 0:
            raise KeystoreError('renew_before_days', 'must be a number of days, 0 or more, got %r'
                                % (renew_before_days,))
        for name, days in (('cert_not_after_days', self.cert_not_after), ('ca_not_after_days', self.ca_not_after)):
            if renew_before_days >= days:
                raise KeystoreError('renew_before_days', '%d is not less than %s (%d): every run would renew '
                                                         'the certificates' % (renew_before_days, name, days))
        self.renew_before = datetime.timedelta(days=renew_before_days)
        self.now = now or _utcnow()
        ca = keystore.get('ca') or None
        self.ca_common_name = ca_common_name or (ca or {}).get('common_name') or None
        self.warnings = []
        self.items = []
        self.applied = []         # paths written or chmod-ed by apply(), also when it fails half-way
        self._keys = {}           # path -> private key object (loaded or generated)
        self._check_plan()

    # --- the plan ------------------------------------------------------------------------------

    @staticmethod
    def _key_size(value, name):
        if isinstance(value, bool) or not isinstance(value, int) or value < MIN_KEY_SIZE:
            raise KeystoreError(name, 'must be an RSA key size of at least %d bits, got %r' % (MIN_KEY_SIZE, value))
        return value

    def _check_plan(self):
        plan = self.plan
        root = plan.get('root')
        if not root or not os.path.isabs(root):
            raise KeystoreError('keystore.root', 'must be an absolute path on the controller, got %r' % (root,))
        seen = {}

        def claim(path, origin):
            if not path or not os.path.isabs(path):
                raise KeystoreError(origin, 'must be an absolute path, got %r' % (path,))
            path = os.path.normpath(path)
            if path in seen:
                raise KeystoreError(origin, '%s is also planned as %s' % (path, seen[path]))
            seen[path] = origin
            return path

        self.dirs = [claim(path, 'keystore.dirs[%d]' % index) for index, path in enumerate(plan.get('dirs') or [])]
        self.signing = []
        for index, entry in enumerate(plan.get('signing_keys') or []):
            origin = 'keystore.signing_keys[%d]' % index
            self.signing.append(dict(key=entry.get('key'),
                                     private=claim(entry.get('private'), origin + '.private'),
                                     public=claim(entry.get('public'), origin + '.public'),
                                     origin=origin))
        self.certificates = []
        for index, entry in enumerate(plan.get('certificates') or []):
            origin = 'keystore.certificates[%d]' % index
            if not entry.get('common_name'):
                raise KeystoreError(origin + '.common_name', 'a certificate needs a common name')
            ips = []
            for position, address in enumerate(entry.get('ip') or []):
                try:
                    ips.append(ipaddress.ip_address(address))
                except ValueError:
                    raise KeystoreError('%s.ip[%d]' % (origin, position), 'not an IP address: %r' % (address,))
            self.certificates.append(dict(name=entry.get('name'),
                                          key=claim(entry.get('key'), origin + '.key'),
                                          cert=claim(entry.get('cert'), origin + '.cert'),
                                          common_name=entry['common_name'],
                                          dns=list(entry.get('dns') or []),
                                          ip=ips,
                                          origin=origin))
        ca = plan.get('ca') or None
        self.ca = None
        if ca:
            if not self.ca_common_name:
                raise KeystoreError('keystore.ca.common_name', 'the CA needs a common name (or set ca_common_name)')
            self.ca = dict(key=claim(ca.get('key'), 'keystore.ca.key'), cert=claim(ca.get('cert'), 'keystore.ca.cert'))
        elif self.certificates:
            raise KeystoreError('keystore.ca', 'certificates are planned (%s), so the CA that signs them must be too'
                                % self.certificates[0]['origin'])
        # Every file goes into a directory that is planned or already there.
        planned_dirs = set(self.dirs)
        for path, origin in seen.items():
            parent = os.path.dirname(path)
            if origin.startswith('keystore.dirs') or parent in planned_dirs or os.path.isdir(parent):
                continue
            raise KeystoreError(origin, 'the directory of %s is neither in keystore.dirs nor present' % path)

    # --- deciding ------------------------------------------------------------------------------

    def _item(self, kind, path, origin, mode):
        item = Item(kind, path, origin, mode)
        self.items.append(item)
        return item

    def _check_mode_bits(self, item):
        current = stat.S_IMODE(os.stat(item.path).st_mode)
        if current != item.mode:
            item.fix_mode = True
            item.old_mode = current
            if item.reason is None:
                item.reason = 'mode %04o, wanted %04o' % (current, item.mode)
        return current

    def _decide_dir(self, path, origin):
        item = self._item('dir', path, origin, DIR_MODE)
        if os.path.isdir(path):
            mode = self._check_mode_bits(item)
            item.before = 'directory %04o' % mode
        elif os.path.lexists(path):
            raise KeystoreError(origin, '%s exists and is not a directory' % path)
        else:
            item.set('create', 'missing')
        item.after = 'directory %04o' % DIR_MODE

    def _decide_private_key(self, path, origin, size):
        """Load the key at ``path`` (kept as it is) or plan a new one; return the Item."""
        item = self._item('private_key', path, origin, PRIVATE_MODE)
        item.size = size
        data = _read(path, origin)
        if data is None:
            item.set('create', 'missing')
            item.after = 'private key RSA %d' % size
            return item
        try:
            key = _load_private_key(data)
        except TypeError:
            raise KeystoreError(origin, '%s is an encrypted private key; the key store needs unencrypted keys. '
                                        'It is kept as it is: decrypt it or remove it to have a new one generated'
                                % path)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeystoreError(origin, '%s exists but is not a readable PEM private key (%s). It is never '
                                        'overwritten: repair it, or remove it to have a new one generated'
                                % (path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        self._keys[path] = key
        self._check_mode_bits(item)
        item.before = item.after = 'private key %s' % _key_summary(key)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != size:
            self.warnings.append('%s (%s): kept as it is, a %s key where RSA %d is planned; remove it to have '
                                 'a new one generated' % (path, origin, _key_summary(key), size))
        return item

    def _decide_public_key(self, path, origin, private_item):
        item = self._item('public_key', path, origin, PUBLIC_MODE)
        item.after = 'public key of %s' % os.path.basename(private_item.path)
        data = _read(path, origin)
        if data is None:
            item.set('create', 'missing')
            return item
        if private_item.action != 'keep':
            item.before = 'public key'
            item.set('renew', 'its private key is new')
            return item
        try:
            current = _spki(serialization.load_pem_public_key(data))
        except (ValueError, UnsupportedAlgorithm):
            item.before = 'unreadable'
            item.set('renew', 'not a readable PEM public key')
            return item
        if current != _spki(self._keys[private_item.path].public_key()):
            item.before = 'public key of another private key'
            item.set('renew', 'does not match %s' % private_item.path)
            return item
        item.before = item.after
        self._check_mode_bits(item)
        return item

    def _load_cert(self, item):
        """The certificate at ``item.path``, or None (and the item planned) when missing or unreadable."""
        data = _read(item.path, item.origin)
        if data is None:
            item.set('create', 'missing')
            return None
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            item.before = 'unreadable'
            item.set('renew', 'not a readable PEM certificate')
            return None
        item.before = self._cert_summary(_common_names(cert.subject), _not_after(cert))
        return cert

    @staticmethod
    def _cert_summary(common_names, not_after):
        return 'certificate CN=%s, expires %s' % (','.join(common_names) or '-', not_after.strftime('%Y-%m-%d'))

    def _expiring(self, cert):
        not_after = _not_after(cert)
        if not_after - self.now <= self.renew_before:
            return 'expires %s, within renew_before_days' % not_after.strftime('%Y-%m-%d')
        return None

    def _decide_ca(self):
        key_item = self._decide_private_key(self.ca['key'], 'keystore.ca.key', self.tls_key_size)
        item = self._item('ca_cert', self.ca['cert'], 'keystore.ca.cert', PUBLIC_MODE)
        item.after = self._cert_summary([self.ca_common_name], self.now + datetime.timedelta(days=self.ca_not_after))
        cert = self._load_cert(item)
        self.ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.ca_common_name)])
        if cert is None:
            return key_item, item
        reason = None
        if key_item.action != 'keep':
            reason = 'the CA key is new'
        elif _spki(cert.public_key()) != _spki(self._keys[key_item.path].public_key()):
            reason = 'does not match the CA key %s' % key_item.path
        elif _common_names(cert.subject) != [self.ca_common_name]:
            reason = 'CN %s, planned %s' % (','.join(_common_names(cert.subject)) or '-', self.ca_common_name)
        elif not _is_ca(cert):
            reason = 'not a CA certificate (basicConstraints CA:TRUE missing)'
        elif cert.issuer != cert.subject or not _signed_by(cert, cert.public_key()):
            reason = 'not self-signed'
        else:
            reason = self._expiring(cert)
        if reason:
            item.set('renew', reason)
        else:
            # Kept: its subject (perhaps richer than the CN alone) is what leaves must name as issuer.
            self.ca_subject = cert.subject
            item.after = item.before
            self._check_mode_bits(item)
        return key_item, item

    def _decide_certificate(self, entry, ca_key_item):
        key_item = self._decide_private_key(entry['key'], entry['origin'] + '.key', self.tls_key_size)
        item = self._item('certificate', entry['cert'], entry['origin'] + '.cert', PUBLIC_MODE)
        item.after = self._cert_summary([entry['common_name']], self.now + datetime.timedelta(days=self.cert_not_after))
        cert = self._load_cert(item)
        if cert is None:
            return
        reason = None
        dns, ips = _sans(cert)
        if key_item.action != 'keep':
            reason = 'its key is new'
        elif ca_key_item.action != 'keep':
            reason = 'the CA key is new'
        elif _spki(cert.public_key()) != _spki(self._keys[key_item.path].public_key()):
            reason = 'does not match its key %s' % key_item.path
        elif _common_names(cert.subject) != [entry['common_name']]:
            reason = 'CN %s, planned %s' % (','.join(_common_names(cert.subject)) or '-', entry['common_name'])
        elif dns != set(entry['dns']) or ips != set(str(address) for address in entry['ip']):
            reason = 'SAN %s, planned %s' % (self._san_text(dns, ips),
                                             self._san_text(entry['dns'], [str(a) for a in entry['ip']]))
        elif cert.issuer != self.ca_subject or not _signed_by(cert, self._keys[ca_key_item.path].public_key()):
            reason = 'not signed by the current CA'
        else:
            reason = self._expiring(cert)
        if reason:
            item.set('renew', reason)
        else:
            item.after = item.before
            self._check_mode_bits(item)

    @staticmethod
    def _san_text(dns, ips):
        return ','.join(['DNS:%s' % name for name in sorted(dns)] + ['IP:%s' % ip for ip in sorted(ips)]) or '-'

    def decide(self):
        """Read the store and return the planned items (the store is not changed)."""
        del self.items[:]
        for index, path in enumerate(self.dirs):
            self._decide_dir(path, 'keystore.dirs[%d]' % index)
        for entry in self.signing:
            private_item = self._decide_private_key(entry['private'], entry['origin'] + '.private',
                                                    self.signing_key_size)
            self._decide_public_key(entry['public'], entry['origin'] + '.public', private_item)
        if self.ca:
            ca_key_item, _ca_cert_item = self._decide_ca()
            for entry in self.certificates:
                self._decide_certificate(entry, ca_key_item)
        return self.items

    # --- acting --------------------------------------------------------------------------------

    def apply(self):
        """Create what ``decide()`` found missing or invalid, in plan order (keys before certificates)."""
        certificates = dict((entry['cert'], entry) for entry in self.certificates)
        for item in self.items:
            try:
                if item.action != 'keep':
                    self._act(item, certificates)
                elif item.fix_mode:
                    os.chmod(item.path, item.mode)
                else:
                    continue
                self.applied.append(item.path)
            except KeystoreError:
                raise
            except (IOError, OSError) as exc:
                raise KeystoreError(item.origin, 'cannot write %s: %s' % (item.path, exc))

    def _act(self, item, certificates):
        if item.kind == 'dir':
            os.makedirs(item.path, item.mode)  # missing parents of the root too (~/.ansible/...)
            os.chmod(item.path, item.mode)  # whatever the umask
        elif item.kind == 'private_key':
            key = rsa.generate_private_key(public_exponent=65537, key_size=item.size)
            # PKCS#1 PEM (BEGIN RSA PRIVATE KEY), what community.crypto.openssl_privatekey wrote for RSA.
            _write_atomic(item.path, key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                                       serialization.NoEncryption()), item.mode)
            self._keys[item.path] = key
        elif item.kind == 'public_key':
            private = [entry['private'] for entry in self.signing if entry['public'] == item.path][0]
            _write_atomic(item.path, self._keys[private].public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), item.mode)
        elif item.kind == 'ca_cert':
            self._issue_ca(item)
        else:
            self._issue_leaf(item, certificates[item.path])

    def _validity(self, builder, days):
        start = self.now - BACKDATE
        return builder.not_valid_before(start).not_valid_after(self.now + datetime.timedelta(days=days))

    def _issue_ca(self, item):
        key = self._keys[self.ca['key']]
        public = key.public_key()
        builder = (x509.CertificateBuilder()
                   .subject_name(self.ca_subject)
                   .issuer_name(self.ca_subject)
                   .public_key(public)
                   .serial_number(x509.random_serial_number())
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=True, crl_sign=True,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False))
        cert = self._validity(builder, self.ca_not_after).sign(key, _hash_for(key))
        _write_atomic(item.path, cert.public_bytes(serialization.Encoding.PEM), item.mode)

    def _issue_leaf(self, item, entry):
        ca_key = self._keys[self.ca['key']]
        public = self._keys[entry['key']].public_key()
        names = [x509.DNSName(name) for name in entry['dns']] + [x509.IPAddress(ip) for ip in entry['ip']]
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, entry['common_name'])]))
                   .issuer_name(self.ca_subject)
                   .public_key(public)
                   .serial_number(x509.random_serial_number())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = self._validity(builder, self.cert_not_after).sign(ca_key, _hash_for(ca_key))
        _write_atomic(item.path, cert.public_bytes(serialization.Encoding.PEM), item.mode)

    # --- reporting -----------------------------------------------------------------------------

    def report(self, diff=False):
        """The result fields: paths only, never key material."""
        root = self.plan['root']
        result = dict(
            changed=any(item.changes for item in self.items),
            root=root,
            created=[item.path for item in self.items if item.action == 'create'],
            renewed=[item.path for item in self.items if item.action == 'renew'],
            kept=[item.path for item in self.items if item.action == 'keep'],
            modes=[item.path for item in self.items if item.action == 'keep' and item.fix_mode],
            reasons=dict((item.path, item.reason) for item in self.items if item.changes),
        )
        if diff:
            def line(item, state):
                return '%s: %s\n' % (_relative(item.path, root), state)
            before = ''.join(line(item, item.before + (' %04o' % item.old_mode if item.fix_mode else ''))
                             for item in self.items if item.before != 'absent')
            after = ''.join(line(item, item.after + (' %04o' % item.mode if item.fix_mode else ''))
                            for item in self.items)
            result['diff'] = dict(before_header=root, after_header=root, before=before, after=after)
        return result


def _relative(path, root):
    relative = os.path.relpath(path, root)
    return path if relative.startswith('..') else relative


def _write_atomic(path, data, mode):
    """Write ``data`` to ``path`` through a temporary file in the same directory, with ``mode``."""
    directory, name = os.path.split(path)
    handle, temp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, 'wb') as stream:
            handle = None
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
        temp = None
    finally:
        if handle is not None:
            os.close(handle)
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
