#!/usr/bin/env bash
# Provide the two uWSGI builds the real-binary tests run against, verify them,
# and write .build/uwsgi-builds.env:
#
#   UWSGI_PYPI=<abs>/.build/uwsgi-pypi/bin/uwsgi   uWSGI 2.0.31 built from PyPI's sdist
#   UWSGI_DEBIAN=/usr/bin/uwsgi-core               Debian 12's uwsgi-core 2.0.21
#
# (the versions go in a comment only).  NOTE: uWSGI reads every environment
# variable named UWSGI_<NAME> as the option --<name>, and in strict mode an
# unknown one is fatal ("[strict-mode] unknown config directive: pypi"), so
# whoever starts uwsgi with these variables exported must drop UWSGI_* from the
# child's environment (tests/realbin does).  The Debian
# packages (uwsgi-core, build headers) come from scripts/apt-deps.sh.
# Cache-aware: the PyPI build is skipped when the binary exists, reports 2.0.31
# and has SSL; otherwise .build/uwsgi-pypi is rebuilt from scratch (~15-30 s).
#
# ---------------------------------------------------------------------------
# FINDINGS (checked on Debian 12 with uwsgi-core 2.0.21-5.1 and PyPI uwsgi
# 2.0.31, each config checked with `BIN --strict --ini FILE --version`):
#
# Debian's /usr/bin/uwsgi-core (/usr/bin/uwsgi is only an alternatives symlink;
# uwsgi-core is the real binary; plugins in /usr/lib/uwsgi/plugins/):
#   * No router is built in: without a `plugin =` line every router option
#     fails with "[strict-mode] unknown config directive: http" (exit 1).
#   * One plugin line per router is enough:
#       http = :8080 / http-subscription-server = 127.0.0.1:2626  -> plugin = http
#       fastrouter = ... / fastrouter-subscription-server = ...  -> plugin = fastrouter
#       rawrouter = ... / rawrouter-subscription-server = ...    -> plugin = rawrouter
#       sslrouter = ADDR,CRT,KEY / sslrouter-subscription-server -> plugin = sslrouter
#       forkptyrouter = ...                                     -> plugin = forkptyrouter
#       tuntap-router = DEV SOCKET                              -> plugin = tuntap
#     Several routers: `plugin = http,fastrouter` or one `plugin =` line each.
#   * corerouter need NOT be loaded explicitly: http, fastrouter, rawrouter,
#     sslrouter and forkptyrouter embed `requires=corerouter` in their ELF
#     `uwsgi` section and uWSGI loads corerouter_plugin.so first by itself
#     (seen with LD_DEBUG=files).  `plugin = corerouter` alone gives no router
#     options.  tuntap does not use corerouter.  Listing it anyway is harmless.
#   * The `plugin =` line must come BEFORE the router options: `http = :8080`
#     followed by `plugin = http` fails in strict mode (unknown directive http).
#   * https lives in the http plugin: `plugin = http` makes `https`, `https2`
#     and `http-auto-gzip` known (Debian built it with SSL and zlib).  The
#     sslrouter is its own plugin (sslrouter_plugin.so).
#   * SSL core options are in the core binary, no plugin needed:
#     `subscriptions-sign-check`, `ssl-socket`, `sni`, `subscribe2 ... sign=`.
#   * `need-plugin = http` works too (and fails hard where the plugin is missing).
#
# PyPI uwsgi 2.0.31 (default build profile, pip install --no-binary uwsgi):
#   * Build report: ssl = True when libssl-dev is installed (openssl/ssl.h),
#     zlib = True with zlib1g-dev, pcre = True with libpcre2-dev (pcre2-config).
#   * Built in (no plugin line needed): corerouter, http (with https, https2
#     and http-auto-gzip), fastrouter, rawrouter, sslrouter;
#     `subscriptions-sign-check` is known.
#   * NOT available: forkptyrouter and tuntap ("unknown config directive").
#   * A `plugin = http` line in a config for this build prints
#     `!!! UNABLE to load uWSGI plugin: ./http_plugin.so ...` but is NOT fatal:
#     `--strict --version` still exits 0 and the embedded router works.
#     `need-plugin = http` however exits 1 ("unable to load plugin") on it.
#     So a config meant for both builds can use `plugin =`, not `need-plugin =`.
# ---------------------------------------------------------------------------
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# UWSGI_* variables in our own environment would be options to every check below.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^UWSGI_' || true)

