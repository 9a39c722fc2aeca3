#!/usr/bin/env bash
# The unit tests and ansible-test sanity on an older ansible-core minor that
# meta/runtime.yml claims (requires_ansible) and that runs on this machine's Python 3.11:
#
#   scripts/core-compat.sh 2.17 [ansible-test args...]      (make core-2.17, make core-2.18)
#
# 1. scripts/sanity.sh with SANITY_CORE=<minor>: its own virtualenv
#    .build/venv-sanity-<minor> (ansible-core==<minor>.* plus tests/requirements-units.txt,
#    cached on the hash of that list), its own copy of the collection, the same rules as
#    `make sanity` (no ignore entries, nothing skipped).
#    Without arguments it runs the sanity tests whose verdict depends on the ansible-core
#    version (CORE_TESTS below: plugin documentation and its schema, argument specs, imports of
#    the plugins with that version's module_utils, runtime metadata, compile); the tests that
#    judge the code alone (pylint, pep8, shellcheck, yamllint of the repository, ...) give the
#    same verdict on every version and run once, on 2.19, in `make sanity`. Measured on 2 cores:
#    every test ~130 s per minor (pylint ~100 s of it), CORE_TESTS ~10 s.
#    `make core-2.17 CORE_SANITY=all` runs every sanity test; arguments (`make core-2.17
#    SANITY_ARGS="--test pylint"`) replace the list.
# 2. pytest tests/unit with that virtualenv's Python against the live tree (through the
#    .build/collections link, as scripts/pytest.sh does for .venv); no tests collected
#    (exit status 5) is a failure.
# ansible-core 2.19 is `make sanity` and `make unit` themselves (.venv's version).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

minor=${1:?usage: scripts/core-compat.sh MINOR [ansible-test args...]}
shift

CORE_TESTS=(action-plugin-docs ansible-doc compile ignores import runtime-metadata validate-modules yamllint)
if [ "$#" -eq 0 ] && [ "${CORE_SANITY:-}" != all ]; then
    for test in "${CORE_TESTS[@]}"; do set -- "$@" --test "$test"; done
fi
SANITY_CORE=$minor "$ROOT/scripts/sanity.sh" "$@"

venv=$ROOT/.build/venv-sanity-$minor
base=$("$ROOT/scripts/collection-link.sh")
export PYTHONPATH=$base${PYTHONPATH:+:$PYTHONPATH}
export ANSIBLE_COLLECTIONS_PATH=$base
export PATH=$venv/bin:$PATH
echo "core-compat: unit tests on $("$venv/bin/python" -c 'from ansible.release import __version__; print("ansible-core", __version__)')"
rc=0
"$venv/bin/python" -m pytest tests/unit -q -ra -p no:cacheprovider || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "core-compat: FAIL: no unit tests were collected (pytest exit status 5)" >&2
    exit 1
fi
exit "$rc"
