# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Support code of the real-binary tests: importability of the collection, the two
uWSGI binaries and their build facts, validation, test material (TLS and RSA keys),
and bounded process handling for the live tests.

Everything that starts a process keeps its ``Popen`` and stops it by its own pid
(SIGINT, then SIGKILL of its own process group); every wait is bounded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

NAMESPACE = 'uwsgi'
NAME = 'topology'

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))

# Every wait of this suite is bounded by this many seconds.
MAX_WAIT = 20.0


# ------------------------------------------------------------ importability

def collections_root(repo_root=REPO_ROOT):
    """``<repo>/.build/collections``, with ``ansible_collections/uwsgi/topology -> <repo>`` in it.

    When the repository already sits at ``.../ansible_collections/uwsgi/topology``
    that tree's base is returned unchanged.
    """
    real_root = os.path.realpath(repo_root)
    parent, name = os.path.split(real_root)
    grandparent, namespace = os.path.split(parent)
    base, marker = os.path.split(grandparent)
    if (marker, namespace, name) == ('ansible_collections', NAMESPACE, NAME):
        return base
    base = os.path.join(repo_root, '.build', 'collections')
    namespace_dir = os.path.join(base, 'ansible_collections', NAMESPACE)
    link = os.path.join(namespace_dir, NAME)
    if not os.path.isdir(namespace_dir):
        os.makedirs(namespace_dir)
    if os.path.islink(link) and os.path.realpath(link) != real_root:
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(real_root, link)
        except OSError:
            if os.path.realpath(link) != real_root:
                raise
    if os.path.realpath(link) != real_root:
        raise RuntimeError('%s exists and is not a link to %s; remove it' % (link, real_root))
    return base


def make_importable():
    base = collections_root()
    if base in sys.path:
        sys.path.remove(base)
    sys.path.insert(0, base)


make_importable()


# ------------------------------------------------------------ the binaries

# name -> environment variable holding its path (the Makefile exports them from
# .build/uwsgi-builds.env, which `make binaries` writes).
BINARY_ENV = (('pypi', 'UWSGI_PYPI'), ('debian', 'UWSGI_DEBIAN'))
BINARY_NAMES = tuple(name for name, _env in BINARY_ENV)

# Routers of the PyPI build (no forkpty, no tuntap); Debian's uwsgi-core has all
# of them as loadable plugins.
PYPI_ROUTERS = ('http', 'https', 'ssl', 'fast', 'raw')
ALL_ROUTERS = ('http', 'https', 'ssl', 'fast', 'raw', 'forkpty', 'tuntap')


class Binary(object):
    """One uWSGI binary: its path, the build facts to compile for, its version."""

    def __init__(self, name, path, build, version):
        self.name = name
        self.path = path
        self.build = build
        self.version = version

    @property
    def routers(self):
        return self.build.get('routers') or ALL_ROUTERS

    def __repr__(self):
        return 'Binary(%s, %s, %s)' % (self.name, self.path, self.version)


class BinaryMissing(Exception):
    pass


def binary_path(name):
    """The path of binary ``name`` from its environment variable; raise if unusable."""
    env = dict(BINARY_ENV)[name]
    path = os.environ.get(env)
    if not path:
        raise BinaryMissing('%s is not set: the real-binary tests need both uWSGI binaries. Run them through '
                            '"make" (it exports UWSGI_PYPI/UWSGI_DEBIAN from .build/uwsgi-builds.env, written by '
                            '"make binaries"), or export %s=/path/to/uwsgi yourself.' % (env, env))
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise BinaryMissing('%s=%r is not an executable file' % (env, path))
    return path


def clean_env():
    """This environment without ``UWSGI_*`` variables.

    uWSGI reads every ``UWSGI_<NAME>`` environment variable as the option ``--<name>``:
    ``UWSGI_PYPI``/``UWSGI_DEBIAN`` (which tell these tests where the binaries are)
    would reach uWSGI as the options ``pypi`` and ``debian``, and strict mode refuses
    them ("unknown config directive: debian").
    """
    return dict((k, v) for k, v in os.environ.items() if not k.startswith('UWSGI_'))


def run(argv, timeout=MAX_WAIT, cwd=None):
    """Run ``argv`` (bounded, without UWSGI_* variables) and return ``(exit code, stdout + stderr)``."""
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=cwd,
                          env=clean_env(), universal_newlines=True, errors='replace', check=False)
    return proc.returncode, proc.stdout


def validate(path, ini_file, strict=True):
    """``<uwsgi> [--strict] --ini FILE --version``: uWSGI parses the whole file and exits."""
    argv = [path]
    if strict:
        argv.append('--strict')
    argv += ['--ini', ini_file, '--version']
    return run(argv)


def load_binary(name, workdir):
    """Resolve binary ``name``, read its version and detect its build facts."""
    path = binary_path(name)
    code, output = run([path, '--version'])
    if code != 0:
        raise BinaryMissing('%s --version failed (exit %d): %s' % (path, code, output))
    version = output.strip().splitlines()[-1]
    if not version.startswith('2.0.'):
        raise BinaryMissing('%s is uWSGI %s, the real-binary tests expect a 2.0 release' % (path, version))
    if name == 'pypi':
        build = {'plugin_build': False, 'ssl': True, 'routers': list(PYPI_ROUTERS)}
    else:
        build = {'plugin_build': True, 'ssl': True}
    # http-auto-gzip exists only in ZLIB builds: ask the binary itself.
    probe = os.path.join(workdir, 'zlib-probe-%s.ini' % name)
    with open(probe, 'w') as handle:
        handle.write('[uwsgi]\n%shttp-auto-gzip = true\n' % ('plugin = http\n' if build['plugin_build'] else ''))
    code, output = validate(path, probe)
    if code == 0:
        build['zlib'] = True
    elif 'unknown config directive: http-auto-gzip' in output:
        build['zlib'] = False
    else:
        raise BinaryMissing('cannot tell whether %s has zlib (exit %d): %s' % (path, code, output))
    return Binary(name, path, build, version)