PYTHON=${PYTHON:-python3.11}
UWSGI_PYPI_VERSION=2.0.31
PYPI_VENV=$ROOT/.build/uwsgi-pypi
UWSGI_PYPI=$PYPI_VENV/bin/uwsgi
UWSGI_DEBIAN=/usr/bin/uwsgi-core
ENV_FILE=$ROOT/.build/uwsgi-builds.env
WORK=$ROOT/.build/uwsgi-check
mkdir -p "$ROOT/.build" "$WORK"

fail() { echo "uwsgi-builds: FAIL: $*" >&2; exit 1; }

# has_opt BIN OPTION [PLUGIN]: does `BIN [--plugin PLUGIN] --help` list --OPTION?
has_opt() {
    local bin=$1 opt=$2 plugin=${3:-} out
    if [ -n "$plugin" ]; then
        out=$("$bin" --plugin "$plugin" --help 2>/dev/null) || true
    else
        out=$("$bin" --help 2>/dev/null) || true
    fi
    grep -qE -- "^ +(-[a-zA-Z]\|)?--${opt} " <<<"$out"
}

# strict_ok BIN LINE...: write an ini of LINEs and check it with --strict --version.
strict_ok() {
    local bin=$1; shift
    printf '%s\n' '[uwsgi]' "$@" >"$WORK/check.ini"
    "$bin" --strict --ini "$WORK/check.ini" --version >"$WORK/check.out" 2>&1
}

pypi_ok() {
    [ -x "$UWSGI_PYPI" ] || return 1
    [ "$("$UWSGI_PYPI" --version 2>/dev/null)" = "$UWSGI_PYPI_VERSION" ] || return 1
    has_opt "$UWSGI_PYPI" https || return 1
}

# --- PyPI build -------------------------------------------------------------
if pypi_ok; then
    echo "uwsgi-builds: $UWSGI_PYPI is uWSGI $UWSGI_PYPI_VERSION with SSL, not rebuilding"
else
    echo "uwsgi-builds: building uWSGI $UWSGI_PYPI_VERSION from PyPI source into $PYPI_VENV"
    rm -rf "$PYPI_VENV"
    "$PYTHON" -m venv "$PYPI_VENV"
    log=$ROOT/.build/uwsgi-pypi-build.log
    # --no-binary: build from the sdist; --no-cache-dir: never reuse a wheel built
    # earlier (maybe without SSL headers present).
    if ! "$PYPI_VENV/bin/python" -m pip install --no-cache-dir --no-binary uwsgi \
            -v "uwsgi==$UWSGI_PYPI_VERSION" >"$log" 2>&1; then
        tail -40 "$log" >&2
        fail "pip could not build uwsgi==$UWSGI_PYPI_VERSION (full log: $log)"
    fi
    # uWSGI's own build report, e.g. "ssl = True", "zlib = True"
    sed -n '/#* uWSGI configuration #*/,/#* end of uWSGI configuration #*/p' "$log" | sed 's/^ *//'
fi

[ -x "$UWSGI_PYPI" ] || fail "$UWSGI_PYPI missing after the build"
v=$("$UWSGI_PYPI" --version) || fail "$UWSGI_PYPI --version failed"
[ "$v" = "$UWSGI_PYPI_VERSION" ] || fail "$UWSGI_PYPI reports '$v', expected $UWSGI_PYPI_VERSION"
for opt in https https2 sslrouter subscriptions-sign-check ssl-socket; do
    has_opt "$UWSGI_PYPI" "$opt" || fail "PyPI build has no --$opt: built without SSL (is libssl-dev installed?)"
