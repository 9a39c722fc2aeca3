#!/usr/bin/env bash
# Install the Debian packages the test suite needs (Debian 12, as root or via sudo).
#   scripts/apt-deps.sh            the full list below
#   scripts/apt-deps.sh PKG...     only these (e.g. python3.11-venv, make)
# Cache-aware: when every package is already installed nothing runs, not even
# `apt-get update`; otherwise `apt-get update` runs once, then one `apt-get install`.
#
#   gcc libc6-dev   the C compiler and libc headers for the uWSGI build
#   libssl-dev      openssl/ssl.h: uWSGI's build enables `ssl` (https, sslrouter,
#                   subscriptions-sign-check) only when it finds this header
#   zlib1g-dev      zlib.h: `zlib` (http-auto-gzip, transformation_gzip)
#   libpcre2-dev    pcre2-config: `pcre` (regexp routing, route = ...)
#   uwsgi-core      Debian's uWSGI 2.0.21, routers as loadable plugins
#   uwsgi-plugin-python3
#   pkg shellcheck: ansible-test sanity's `shellcheck` test (otherwise only a
#                   warning "Required program shellcheck not found")
#   graphviz        `dot`: the unit tests check that it draws the topology_graph
#                   filter's DOT output (tests/unit/plugins/module_utils/test_graph.py)
#   prometheus      promtool (the unit tests check the router metrics' exposition
#                   with `promtool check metrics`) and the server the e2e test
#                   runs on loopback to scrape them (tests/e2e/test_metrics.py);
#                   Debian enables the package's own service (port 9090), which
#                   the tests never use
#   python3.11-venv only when `python3.11 -m venv` cannot work (Debian's own
#                   python3.11 keeps ensurepip in this separate package)
#   python3.11-dev  only when the python3.11 used for the build lacks Python.h
#                   (uWSGI's PyPI build embeds the python plugin)
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
if [ $# -gt 0 ]; then
    pkgs=("$@")
else
    pkgs=(gcc libc6-dev libssl-dev zlib1g-dev libpcre2-dev uwsgi-core uwsgi-plugin-python3 shellcheck graphviz prometheus)
    if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        pkgs+=(python3.11-venv)
    fi
    inc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if [ ! -f "$inc/Python.h" ]; then
        pkgs+=(python3.11-dev)
    fi
fi

missing=()
for p in "${pkgs[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "apt: already installed: ${pkgs[*]}"
    exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "apt: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Wait (up to 10 min) for another apt/dpkg run to release its lock instead of failing.
lock=(-o DPkg::Lock::Timeout=600)
echo "apt: installing ${missing[*]}"
$SUDO apt-get "${lock[@]}" update -q
$SUDO apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}"
