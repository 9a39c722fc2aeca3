#!/usr/bin/env bash
# `make changelog`: the changelog fragments are valid and typed so that the release notes read right.
#
# 1. The tools virtualenv .build/venv-tools (tests/requirements-tools.txt, shared with make docs).
# 2. `antsibull-changelog lint`: every fragment's format and sections.
# 3. scripts/changelog_types.py: typing rules lint cannot know (test infrastructure is `trivial`,
#    new playbooks and roles are `add object.playbook` / `add object.role` entries, one release
#    summary).
# 4. `antsibull-changelog release --version <galaxy.yml's version>` in a scratch copy of the
#    collection (.build/changelog/...): the release notes must render, with the release summary,
#    every role under "New Roles" and every playbook of playbooks/ under "New Playbooks" (new
#    modules and plugins are found by antsibull-changelog itself), and without test infrastructure.
#    The rendered notes stay in .build/changelog/CHANGELOG.rst. Skipped when that version is
#    already released in changelogs/changelog.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
TOOLS=$ROOT/.build/venv-tools
OUT=$ROOT/.build/changelog

"$ROOT/scripts/venv.sh" "$TOOLS" tests/requirements-tools.txt antsibull_changelog
export PATH=$TOOLS/bin:$PATH

echo "+ antsibull-changelog lint"
antsibull-changelog lint
echo "changelog: lint clean ($(find changelogs/fragments -name '*.yml' -o -name '*.yaml' | wc -l) fragments)"

"$TOOLS/bin/python" "$ROOT/scripts/changelog_types.py" check "$ROOT"

version=$(sed -n 's/^version: *//p' galaxy.yml | tr -d "\"'")
if "$TOOLS/bin/python" - "$version" <<'EOF'
import sys, yaml
with open('changelogs/changelog.yaml') as f:
    releases = (yaml.safe_load(f) or {}).get('releases') or {}
sys.exit(0 if sys.argv[1] in releases else 1)
EOF
then
    echo "changelog: $version is already released in changelogs/changelog.yaml; no trial release"
    exit 0
fi

rm -rf "$OUT"
coll=$OUT/collections/ansible_collections/uwsgi/topology
"$TOOLS/bin/python" "$ROOT/scripts/sync_collection.py" "$ROOT" "$coll" >/dev/null
: >"$OUT/ansible.cfg"
echo "+ antsibull-changelog release --version $version (in $coll)"
(cd "$coll" && ANSIBLE_CONFIG=$OUT/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$OUT/collections \
    antsibull-changelog release --version "$version" --date 2000-01-01)
cp "$coll/CHANGELOG.rst" "$OUT/CHANGELOG.rst"
"$TOOLS/bin/python" "$ROOT/scripts/changelog_types.py" rendered "$ROOT" "$OUT/CHANGELOG.rst"
