#!/usr/bin/env bash
# Make a Docker engine answer `docker info` (Molecule's docker driver needs one).
#   - no dockerd binary: install Debian's docker.io (one `apt-get update`, one install;
#     scripts/apt-deps.sh does both and skips them when the package is present)
#   - `docker info` fails: start dockerd in the background, log to .build/dockerd.log
#   - wait (at most DOCKER_WAIT seconds, default 60) until `docker info` answers
# Idempotent: with a running engine it only checks `docker info` and exits 0.
# No registry is reachable here: images come from scripts/base-image.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
WAIT=${DOCKER_WAIT:-60}

if docker info >/dev/null 2>&1; then
    echo "docker-engine: running ($(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker-engine: no dockerd; installing Debian's docker.io"
    "$ROOT/scripts/apt-deps.sh" docker.io
fi
if ! command -v docker >/dev/null 2>&1; then
    echo "docker-engine: no docker client after installing docker.io" >&2
    exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "docker-engine: need root (or sudo) to start dockerd" >&2; exit 1; }
    SUDO=sudo
fi

mkdir -p "$ROOT/.build"
log=$ROOT/.build/dockerd.log
if pgrep -x dockerd >/dev/null 2>&1; then
    echo "docker-engine: dockerd is starting (pid $(pgrep -x dockerd | head -1)); waiting"
else
    echo "docker-engine: starting dockerd (log: $log)"
    # setsid: the daemon outlives this script and make's process group.
    $SUDO setsid dockerd >"$log" 2>&1 </dev/null &
fi

for ((i = 0; i < WAIT; i++)); do
    if docker info >/dev/null 2>&1; then
        echo "docker-engine: up after ${i} s ($(docker version -f '{{.Server.Version}}'))"
        exit 0
    fi
    sleep 1
done
echo "docker-engine: dockerd did not answer within ${WAIT} s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
