# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/placement.py, on real temporary directories."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import stat

import pytest

from ansible_collections.uwsgi.topology.plugins.module_utils import placement
from ansible_collections.uwsgi.topology.plugins.module_utils.errors import TopologyError
from ansible_collections.uwsgi.topology.plugins.module_utils.placement import Ids, Placer

SECRET = b'-----BEGIN PRIVATE KEY-----\nTOP-SECRET-KEY-MATERIAL\n-----END PRIVATE KEY-----\n'
CERT = b'-----BEGIN CERTIFICATE-----\nPUBLIC-CERT\n-----END CERTIFICATE-----\n'
NO_IDS = Ids(None, None)


def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


def _write(path, data, mode=0o644):
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


def _b64(data):
    return base64.b64encode(data).decode('ascii')


def _host(tmp_path):
    """A host layout: certs/ with a key and its certificate, pubkeys/edge/ with a public key."""
    root = str(tmp_path / 'host')
    certs, pubkeys, edge = root + '/certs', root + '/pubkeys', root + '/pubkeys/edge'
    directories = [{'path': certs, 'mode': '0755', 'private': False},
                   {'path': pubkeys, 'mode': '0755', 'private': False},
                   {'path': edge, 'mode': '0755', 'private': False}]
    files = [{'src': '/store/app.key', 'dest': certs + '/app.key', 'mode': '0600', 'secret': True, 'private': True,
              'kind': 'sni_key', 'key': 'app.test'},
             {'src': '/store/app.crt', 'dest': certs + '/app.crt', 'mode': '0644', 'secret': False,
              'private': False, 'kind': 'sni_cert', 'key': 'app.test'},
             {'src': '/store/app.pem', 'dest': edge + '/app.pem', 'mode': '0644', 'secret': False,
              'private': False, 'kind': 'public_key', 'key': 'app.test'}]
    contents = [_b64(SECRET), _b64(CERT), _b64(b'PUBLIC KEY\n')]
    return root, directories, files, [certs, pubkeys, edge], contents


# --- modes and the request ---------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [('0600', 0o600), ('644', 0o644), (' 0755 ', 0o755), (0o640, 0o640),
                                             ('2750', 0o2750)])
def test_parse_mode_accepts_octal_strings_and_numbers(value, expected):
    assert placement.parse_mode(value, 'files[0]') == expected


@pytest.mark.parametrize('value', ['rw-r--r--', 'u=rw', '0899', '', True, 0o17777, None, ['0644']])
def test_parse_mode_refuses_anything_else_naming_the_entry(value):
    with pytest.raises(TopologyError) as caught:
        placement.parse_mode(value, 'files[3] (/srv/x.pem)')
    assert str(caught.value).startswith('files[3] (/srv/x.pem): mode %r is not a numeric file mode' % (value,))


def test_normalize_files_defaults_and_refusals():
    entries = placement.normalize_files([
        {'src': 's', 'dest': '/a/b/../k.pem', 'secret': True},
        {'src': 's', 'dest': '/a/c.pem'},
        {'src': 's', 'dest': '/a/p.pem', 'private': True},
    ])
    assert [(e.dest, e.mode, e.kind) for e in entries] == [
        ('/a/k.pem', 0o600, 'file'), ('/a/c.pem', 0o644, 'file'), ('/a/p.pem', 0o600, 'file')]
    with pytest.raises(TopologyError) as caught:
        placement.normalize_files([{'src': 's', 'dest': '/a/x'}, {'src': 's', 'dest': 'relative/x'}])
    assert str(caught.value) == "files[1]: dest 'relative/x' is not an absolute path"
    with pytest.raises(TopologyError) as caught:
        placement.normalize_files([{'src': 's', 'dest': '/a/x'}, {'src': 't', 'dest': '/a//x'}])
    assert str(caught.value) == 'files[1] (/a/x): dest is planned twice, also as files[0]'
    with pytest.raises(TopologyError) as caught:
        placement.normalize_files([{'src': 's', 'dest': '/a/k', 'secret': True, 'mode': '0644'}])
    assert str(caught.value) == 'files[0] (/a/k): a secret file must not be readable by others, but mode is 0644'


def test_normalize_directories_defaults_by_privacy():
    dirs = placement.normalize_directories([{'path': '/k', 'private': True}, {'path': '/p/'}])
    assert [(d.path, d.mode, d.private) for d in dirs] == [('/k', 0o700, True), ('/p', 0o755, False)]
    with pytest.raises(TopologyError) as caught:
        placement.normalize_directories([{'path': 'k'}])
    assert str(caught.value) == "directories[0]: path 'k' is not an absolute path"