# ------------------------------------------------------------ material

def write(path, data, mode=0o644):
    with open(path, 'wb' if isinstance(data, bytes) else 'w') as handle:
        handle.write(data)
    os.chmod(path, mode)
    return path


class Material(object):
    """Files the specs refer to: TLS certificate/key/CA, subscription signing keys
    (private keys for nodes, ``<dir>/<key>.pem`` public keys for routers), and
    directories and scripts."""

    SIGNED_KEYS = ('app.test', 'signed.example.com', 'other.example.com')

    def __init__(self, base):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.base = base

        def mkdir(*parts):
            path = os.path.join(base, *parts)
            os.makedirs(path)
            return path

        def private_pem(key):
            return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())

        def public_pem(key):
            return key.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)

        # TLS: a self-signed CA-capable certificate for localhost / 127.0.0.1.
        tls = mkdir('tls')
        tls_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u'localhost')])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(name).issuer_name(name)
                .public_key(tls_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName(u'localhost'), x509.IPAddress(ipaddress.ip_address(u'127.0.0.1'))]),
                    critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(tls_key, hashes.SHA256()))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.tls_cert = write(os.path.join(tls, 'server.crt'), cert_pem)
        self.tls_key = write(os.path.join(tls, 'server.key'), private_pem(tls_key), 0o600)
        self.tls_ca = write(os.path.join(tls, 'ca.crt'), cert_pem)

        # Subscription signing: the node's key pair and a wrong private key.
        keys = mkdir('keys')
        node_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.node_private = write(os.path.join(keys, 'node.pem'), private_pem(node_key), 0o600)
        self.wrong_private = write(os.path.join(keys, 'wrong.pem'), private_pem(wrong_key), 0o600)
        self.node_public_pem = public_pem(node_key)
        # The router's sign-check directory: <dir>/<key>.pem holds the PUBLIC KEY.
        self.pub_dir = mkdir('pub')
        for key in self.SIGNED_KEYS:
            write(os.path.join(self.pub_dir, key + '.pem'), self.node_public_pem)

        self.cred_dir = mkdir('credentials')
        self.sockets_dir = mkdir('sockets')
        self.postbuf_dir = mkdir('postbuffering')
        self.run_dir = mkdir('run')
        # check_file: the subscription is skipped while this file exists; it does not.
        self.check_file = os.path.join(self.run_dir, 'maintenance.flag')
        self.code_script = write(os.path.join(base, 'router_code.py'),
                                 'def route(key):\n    return b"127.0.0.1:13031"\n')

    def path(self, *parts):
        return os.path.join(self.base, *parts)


# ------------------------------------------------------------ processes

def free_port(kind=socket.SOCK_STREAM):
    """A port that is free on 127.0.0.1 right now (TCP or UDP)."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


class Process(object):
    """A foreground uWSGI started by this suite, logging to a file."""

    def __init__(self, name, argv, log_path, cwd=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, 'wb')
        # Its own session: the final SIGKILL reaches its workers, and only them.
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=cwd, env=clean_env(), start_new_session=True)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def log(self):
        try:
            with open(self.log_path, 'r', errors='replace') as handle:
                return handle.read()
        except OSError as exc:
            return '<no log: %s>' % exc

    def stop(self):
        """SIGINT (SIGTERM would make uWSGI 2.0 reload), then SIGKILL of its group; bounded."""
        try:
            if self.popen.poll() is None:
                try:
                    self.popen.send_signal(signal.SIGINT)
                    self.popen.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except OSError:
                pass  # the group is gone already
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(timeout=10)
        finally:
            self._log.close()


def wait_for(predicate, timeout=MAX_WAIT, interval=0.2):
    """Poll ``predicate`` until it returns something true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + min(timeout, MAX_WAIT)
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def wait_for_port(port, timeout=MAX_WAIT):
    def connectable():
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return True
        except OSError:
            return False
    return wait_for(connectable, timeout)


_STRAY_COMMA = re.compile(r',(\s*[\]}])')


def repair_json(text):
    """uWSGI 2.0's router stats can hold ``,`` before ``]`` or ``}`` (corerouter.c 20:1026-1029)."""
    return _STRAY_COMMA.sub(r'\1', text)


def read_stats(port, timeout=5.0):
    """Connect to a stats server on 127.0.0.1, read until EOF, parse tolerantly."""
    chunks = []
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    text = b''.join(chunks).decode('utf-8', 'replace')
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(repair_json(text))


def pool_nodes(stats, key):
    """Node names (addresses) the router has for ``key``."""
    for slot in stats.get('subscriptions') or []:
        if slot.get('key') == key:
            return [node.get('name') for node in slot.get('nodes') or []]
    return []


def http_get(port, host, path='/', timeout=5.0):
    """A plain HTTP/1.0 GET to 127.0.0.1:port with ``Host: host``; returns (status line, body)."""
    request = ('GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' % (path, host)).encode('ascii')
    chunks = []
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(request)
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b''.join(chunks)
    head, _sep, body = raw.partition(b'\r\n\r\n')
    status = head.split(b'\r\n', 1)[0].decode('latin-1')
    return status, body
