#!/usr/bin/env bash
# `make ee`: the execution environment definitions work with ansible-builder, offline.
#
# 1. The tools virtualenv .build/venv-tools (tests/requirements-tools.txt, shared with make docs).
# 2. The collection tarball (`ansible-galaxy collection build`), installed into an empty
#    collections path .build/ee/collections; `ansible-builder introspect` there must find the
#    Python and system requirements of meta/execution-environment.yml (meta/ee-requirements.txt,
#    meta/ee-bindep.txt) as uwsgi.topology's: the file ships in the tarball and is valid.
# 3. extensions/ee/ (the example EE definition and its Galaxy requirements) with the tarball as
#    uwsgi-topology.tar.gz in a scratch copy, then `ansible-builder create`: the build context
#    must hold a Containerfile that installs the collection from the tarball it carries.
# Building the image itself needs the base image from a container registry, so it is not run here.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
TOOLS=$ROOT/.build/venv-tools
OUT=$ROOT/.build/ee

"$ROOT/scripts/venv.sh" "$TOOLS" tests/requirements-tools.txt ansible_builder
export PATH=$TOOLS/bin:$PATH
rm -rf "$OUT"
mkdir -p "$OUT/dist" "$OUT/collections" "$OUT/definition"
: >"$OUT/ansible.cfg"
export ANSIBLE_CONFIG=$OUT/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$OUT/collections

fail() { echo "ee: FAIL: $*" >&2; exit 1; }

echo "+ ansible-galaxy collection build"
ansible-galaxy collection build --output-path "$OUT/dist" "$ROOT" >/dev/null
tarball=$(ls "$OUT"/dist/uwsgi-topology-*.tar.gz)
ansible-galaxy collection install --offline --no-deps -p "$OUT/collections" "$tarball" >/dev/null

echo "+ ansible-builder introspect $OUT/collections"
ansible-builder introspect --write-pip "$OUT/requirements.txt" --write-bindep "$OUT/bindep.txt" "$OUT/collections" >"$OUT/introspect.log"
cat "$OUT/introspect.log"
while read -r req _rest; do
    grep -qF "$req" "$OUT/requirements.txt" || fail "introspect did not find the Python requirement $req (meta/ee-requirements.txt)"
done < <(grep -vE '^\s*(#|$)' "$ROOT/meta/ee-requirements.txt")
while read -r pkg _rest; do
    grep -qE "^$pkg( |$)" "$OUT/bindep.txt" || fail "introspect did not find the system requirement $pkg (meta/ee-bindep.txt)"
done < <(grep -vE '^\s*(#|$)' "$ROOT/meta/ee-bindep.txt")

echo "+ ansible-builder create -f extensions/ee/execution-environment.yml"
cp "$ROOT"/extensions/ee/*.yml "$OUT/definition/"
cp "$tarball" "$OUT/definition/uwsgi-topology.tar.gz"
ansible-builder create -f "$OUT/definition/execution-environment.yml" -c "$OUT/context" --output-filename Containerfile
ctx=$OUT/context
[ -s "$ctx/Containerfile" ] || fail "no Containerfile in $ctx"
cmp -s "$tarball" "$ctx/_build/collections/uwsgi-topology.tar.gz" || fail "the build context does not carry the collection tarball"
grep -q 'uwsgi-topology.tar.gz' "$ctx/_build/requirements.yml" || fail "the build context's requirements.yml does not name the tarball"
grep -q 'ansible-galaxy collection install .*-r requirements.yml' "$ctx/Containerfile" || fail "the Containerfile installs no collections"
grep -q 'introspect.py introspect' "$ctx/Containerfile" || fail "the Containerfile does not gather the collections' requirements"
echo "ee: context at $ctx ($(find "$ctx" -type f | wc -l) files); the collection needs: $(grep -vE '^\s*(#|$)' "$OUT/requirements.txt" | sed 's/ *#.*//' | tr '\n' ';') $(grep -vE '^\s*(#|$)' "$OUT/bindep.txt" | sed 's/ *#.*//' | tr '\n' ';')"