def test_protected_paths_are_planned_paths_and_their_ancestors():
    dirs = placement.normalize_directories([{'path': '/p/pubkeys/edge'}])
    files = placement.normalize_files([{'src': 's', 'dest': '/p/certs/a.crt'}])
    assert placement.protected_paths(dirs, files, ['/p/own/x.pem']) == {
        '/p', '/p/pubkeys', '/p/pubkeys/edge', '/p/certs', '/p/certs/a.crt', '/p/own', '/p/own/x.pem'}


# --- reading on the controller -----------------------------------------------------------------

def test_gather_contents_reads_in_order_as_base64():
    store = {'/s/a': b'first', '/s/b': b'\x00binary'}
    contents = placement.gather_contents([{'src': '/s/a', 'dest': '/d/a'}, {'src': '/s/b', 'dest': '/d/b'}],
                                         False, store.get)
    assert [base64.b64decode(c) for c in contents] == [b'first', b'\x00binary']


def test_gather_contents_missing_src_fails_naming_src_and_dest():
    with pytest.raises(TopologyError) as caught:
        placement.gather_contents([{'src': '/s/a', 'dest': '/d/a'}, {'src': '/s/gone.key', 'dest': '/d/gone.key'}],
                                  False, {'/s/a': b'x'}.get)
    message = str(caught.value)
    assert message.startswith('files[1].src: /s/gone.key does not exist on the controller; it is to be placed at '
                              '/d/gone.key on this host.')


def test_gather_contents_missing_src_in_check_mode_is_none():
    files = [{'src': '/s/gone.key', 'dest': '/d/gone.key'}, {'src': '/s/a', 'dest': '/d/a'}]
    contents = placement.gather_contents(files, True, {'/s/a': b'x'}.get)
    assert contents == [None, _b64(b'x')]


@pytest.mark.parametrize('files, expected', [
    ('not a list', 'files: must be a list of mappings, got a str'),
    ([{'dest': '/d/a'}], 'files[0]: needs src, the path of the file on the controller (dest: /d/a)'),
    (['/s/a'], 'files[0]: must be a mapping with src and dest, got a str'),
])
def test_gather_contents_refuses_malformed_files(files, expected):
    with pytest.raises(TopologyError) as caught:
        placement.gather_contents(files, False, lambda src: b'')
    assert str(caught.value) == expected


def test_decode_content_refuses_bad_base64_without_echoing_it():
    with pytest.raises(TopologyError) as caught:
        placement.decode_content('SECRET!!not-base64', 'files[0] (/d/k)')
    assert 'SECRET' not in str(caught.value)


# --- writing -----------------------------------------------------------------------------------

def test_write_atomically_sets_the_mode_before_the_rename(tmp_path):
    dest = str(tmp_path / 'k.pem')
    _write(dest, b'old', 0o644)
    seen = []

    def replace(tmp, target):
        seen.append((os.path.dirname(tmp), _mode(tmp), _read(tmp), target))
        os.replace(tmp, target)

    placement.write_atomically(dest, SECRET, 0o600, NO_IDS, replace=replace)
    assert seen == [(str(tmp_path), 0o600, SECRET, dest)]
    assert _mode(dest) == 0o600 and _read(dest) == SECRET
    assert os.listdir(str(tmp_path)) == ['k.pem']


def test_write_atomically_removes_its_temporary_file_when_the_rename_fails(tmp_path):
    dest = str(tmp_path / 'k.pem')

    def replace(tmp, target):
        raise OSError(13, 'Permission denied')

    with pytest.raises(TopologyError) as caught:
        placement.write_atomically(dest, SECRET, 0o600, NO_IDS, replace=replace)
    assert str(caught.value).startswith(dest + ': cannot move ')
    assert os.listdir(str(tmp_path)) == []


# --- pruning -----------------------------------------------------------------------------------

def test_prune_candidates(tmp_path):
    root = str(tmp_path)
    os.makedirs(root + '/certs')
    os.makedirs(root + '/pubkeys/edge')
    os.makedirs(root + '/pubkeys/old-router/deeper')
    os.makedirs(root + '/outside')
    for path in ('/certs/a.crt', '/certs/old.crt', '/certs/.a.crt.x1.tmp', '/certs/own.crt',
                 '/pubkeys/edge/app.pem', '/pubkeys/edge/gone.pem', '/pubkeys/old-router/deeper/x.pem',
                 '/outside/keep-me'):
        _write(root + path, b'x')
    os.symlink(root + '/outside', root + '/certs/link-to-outside')
    dirs = placement.normalize_directories([{'path': root + '/certs'}, {'path': root + '/pubkeys'},
                                            {'path': root + '/pubkeys/edge'}])
    files = placement.normalize_files([{'src': 's', 'dest': root + '/certs/a.crt'},
                                       {'src': 's', 'dest': root + '/pubkeys/edge/app.pem'}])
    keep = [root + '/certs/own.crt']
    protected = placement.protected_paths(dirs, files, keep)
    keep_files = set([f.dest for f in files] + keep)
    prune = [root + '/certs', root + '/pubkeys', root + '/pubkeys/edge', root + '/missing']
    found = placement.prune_candidates(prune, protected, keep_files)
    assert found == [root + '/certs/.a.crt.x1.tmp', root + '/certs/link-to-outside', root + '/certs/old.crt',
                     root + '/pubkeys/edge/gone.pem', root + '/pubkeys/old-router']
    # Nothing was touched by looking.
    assert os.path.exists(root + '/outside/keep-me')


