#!/usr/bin/env bash
# ansible-test sanity for the collection, offline, on Python 3.11.
#
# * Runs from the copy at .build/sanity/ansible_collections/uwsgi/topology
#   (scripts/sync_collection.py: git-tracked plus untracked-not-ignored files,
#   without .venv/.build/tests/output, with an empty `git init` of its own):
#   ansible-test insists on a real path ending in ansible_collections/<ns>/<name>
#   (a symlink to the repo is resolved and rejected) and lists files with git
#   from the nearest .git upwards (the repo's own .git ignores .build/: "All
#   targets skipped").  .build/collections/... is the unit tests' symlink.
# * Uses its own virtualenv .build/venv-sanity holding only ansible-core, pinned
#   to the version in .venv.  `--requirements` installs ansible-test's pinned
#   sanity requirements (yamllint 1.37.1, pathspec 0.12.1, packaging 25.0, ...)
#   into the interpreter that runs ansible-test; in .venv that would downgrade
#   packages ansible-lint needs (it requires yamllint>=1.38, pathspec>=1.0.3).
# * Writes the get-pip stand-in (scripts/get_pip_standin.py) that the `import`
#   test needs to bootstrap pip without reaching the internet.
# * tests/sanity/ignore-*.txt must stay empty: this script fails otherwise.
# * Nothing is skipped silently: a sanity test that ansible-test skips for a
#   missing program ("Required program ... not found", e.g. shellcheck, which
#   scripts/apt-deps.sh installs) or "All targets skipped" fails this script.
# Extra arguments go to ansible-test (e.g. `make sanity SANITY_ARGS="--test pep8"`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PYTHON=${PYTHON:-python3.11}
SVENV=$ROOT/.build/venv-sanity
COLL=$ROOT/.build/sanity/ansible_collections/uwsgi/topology

# 1. No ignore entries.
bad=0
for f in tests/sanity/ignore-*.txt; do
    [ -e "$f" ] || continue
    if grep -qvE '^\s*(#.*)?$' "$f"; then
        echo "sanity: $f has entries; sanity ignore files must stay empty:" >&2
        grep -vE '^\s*(#.*)?$' "$f" >&2
        bad=1
    fi
done
[ "$bad" -eq 0 ] || exit 1

# 2. The sanity virtualenv, with the same ansible-core as .venv.
core=$("$ROOT/.venv/bin/python" -c 'from ansible.release import __version__; print(__version__)')
stamp=$SVENV/.ansible-core-version
if [ -d "$SVENV" ] && ! "$SVENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$SVENV"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$core" ]; then
    echo "sanity: installing ansible-core==$core into $SVENV"
    [ -x "$SVENV/bin/python" ] || "$PYTHON" -m venv "$SVENV"
    "$SVENV/bin/python" -m pip install --upgrade pip
    "$SVENV/bin/python" -m pip install "ansible-core==$core"
    echo "$core" >"$stamp"
else
    echo "sanity: $SVENV has ansible-core $core"
fi

# 3. Offline pip bootstrap for the import test.
echo "sanity: get-pip stand-in at $("$SVENV/bin/python" "$ROOT/scripts/get_pip_standin.py")"

# 4. The collection copy, then ansible-test from inside it.
"$SVENV/bin/python" "$ROOT/scripts/sync_collection.py" "$ROOT" "$COLL"
cd "$COLL"
export PATH="$SVENV/bin:$PATH"
log=$ROOT/.build/sanity.log
echo "+ ansible-test sanity --python 3.11 --requirements --color no $*  (log: $log)"
rc=0
"$SVENV/bin/ansible-test" sanity --python 3.11 --requirements --color no "$@" 2>&1 | tee "$log" || rc=$?
if grep -E '^WARNING: (Required program .* not found|All targets skipped|Skipping )' "$log"; then
    echo "sanity: FAIL: ansible-test skipped tests (see the WARNING lines above)" >&2
    exit 1
fi
exit "$rc"