done
has_opt "$UWSGI_PYPI" http-auto-gzip || fail "PyPI build has no --http-auto-gzip: built without zlib (is zlib1g-dev installed?)"
strict_ok "$UWSGI_PYPI" 'http = 127.0.0.1:0' 'http-subscription-server = 127.0.0.1:0' \
    'http-auto-gzip = true' 'fastrouter = 127.0.0.1:0' 'rawrouter = 127.0.0.1:0' \
    "subscriptions-sign-check = SHA1:$WORK" ||
    { cat "$WORK/check.out" >&2; fail "PyPI build rejects a router config in strict mode"; }

# --- Debian build -----------------------------------------------------------
[ -x "$UWSGI_DEBIAN" ] || fail "$UWSGI_DEBIAN missing (Debian package uwsgi-core; run scripts/apt-deps.sh)"
dv=$("$UWSGI_DEBIAN" --version) || fail "$UWSGI_DEBIAN --version failed"
case $dv in 2.0.*) ;; *) fail "$UWSGI_DEBIAN reports '$dv', expected 2.0.x" ;; esac
for r in http fastrouter rawrouter sslrouter forkptyrouter tuntap; do
    opt=$r; [ "$r" = tuntap ] && opt=tuntap-router
    has_opt "$UWSGI_DEBIAN" "$opt" "$r" || fail "Debian's uwsgi-core: 'plugin = $r' gives no --$opt"
done
has_opt "$UWSGI_DEBIAN" https http || fail "Debian's http plugin has no --https"
has_opt "$UWSGI_DEBIAN" http-auto-gzip http || fail "Debian's http plugin has no --http-auto-gzip"
has_opt "$UWSGI_DEBIAN" subscriptions-sign-check || fail "Debian's uwsgi-core has no --subscriptions-sign-check"
strict_ok "$UWSGI_DEBIAN" 'plugin = http' 'plugin = fastrouter,rawrouter' 'plugin = forkptyrouter' 'plugin = tuntap' \
    'http = 127.0.0.1:0' 'http-subscription-server = 127.0.0.1:0' 'http-auto-gzip = true' \
    'fastrouter = 127.0.0.1:0' 'rawrouter = 127.0.0.1:0' 'forkptyrouter = 127.0.0.1:0' \
    "tuntap-router = uwsgi0 $WORK/tuntap.socket" "subscriptions-sign-check = SHA1:$WORK" ||
    { cat "$WORK/check.out" >&2; fail "Debian's uwsgi-core rejects a router config in strict mode"; }
strict_ok "$UWSGI_DEBIAN" 'http = 127.0.0.1:0' &&
    fail "Debian's uwsgi-core accepts 'http' without 'plugin = http': the findings above are out of date"

# --- availability table -------------------------------------------------------
echo "uwsgi-builds: option availability ('plugin' = needs 'plugin = NAME' first)"
printf '  %-26s %-14s %s\n' option "pypi $v" "debian $dv"
for spec in http:http https:http https2:http http-auto-gzip:http http-subscription-server:http \
            fastrouter:fastrouter rawrouter:rawrouter sslrouter:sslrouter \
            forkptyrouter:forkptyrouter tuntap-router:tuntap \
            subscriptions-sign-check: ssl-socket: sni:; do
    opt=${spec%%:*} plugin=${spec#*:}
    p=no; has_opt "$UWSGI_PYPI" "$opt" && p=built-in
    d=no
    if has_opt "$UWSGI_DEBIAN" "$opt"; then d=core
    elif [ -n "$plugin" ] && has_opt "$UWSGI_DEBIAN" "$opt" "$plugin"; then d="plugin $plugin"
    fi
    printf '  %-26s %-14s %s\n' "$opt" "$p" "$d"
done

tmp=$ENV_FILE.tmp
{
    echo "# written by scripts/uwsgi-builds.sh; sourced by 'make realbin'"
    echo "# PyPI build: uWSGI $v; Debian build: uWSGI $dv"
    echo "UWSGI_PYPI=$UWSGI_PYPI"
    echo "UWSGI_DEBIAN=$UWSGI_DEBIAN"
} >"$tmp"
mv "$tmp" "$ENV_FILE"
echo "uwsgi-builds: PyPI uWSGI $v at $UWSGI_PYPI; Debian uWSGI $dv at $UWSGI_DEBIAN"
echo "uwsgi-builds: wrote $ENV_FILE"