def test_placer_present_orders_writes_and_prunes(tmp_path):
    root, directories, files, prune, contents = _host(tmp_path)
    os.makedirs(root + '/pubkeys/stale-router')
    written = []

    def replace(tmp, dest):
        written.append((dest, _mode(tmp)))
        os.replace(tmp, dest)

    placer = Placer(directories, files, prune, contents=contents, replace=replace)
    result = placer.present()
    assert written == [(root + '/certs/app.key', 0o600), (root + '/certs/app.crt', 0o644),
                       (root + '/pubkeys/edge/app.pem', 0o644)]
    assert result['placed'] == [dest for dest, _mode_ in written]
    assert result['created_directories'] == [root + '/certs', root + '/pubkeys/edge']
    assert result['pruned'] == [root + '/pubkeys/stale-router']
    assert result['changed_files_by_kind'] == {'sni_key': [root + '/certs/app.key'],
                                               'sni_cert': [root + '/certs/app.crt'],
                                               'public_key': [root + '/pubkeys/edge/app.pem']}
    assert _read(root + '/certs/app.key') == SECRET
    again = Placer(directories, files, prune, contents=contents, replace=replace).present()
    assert again['changed'] is False and len(written) == 3


def test_placer_secret_never_in_result_or_diff(tmp_path):
    root, directories, files, prune, contents = _host(tmp_path)
    os.makedirs(root + '/certs')
    _write(root + '/certs/app.key', b'OLD-SECRET-MATERIAL', 0o644)
    placer = Placer(directories, files, prune, contents=contents)
    placer.present()
    dumped = json.dumps([placer.result, placer.diff])
    for needle in (b'TOP-SECRET-KEY-MATERIAL', b'OLD-SECRET-MATERIAL'):
        assert needle.decode() not in dumped
        assert _b64(needle).rstrip('=')[:12] not in dumped
    key_diffs = [d for d in placer.diff if d.get('before_header') == root + '/certs/app.key']
    assert key_diffs == [{'before_header': root + '/certs/app.key', 'after_header': root + '/certs/app.key',
                          'before': placement.SECRET_BEFORE, 'after': placement.SECRET_AFTER}]
    assert {'before': {'path': root + '/certs/app.key', 'mode': '0644'},
            'after': {'path': root + '/certs/app.key', 'mode': '0600'}} in placer.diff


def test_placer_check_mode_writes_nothing_and_predicts(tmp_path):
    root, directories, files, prune, contents = _host(tmp_path)
    os.makedirs(root + '/pubkeys/stale-router')
    contents[1] = None  # the certificate is not in the key store yet
    warnings = []
    placer = Placer(directories, files, prune, contents=contents, check_mode=True, warn=warnings.append)
    result = placer.present()
    assert result['changed'] is True
    assert result['placed'] == [f['dest'] for f in files]
    assert result['created_directories'] == [root + '/certs', root + '/pubkeys/edge']
    assert result['pruned'] == [root + '/pubkeys/stale-router']
    assert sorted(os.listdir(root)) == ['pubkeys'] and os.listdir(root + '/pubkeys') == ['stale-router']
    assert warnings == []  # the missing directories are planned
    unknown = [d for d in placer.diff if d.get('before_header') == root + '/certs/app.crt'][0]
    assert '/store/app.crt' in unknown['after']


def test_placer_absent_removes_files_and_empties_prune_directories(tmp_path):
    root, directories, files, prune, contents = _host(tmp_path)
    Placer(directories, files, prune, contents=contents).present()
    _write(root + '/pubkeys/edge/other.pem', b'x')
    _write(root + '/certs/own.crt', b'x')
    predicted = Placer(directories, files, prune, keep=[root + '/certs/own.crt'], check_mode=True).absent()
    result = Placer(directories, files, prune, keep=[root + '/certs/own.crt']).absent()
    assert predicted == result
    assert result['removed'] == [f['dest'] for f in files]
    # The planned subdirectory goes as a whole (listed once, not its content).
    assert result['pruned'] == [root + '/pubkeys/edge']
    assert sorted(os.listdir(root)) == ['certs', 'pubkeys']
    assert os.listdir(root + '/certs') == ['own.crt'] and os.listdir(root + '/pubkeys') == []
