#!/usr/bin/env bash
# Build the Molecule scenarios' base image without any registry:
#   debootstrap (images/base.recipe) -> rootfs -> tar | docker import -> uwsgi-topology/base:<suite>-<hash>
# and tag it uwsgi-topology/base:latest too. <hash> covers images/base.recipe and this script,
# so a changed recipe builds a new image and an unchanged one is reused (the build is skipped
# when the tag exists). Prints the image name:tag it leaves behind on its last line.
#
#   scripts/base-image.sh            build unless the tag exists
#   BASE_IMAGE_FORCE=1 scripts/base-image.sh   rebuild even so
#
# Needs a running engine (scripts/docker-engine.sh, run first) and root (debootstrap, chroot);
# installs Debian's debootstrap when it is missing. Debian's default mirror is used: no host
# name is given to debootstrap.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
RECIPE=$ROOT/images/base.recipe
NAME=${BASE_IMAGE_NAME:-uwsgi-topology/base}

# The recipe is bash assignments (BASE_SUITE, BASE_PACKAGES, ...), in the repository.
# shellcheck disable=SC1090,SC1091
. "$RECIPE"
hash=$(cat "$RECIPE" "$ROOT/scripts/base-image.sh" | sha256sum | cut -c1-12)
TAG=$BASE_SUITE-$hash

"$ROOT/scripts/docker-engine.sh" >/dev/null

if [ "${BASE_IMAGE_FORCE:-0}" != 1 ] && docker image inspect "$NAME:$TAG" >/dev/null 2>&1; then
    docker tag "$NAME:$TAG" "$NAME:latest"
    echo "base-image: $NAME:$TAG exists (recipe unchanged); tagged $NAME:latest"
    echo "$NAME:$TAG"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "base-image: debootstrap needs root" >&2
    exit 1
fi
command -v debootstrap >/dev/null 2>&1 || "$ROOT/scripts/apt-deps.sh" debootstrap

start=$(date +%s)
work=$ROOT/.build/base-image
rootfs=$work/rootfs-$hash
cleanup() { rm -rf "$rootfs"; }
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work"

include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
echo "base-image: debootstrap --variant=$BASE_VARIANT $BASE_SUITE (+ $include); log: $work/debootstrap.log"
if ! debootstrap --variant="$BASE_VARIANT" --include="$include" "$BASE_SUITE" "$rootfs" \
        >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    echo "base-image: debootstrap failed (log: $work/debootstrap.log)" >&2
    exit 1
fi

# systemctl --root edits unit links offline, without a running systemd.
for unit in "${BASE_DISABLE_UNITS[@]}"; do
    systemctl --root="$rootfs" --quiet disable "$unit"
done
for unit in "${BASE_MASK_UNITS[@]}"; do
    systemctl --root="$rootfs" --quiet mask "$unit"
done
# Every container gets its own machine id and host name at boot.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs/etc/hostname"
# Downloaded packages are not needed in the image.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs/debootstrap"

changes=()
for c in "${BASE_CHANGES[@]}"; do
    changes+=(--change "$c")
done
echo "base-image: docker import $NAME:$TAG"
tar --numeric-owner -C "$rootfs" -c . \
    | docker import "${changes[@]}" --message "images/base.recipe $hash" - "$NAME:$TAG" >/dev/null

# Smoke test: the image boots systemd with the platform settings of extensions/molecule/config.yml.
probe=uwsgi-topology-base-probe-$$
docker rm -f "$probe" >/dev/null 2>&1 || true
docker run -d --name "$probe" --cap-add SYS_ADMIN --cgroupns host --security-opt seccomp=unconfined \
    -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock --network none \
    "$NAME:$TAG" /sbin/init >/dev/null
# is-system-running fails until systemd has its bus up; poll (at most 60 s).
state=
for ((i = 0; i < 60; i++)); do
    state=$(docker exec "$probe" systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) break ;; esac
    sleep 1
done
if [ "$state" != running ] && [ "$state" != degraded ]; then
    docker exec "$probe" systemctl --failed --no-pager >&2 || true
    docker rm -f "$probe" >/dev/null
    docker rmi "$NAME:$TAG" >/dev/null || true
    echo "base-image: systemd did not boot in $NAME:$TAG (state: ${state:-none}); image removed" >&2
    exit 1
fi
docker rm -f "$probe" >/dev/null
echo "base-image: systemd boots in $NAME:$TAG (is-system-running: $state)"

docker tag "$NAME:$TAG" "$NAME:latest"
# Older builds of the recipe (other hashes) go, unless a container still uses them.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$NAME" \
    | { grep -v -x -e "$NAME:$TAG" -e "$NAME:latest" || true; } \
    | while read -r old; do
        if docker rmi "$old" >/dev/null 2>&1; then echo "base-image: removed $old"; fi
    done
echo "base-image: built $NAME:$TAG in $(( $(date +%s) - start )) s" \
     "($(docker image inspect -f '{{.Size}}' "$NAME:$TAG" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
echo "$NAME:$TAG"
