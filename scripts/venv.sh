#!/usr/bin/env bash
# Create .venv (python3.11 -m venv) and install tests/requirements.txt into it.
# Cache-aware: pip runs only when the sha256 of tests/requirements.txt (plus the
# interpreter version) differs from the stamp stored in .venv/.requirements.sha256.
# pip uses its own default configuration: no index URL is written anywhere here.
#
#   scripts/venv.sh                          .venv from tests/requirements.txt (make venv)
#   scripts/venv.sh DIR REQ [MODULE...]      another virtualenv DIR from the requirements
#                                            file REQ (e.g. .build/venv-tools), the same way;
#                                            the MODULEs must import afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=${1:-.venv}
REQ=${2:-tests/requirements.txt}
if [ "$#" -gt 2 ]; then shift 2; else set --; fi
STAMP=$VENV/.requirements.sha256

[ -f "$REQ" ] || { echo "venv: $REQ is missing" >&2; exit 1; }

# A venv whose interpreter no longer runs (moved tree, removed python) is rebuilt.
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "venv: $VENV is broken, recreating"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    # Debian's own python3.11 ships ensurepip (needed by venv) in python3.11-venv.
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        scripts/apt-deps.sh python3.11-venv
    fi
    echo "venv: creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
    rm -f "$STAMP"
fi

want=$( { sha256sum "$REQ" | cut -d' ' -f1; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" = "$have" ]; then
    echo "venv: $VENV is up to date with $REQ"
    exit 0
fi

echo "venv: installing $REQ into $VENV"
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install -r "$REQ"
# Fail here, not later, if the packages cannot be imported or run.
if [ "$VENV" = .venv ]; then
    "$VENV/bin/python" -c 'import ansible, ansible_collections.community.crypto, ansible_collections.ansible.posix, ansible_collections.community.docker, pytest, testinfra, docker, uwsgiconf, molecule'
    # (sed, not head: head would close the pipe early and the tool dies of EPIPE)
    "$VENV/bin/ansible" --version | sed -n 1p
    PATH=$PWD/$VENV/bin:$PATH "$VENV/bin/ansible-lint" --version | sed -n 1p
fi
for module in "$@"; do
    "$VENV/bin/python" -c "import $module"
done
echo "$want" > "$STAMP"
