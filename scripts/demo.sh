#!/usr/bin/env bash
# The README's main command (`make demo`): deploy the bundled one-machine topology
# (inventory/local.yml) with site.yml, on a fresh Debian 12 machine.
#
#   scripts/demo.sh [ansible-playbook arguments...]
#
#   scripts/demo.sh                                   deploy, verify, print the pools
#   scripts/demo.sh --check --diff                    what would change (changes nothing)
#   scripts/demo.sh -e uwsgi_topology_state=absent    tear down (same as teardown.yml)
#
# Environment:
#   TOPOLOGY_PREFIX   where everything goes (default ~/.local/share/uwsgi-topology)
#   PYTHON            interpreter for .venv (default python3.11, as `make venv`)
#   DEMO_SKIP_APT=1   do not install the build packages even when root
#
# Steps: (1) as root, apt-get install what pip needs to build uWSGI 2.0.31 with SSL
# (only the missing packages; nothing runs when all are there); (2) `make venv` (the
# test infrastructure's virtualenv with Ansible; reused when up to date); (3) the link
# .build/collections/ansible_collections/uwsgi/topology -> this repository, which
# ansible.cfg's collections_path reads; (4) .venv/bin/ansible-playbook site.yml "$@"; (5) the
# picture of the topology (playbooks/picture.yml, the same arguments).
# No root is needed for (4) and (5): the topology runs as the calling user under the prefix.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

log() { printf 'demo: %s\n' "$*"; }

# (1) Build packages for uWSGI's PyPI source: a C compiler and libc headers, Python's
# headers (python3-dev; python3.11-dev for a python3.11 without Python.h), OpenSSL's
# headers (without them uWSGI builds without https and signed subscriptions), zlib and
# PCRE2 (gzip and regexp routing); and Graphviz, whose dot draws the picture of step (5).
pkgs=(gcc libc6-dev python3-dev libssl-dev zlib1g-dev libpcre2-dev graphviz)
PYTHON=${PYTHON:-python3.11}
if command -v "$PYTHON" >/dev/null 2>&1; then
    inc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [ -f "$inc/Python.h" ] || pkgs+=(python3.11-dev)
fi
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${pkgs[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "${DEMO_SKIP_APT:-0}" != 1 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -q
        apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
    else
        log "not installing ${missing[*]} (not root, or DEMO_SKIP_APT=1); the playbook checks what the uWSGI build needs"
    fi
fi

# (2) The virtualenv with Ansible (and community.crypto from the `ansible` package).
if command -v make >/dev/null 2>&1; then
    make -C "$ROOT" --no-print-directory venv
else
    "$ROOT/scripts/venv.sh"
fi

# (3) uwsgi.topology.* resolves to this working tree (ansible.cfg: collections_path).
"$ROOT/scripts/collection-link.sh" >/dev/null

# (4) uWSGI reads every UWSGI_* environment variable as an option; none of the shell's
# may reach the uWSGI binaries the playbook runs.
while IFS= read -r name; do
    unset "$name"
done < <(compgen -e | grep '^UWSGI_' || true)

log "ansible-playbook site.yml $*"
"$ROOT/.venv/bin/ansible-playbook" site.yml "$@"

# (5) The picture: <prefix>/topology.dot, .mmd and .svg from the plan, topology-live.svg from the
# routers' stats (playbooks/picture.yml; nothing is drawn for a teardown).
log "ansible-playbook playbooks/picture.yml $*"
exec "$ROOT/.venv/bin/ansible-playbook" playbooks/picture.yml "$@"
