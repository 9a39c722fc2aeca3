"""Mirror the collection into .build/sanity/ansible_collections/uwsgi/topology.

Why a copy: ``ansible-test`` must run from a directory whose real path ends in
``ansible_collections/<namespace>/<name>`` (it resolves symlinks, so a symlink to
the repository root is rejected), and it walks every file of a tree that has no
``.git``, so the copy must not contain ``.venv`` or ``.build``.  This copy serves ``ansible-test sanity`` only.
Unit and real-binary tests run against the live tree instead, through the
symlink ``.build/collections/ansible_collections/uwsgi/topology -> <repo>``
(made by tests/unit/conftest.py and by the Makefile); a real directory there
would break that conftest, so this copy lives under ``.build/sanity``.

Which files: what git lists as tracked or untracked-but-not-ignored
(``git ls-files -co --exclude-standard``), minus .venv, .build, tests/output.
Without git (e.g. an exported tarball) the tree is walked with the same exclusions.

The copy gets an empty git repository of its own (``git init``, no commit):
ansible-test looks for ``.git`` in the collection root and its parents and lists
files with ``git ls-files --cached --others --exclude-standard`` there; without
its own ``.git`` it would find the repository's, where ``.build/`` is ignored,
and report "All targets skipped".  With it, ansible-test sees exactly the
copied files (minus what the copied .gitignore ignores, e.g. tests/output/).

The copy is incremental: unchanged files are left alone, files that vanished
from the source are deleted (``tests/output/`` of the copy, ansible-test's
output, is kept), so running this before every stage costs well under a second.
"""

import filecmp
import os
import shutil
import subprocess
import sys

EXCLUDED_TOP = ('.git', '.venv', '.build', '.ansible', '.cache', '.pytest_cache')
EXCLUDED_PREFIX = ('tests/output/',)
KEEP_IN_DEST = ('tests/output/', '.git/')


def excluded(rel):
    top = rel.split('/', 1)[0]
    if top in EXCLUDED_TOP:
        return True
    if any(rel.startswith(p) for p in EXCLUDED_PREFIX):
        return True
    parts = rel.split('/')
    return '__pycache__' in parts or rel.endswith('.pyc')


def source_files(root):
    try:
        out = subprocess.run(
            ['git', '-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
            check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        names = [n for n in out.decode('utf-8', 'surrogateescape').split('\0') if n]
    except (OSError, subprocess.CalledProcessError):
        names = []
        for dirpath, dirnames, filenames in os.walk(root):
            reldir = os.path.relpath(dirpath, root)
            reldir = '' if reldir == '.' else reldir + '/'
            dirnames[:] = [d for d in dirnames if not excluded(reldir + d + '/x')]
            names.extend(reldir + f for f in filenames)
    result = set()
    for name in names:
        if excluded(name):
            continue
        path = os.path.join(root, name)
        # tracked but deleted in the work tree: not part of the collection now
        if os.path.lexists(path) and not os.path.isdir(path):
            result.add(name)
    return result


def same(src, dst):
    if os.path.islink(src) or os.path.islink(dst):
        return os.path.islink(src) and os.path.islink(dst) and os.readlink(src) == os.readlink(dst)
    if not os.path.isfile(dst):
        return False
    s, d = os.stat(src), os.stat(dst)
    if s.st_mode != d.st_mode:
        return False
    return filecmp.cmp(src, dst, shallow=False)


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else '.')
    dest = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else
                           os.path.join(root, '.build/sanity/ansible_collections/uwsgi/topology'))
    if os.path.islink(dest):
        os.unlink(dest)
    os.makedirs(dest, exist_ok=True)

    wanted = source_files(root)
    copied = removed = 0
    for rel in sorted(wanted):
        src, dst = os.path.join(root, rel), os.path.join(dest, rel)
        if same(src, dst):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst) or os.path.isdir(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            else:
                os.unlink(dst)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
        copied += 1

    for dirpath, dirnames, filenames in os.walk(dest, topdown=False):
        reldir = os.path.relpath(dirpath, dest)
        reldir = '' if reldir == '.' else reldir + '/'
        if any((reldir + 'x').startswith(k) for k in KEEP_IN_DEST):
            continue
        for f in filenames:
            if reldir + f not in wanted:
                os.unlink(os.path.join(dirpath, f))
                removed += 1
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if os.path.islink(p):
                if reldir + d not in wanted:
                    os.unlink(p)
                    removed += 1
            elif not os.listdir(p):
                os.rmdir(p)

    if not os.path.isdir(os.path.join(dest, '.git')):
        subprocess.run(['git', 'init', '-q', dest], check=True)

    print('sync-collection: %s -> %s (%d files, %d copied, %d removed)'
          % (root, dest, len(wanted), copied, removed))


if __name__ == '__main__':
    main()
