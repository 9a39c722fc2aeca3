#!/usr/bin/env bash
# `make molecule`: run the Molecule scenarios in real containers, from a fresh machine.
#
#   extensions/molecule/run.sh              every scenario (extensions/molecule/*/molecule.yml), full `molecule test`
#   extensions/molecule/run.sh default sni  only these
#   MOLECULE_ARGS="--destroy=never" extensions/molecule/run.sh default   extra arguments for `molecule test`
#
# First: a running Docker engine (scripts/docker-engine.sh), the base image
# (scripts/base-image.sh), the collection link (scripts/collection-link.sh). Then each scenario
# with extensions/molecule/config.yml (Molecule reads it by itself in a collection) as base config, timed; a failed scenario does not stop the others.
# Prints each scenario's duration and result at the end; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$(pwd -P)
export PATH=$ROOT/.venv/bin:$PATH

t0=$(date +%s.%N)
"$ROOT/scripts/docker-engine.sh" || exit 1
"$ROOT/scripts/base-image.sh" || exit 1
"$ROOT/scripts/collection-link.sh" >/dev/null || exit 1
setup=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

if [ $# -gt 0 ]; then
    scenarios=("$@")
else
    scenarios=()
    for f in extensions/molecule/*/molecule.yml; do
        scenarios+=("$(basename "$(dirname "$f")")")
    done
fi

# shellcheck disable=SC2206  # MOLECULE_ARGS is a list of words
extra=(${MOLECULE_ARGS:-})
names=() secs=() results=() failed=0
for s in "${scenarios[@]}"; do
    echo
    echo "==================== molecule test -s $s ===================="
    start=$(date +%s.%N)
    molecule test -s "$s" "${extra[@]}"
    rc=$?
    names+=("$s")
    secs+=("$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')")
    if [ "$rc" -eq 0 ]; then
        results+=(ok)
    else
        results+=("FAILED (exit $rc)")
        failed=1
    fi
done

echo
echo "==================== molecule scenario durations ===================="
printf '  %-12s %8.1f s  %s\n' "(setup)" "$setup" "engine, base image, collection link"
total=$setup
for i in "${!names[@]}"; do
    printf '  %-12s %8.1f s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
    total=$(awk -v a="$total" -v b="${secs[$i]}" 'BEGIN { print a + b }')
done
printf '  %-12s %8.1f s\n' total "$total"
echo "====================================================================="
exit "$failed"
