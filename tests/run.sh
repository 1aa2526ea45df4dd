#!/usr/bin/env bash
# The whole test suite: every pytest invocation it needs, in order. README.md and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pytest tests "$@"
