#!/usr/bin/env bash
# `make docs`: the collection's documentation, checked and built offline.
#
# 1. The tools virtualenv .build/venv-tools (tests/requirements-tools.txt: antsibull-docs,
#    antsibull-changelog, ansible-builder, Sphinx, its Ansible theme, myst-parser; made by
#    scripts/venv.sh, pip runs only when that file changed).
# 2. roles/*/README.md are what scripts/role_readmes.py makes from the argument specs
#    (`make role-readmes` rewrites them): a stale one fails.
# 3. A copy of the collection at .build/docs/collections/ansible_collections/uwsgi/topology
#    (scripts/sync_collection.py; antsibull-docs wants a real .../ansible_collections/<ns>/<name>),
#    then `antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs`:
#    any line it prints fails (plugin and role docs, markup, references).
# 4. The site (sources in docs/site/): `antsibull-docs collection --use-current --fail-on-error`
#    writes every module, filter and role page, docs/site/pages.py adds the README's guide,
#    docs/spec-reference.md, docs/manifest.md and a local page for the labels only the Ansible
#    documentation defines, then `sphinx-build -W --keep-going` (no intersphinx: offline) into
#    .build/docs/html. Any warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
TOOLS=$ROOT/.build/venv-tools
OUT=$ROOT/.build/docs
COLLS=$OUT/collections
COLL=$COLLS/ansible_collections/uwsgi/topology

"$ROOT/scripts/venv.sh" "$TOOLS" tests/requirements-tools.txt antsibull_docs antsibull_docs_parser sphinx myst_parser sphinx_ansible_theme
export PATH=$TOOLS/bin:$PATH
# Only the copy below is on the collections path; no other configuration applies.
mkdir -p "$OUT"
: >"$OUT/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH=$COLLS ANSIBLE_CONFIG=$OUT/ansible.cfg

echo "docs: role READMEs"
"$TOOLS/bin/python" "$ROOT/scripts/role_readmes.py" --check

"$TOOLS/bin/python" "$ROOT/scripts/sync_collection.py" "$ROOT" "$COLL"

echo "+ antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs ."
lint=$OUT/lint.log
rc=0
(cd "$COLL" && antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs .) >"$lint" 2>&1 || rc=$?
cat "$lint"
if [ "$rc" -ne 0 ] || [ -s "$lint" ]; then
    echo "docs: FAIL: lint-collection-docs reported the lines above (exit $rc)" >&2
    exit 1
fi
echo "docs: lint-collection-docs clean"

src=$OUT/rst
rm -rf "$src" "$OUT/html" "$OUT/doctrees"
mkdir -p "$src"
chmod og-w "$src"   # antsibull-docs wants that directory writable by its owner only
echo "+ antsibull-docs collection --use-current --fail-on-error uwsgi.topology"
antsibull-docs --config-file "$ROOT/docs/site/antsibull-docs.cfg" collection --use-current --fail-on-error \
    --cleanup everything --dest-dir "$src" uwsgi.topology
cp "$ROOT/docs/site/index.rst" "$src/index.rst"
"$TOOLS/bin/python" "$ROOT/docs/site/pages.py" "$ROOT" "$src"
for role in "$ROOT"/roles/*/; do
    role=$(basename "$role")
    [ -f "$src/collections/uwsgi/topology/${role}_role.rst" ] || { echo "docs: FAIL: no page for the role $role" >&2; exit 1; }
done

echo "+ sphinx-build -W --keep-going -b html (log: $OUT/sphinx.log)"
rc=0
sphinx-build -W --keep-going -q -b html -d "$OUT/doctrees" -c "$ROOT/docs/site" "$src" "$OUT/html" >"$OUT/sphinx.log" 2>&1 || rc=$?
cat "$OUT/sphinx.log"
if [ "$rc" -ne 0 ]; then
    echo "docs: FAIL: sphinx-build (exit $rc): every warning counts" >&2
    exit 1
fi
for page in index guide spec-reference manifest collections/uwsgi/topology/index; do
    [ -s "$OUT/html/$page.html" ] || { echo "docs: FAIL: $OUT/html/$page.html was not written" >&2; exit 1; }
done
echo "docs: site at $OUT/html/index.html ($(find "$OUT/html" -name '*.html' | wc -l) pages), no warning"
