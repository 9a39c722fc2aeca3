#!/usr/bin/env bash
# `make galaxy`: the collection tarball as Galaxy would import it, offline.
#
# 1. galaxy-importer in a virtualenv of its own, .build/venv-galaxy-importer
#    (tests/requirements-galaxy-importer.txt; it pins its own ansible-core and ansible-lint).
# 2. `ansible-galaxy collection build` of the repository: the tarball may hold only the
#    collection (ALLOWED below); tests, Molecule, images, the demo inventory, scripts, docs/site,
#    changelog fragments, tool state... are kept out by galaxy.yml's build_ignore.
# 3. galaxy-importer on that tarball. galaxy.yml has no `repository` yet (the collection has no
#    public repository URL; see the README), and galaxy-importer stops on that first: this
#    step passes only when that is the one error it reports (or when it imports cleanly).
# 4. galaxy-importer on a tarball built from a scratch copy whose galaxy.yml gets a placeholder
#    `repository` (a plain string, no URL): every other check (metadata, ansible-doc of every
#    plugin, role READMEs and argument specs, ansible-lint production profile offline,
#    changelog, sanity ignore files, ...) must pass without a single WARNING or ERROR line.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
GI=$ROOT/.build/venv-galaxy-importer
OUT=$ROOT/.build/galaxy

ALLOWED='^(MANIFEST\.json|FILES\.json|README\.md|LICENSE|CHANGELOG\.rst|meta/(runtime\.yml|execution-environment\.yml|ee-requirements\.txt|ee-bindep\.txt)|plugins/.*|roles/.*|playbooks/.*|docs/[^/]+\.(md|svg|png)|changelogs/(changelog\.yaml|config\.yaml)|(meta|plugins|roles|playbooks|docs|changelogs)/)$'
REPOSITORY_ERROR="Invalid collection metadata. 'repository' is required"

fail() { echo "galaxy: FAIL: $*" >&2; exit 1; }

"$ROOT/scripts/venv.sh" "$GI" tests/requirements-galaxy-importer.txt galaxy_importer
export PATH=$GI/bin:$PATH
rm -rf "$OUT"
mkdir -p "$OUT/dist" "$OUT/dist-placeholder" "$OUT/work"
: >"$OUT/ansible.cfg"
export ANSIBLE_CONFIG=$OUT/ansible.cfg

# importer: TARBALL LOG -> exit status of galaxy-importer; its output in LOG
importer() {
    local rc=0
    (cd "$OUT/work" && "$GI/bin/python" -m galaxy_importer.main "$1") >"$2" 2>&1 || rc=$?
    return "$rc"
}

echo "+ ansible-galaxy collection build"
ansible-galaxy collection build --output-path "$OUT/dist" "$ROOT" >/dev/null
tarball=$(ls "$OUT"/dist/uwsgi-topology-*.tar.gz)
tar -tzf "$tarball" | sed 's|^\./||' | sort >"$OUT/contents.txt"
if grep -vE "$ALLOWED" "$OUT/contents.txt" >"$OUT/unexpected.txt"; then
    cat "$OUT/unexpected.txt" >&2
    fail "the tarball holds the files above, which are not the collection's (extend galaxy.yml's build_ignore)"
fi
for path in README.md LICENSE meta/runtime.yml meta/execution-environment.yml changelogs/changelog.yaml playbooks/site.yml; do
    grep -qxF "$path" "$OUT/contents.txt" || fail "the tarball lacks $path"
done
for role in "$ROOT"/roles/*/; do
    role=$(basename "$role")
    grep -qxF "roles/$role/README.md" "$OUT/contents.txt" || fail "the tarball lacks roles/$role/README.md"
done
echo "galaxy: $(basename "$tarball"): $(grep -cv '/$' "$OUT/contents.txt") files, all of the collection"

echo "+ galaxy-importer $(basename "$tarball")"
rc=0
importer "$tarball" "$OUT/importer.log" || rc=$?
cat "$OUT/importer.log"
if [ "$rc" -eq 0 ]; then
    if grep -qE '^(WARNING|ERROR)' "$OUT/importer.log"; then
        fail "galaxy-importer reported the WARNING/ERROR lines above"
    fi
    echo "galaxy: the tarball imports cleanly (galaxy.yml has its repository now: step 4 is redundant)"
else
    errors=$(grep -c '^ERROR' "$OUT/importer.log" || true)
    if ! grep -qF "$REPOSITORY_ERROR" "$OUT/importer.log" || [ "$errors" -ne 1 ]; then
        fail "galaxy-importer failed (exit $rc) on something else than the missing repository URL"
    fi
    echo "galaxy: galaxy-importer stops on the missing 'repository' only (no public repository URL yet; expected)"
fi

if ! grep -qE '^repository:' "$ROOT/galaxy.yml"; then
    src=$OUT/src/ansible_collections/uwsgi/topology
    "$GI/bin/python" "$ROOT/scripts/sync_collection.py" "$ROOT" "$src" >/dev/null
    # A placeholder, only in this scratch copy: galaxy-importer wants a non-empty string.
    printf '%s\n' 'repository: "placeholder of scripts/galaxy-check.sh: no public repository yet"' >>"$src/galaxy.yml"
    ansible-galaxy collection build --output-path "$OUT/dist-placeholder" "$src" >/dev/null
    placeholder=$(ls "$OUT"/dist-placeholder/uwsgi-topology-*.tar.gz)
    echo "+ galaxy-importer (copy with a placeholder repository) $(basename "$placeholder")"
    rc=0
    start=$(date +%s)
    importer "$placeholder" "$OUT/importer-placeholder.log" || rc=$?
    grep -vE '^Loading ' "$OUT/importer-placeholder.log"
    [ "$rc" -eq 0 ] || fail "galaxy-importer failed (exit $rc)"
    if grep -E '^(WARNING|ERROR)' "$OUT/importer-placeholder.log" >/dev/null; then
        if grep -q 'Failed to find .* playbook' "$OUT/importer-placeholder.log"; then
            echo "galaxy: a playbook imports another of this collection by its FQCN, which galaxy-importer's" \
                 "ansible-lint cannot resolve (it unpacks the tarball as placeholder_namespace.placeholder_name):" \
                 "import it by its file name (ansible.builtin.import_playbook: plan.yml)" >&2
        fi
        fail "galaxy-importer reported the WARNING/ERROR lines above"
    fi
    grep -q 'Importer processing completed successfully' "$OUT/importer-placeholder.log" || fail "galaxy-importer did not complete"
    echo "galaxy: galaxy-importer: clean apart from the repository URL ($(($(date +%s) - start)) s)"
fi
