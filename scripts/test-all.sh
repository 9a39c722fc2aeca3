#!/usr/bin/env bash
# `make test`: run the given make targets (stages) in order, stop at the first
# failure with its exit status, and print how long each stage took.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
MAKE=${MAKE:-make}

names=() secs=() results=()
summary() {
    echo
    echo "==================== stage durations ===================="
    local i total=0
    for i in "${!names[@]}"; do
        printf '  %-10s %8.1f s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
        total=$(awk -v a="$total" -v b="${secs[$i]}" 'BEGIN { print a + b }')
    done
    printf '  %-10s %8.1f s\n' total "$total"
    echo "========================================================="
}

for stage in "$@"; do
    echo
    echo "==================== make $stage ===================="
    start=$(date +%s.%N)
    "$MAKE" --no-print-directory "$stage"
    rc=$?
    end=$(date +%s.%N)
    names+=("$stage")
    secs+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')")
    if [ "$rc" -ne 0 ]; then
        results+=("FAILED (exit $rc)")
        summary
        echo "make test: stage '$stage' FAILED (exit $rc); later stages not run" >&2
        exit "$rc"
    fi
    results+=(ok)
done
summary
echo "make test: all stages passed: $*"
