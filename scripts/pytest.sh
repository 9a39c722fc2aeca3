#!/usr/bin/env bash
# Run pytest from .venv on one test directory, against the live tree.
#
#   scripts/pytest.sh [--uwsgi-env] DIR [pytest args...]
#
# * `ansible_collections.uwsgi.topology` is made importable by the symlink
#   .build/collections/ansible_collections/uwsgi/topology -> <repo root>
#   (absolute, made by scripts/collection-link.sh, the same link that
#   tests/unit/conftest.py makes) and
#   PYTHONPATH / ANSIBLE_COLLECTIONS_PATH = <repo>/.build/collections.
#   ansible_collections stays a namespace package, so community.crypto & co.
#   still import from the `ansible` package in .venv.
# * --uwsgi-env exports the variables of .build/uwsgi-builds.env
#   (UWSGI_PYPI, UWSGI_DEBIAN, ...), written by `make binaries`; missing = failure.
# * A missing DIR, or pytest's exit status 5 (no tests collected), is a FAILURE.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

uwsgi_env=0
if [ "${1:-}" = --uwsgi-env ]; then uwsgi_env=1; shift; fi
dir=${1:?usage: scripts/pytest.sh [--uwsgi-env] DIR [pytest args...]}
shift

if [ ! -d "$dir" ]; then
    echo "pytest: FAIL: $dir does not exist: no tests to run" >&2
    exit 1
fi

if [ "$uwsgi_env" = 1 ]; then
    env_file=$ROOT/.build/uwsgi-builds.env
    if [ ! -f "$env_file" ]; then
        echo "pytest: FAIL: $env_file is missing; run 'make binaries' first" >&2
        exit 1
    fi
    set -a
    # shellcheck source=/dev/null
    . "$env_file"
    set +a
    echo "pytest: UWSGI_PYPI=$UWSGI_PYPI UWSGI_DEBIAN=$UWSGI_DEBIAN"
fi

base=$("$ROOT/scripts/collection-link.sh")
export PYTHONPATH=$base${PYTHONPATH:+:$PYTHONPATH}
export ANSIBLE_COLLECTIONS_PATH=$base${ANSIBLE_COLLECTIONS_PATH:+:$ANSIBLE_COLLECTIONS_PATH}
export PATH=$ROOT/.venv/bin:$PATH

rc=0
"$ROOT/.venv/bin/python" -m pytest "$dir" -ra "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "pytest: FAIL: no tests were collected in $dir (pytest exit status 5)" >&2
    exit 1
fi
exit "$rc"
