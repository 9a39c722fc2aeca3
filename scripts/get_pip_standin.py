"""Write the stand-in for pip's bootstrap script that ansible-test caches.

ansible-test's sanity ``import`` test creates a virtualenv without pip and then
bootstraps pip by running ``get-pip-<version>.py``, downloaded from a host this
machine cannot reach, unless ``~/.ansible/test/cache/get_pip_<version>.py``
already exists (``ansible_test/_util/target/setup/requirements.py``, function
``bootstrap``).  <version> is ansible-test's pip version
(``get_venv_packages()`` in ``ansible_test/_internal/python_requirements.py``,
``pip='24.2'`` in ansible-core 2.19), with dots turned into underscores.

The stand-in is run (via runpy, as __main__) with the venv's interpreter and
``sys.argv[1:]`` = pip options + packages (+ ``--no-setuptools``/``--no-wheel``).
It runs ``python -m ensurepip --upgrade`` in a *subprocess* (ensurepip run
in-process disables pip's configuration for everything after it, and pip then
no longer trusts the configured certificate), then
``python -m pip install ARGS`` minus ``--no-setuptools`` and ``--no-wheel``.

Run this with the interpreter whose ansible-test will run the sanity tests.
It prints the path it wrote.
"""

import importlib.util
import os
import re
import sys

STANDIN = '''\
#!/usr/bin/env python3
# Stand-in for get-pip.py, written by uwsgi.topology's scripts/get_pip_standin.py.
# ansible-test runs it to bootstrap pip in the virtualenvs of its sanity tests.
import subprocess
import sys

DROP = ('--no-setuptools', '--no-wheel')


def main():
    args = [a for a in sys.argv[1:] if a not in DROP]
    subprocess.run([sys.executable, '-m', 'ensurepip', '--upgrade'], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, '-m', 'pip', 'install'] + args, check=True)


if __name__ == '__main__':
    try:
        main()
    except subprocess.CalledProcessError as ex:
        sys.exit(ex.returncode or 1)
'''


def pip_version():
    spec = importlib.util.find_spec('ansible_test')
    if spec is None or not spec.submodule_search_locations:
        sys.exit('get_pip_standin: ansible_test is not importable with %s' % sys.executable)
    base = list(spec.submodule_search_locations)[0]
    path = os.path.join(base, '_internal', 'python_requirements.py')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    m = re.search(r"default_packages\s*=\s*dict\(\s*pip\s*=\s*'([0-9][0-9.]*)'", text)
    if not m:
        sys.exit('get_pip_standin: cannot find the pip version in %s '
                 '(ansible-test changed; update scripts/get_pip_standin.py)' % path)
    # The file name must match what bootstrap() looks for.
    req = os.path.join(base, '_util', 'target', 'setup', 'requirements.py')
    with open(req, encoding='utf-8') as f:
        if "get_pip_%s.py" not in f.read():
            sys.exit('get_pip_standin: %s no longer uses ~/.ansible/test/cache/get_pip_<version>.py' % req)
    return m.group(1)


def main():
    version = pip_version()
    cache = os.path.expanduser('~/.ansible/test/cache')
    path = os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_'))
    os.makedirs(cache, exist_ok=True)
    current = None
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            current = f.read()
    if current != STANDIN:
        tmp = path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(STANDIN)
        os.replace(tmp, path)
    print(path)


if __name__ == '__main__':
    main()
