#!/usr/bin/env bash
# The whole test suite: every pytest invocation it needs, in order. README.md and .ci/run call this.
# Arguments are passed to each invocation (e.g. -x, -q, -k NAME).
#
# 1. Everything but tests/cuda_sim, in numba's normal mode: the CUDA kernels are compiled to PTX
#    there, and run on a GPU where there is one.
# 2. tests/cuda_sim under numba's CUDA simulator, which must be chosen before numba is first
#    imported, so in a process of its own. Where numba-cuda is missing its tests skip.
# Both run even if the first fails; the script fails if either does. pytest's exit status 5
# ("no tests collected", e.g. a -k that matches nothing in one of the two) is not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

run_pytest() {
    "$@"
    local status=$?
    if [ "$status" -eq 5 ]; then
        echo "(no tests collected by: $*)"
        status=0
    fi
    return "$status"
}

run_pytest env -u NUMBA_ENABLE_CUDASIM python -m pytest tests --ignore=tests/cuda_sim "$@"
main=$?
run_pytest env NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda_sim "$@"
simulator=$?
[ "$main" -ne 0 ] && exit "$main"
exit "$simulator"
