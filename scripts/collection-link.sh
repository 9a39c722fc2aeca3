#!/usr/bin/env bash
# Make .build/collections/ansible_collections/uwsgi/topology a symlink to the
# repository root (absolute, resolved now; the same link tests/unit/conftest.py
# and tests/bench/bench_compile.py make) and print .build/collections, the
# directory to put on PYTHONPATH / ANSIBLE_COLLECTIONS_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
base=$ROOT/.build/collections
link=$base/ansible_collections/uwsgi/topology
mkdir -p "$(dirname "$link")"
if [ -L "$link" ] && [ "$(readlink -f "$link")" != "$ROOT" ]; then
    rm -f "$link"     # stale: the clone moved
fi
if [ ! -e "$link" ] && [ ! -L "$link" ]; then
    ln -s "$ROOT" "$link"
fi
if [ "$(readlink -f "$link")" != "$ROOT" ]; then
    echo "collection-link: $link exists and is not a link to $ROOT; remove it" >&2
    exit 1
fi
echo "$base"
