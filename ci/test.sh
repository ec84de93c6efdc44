#!/usr/bin/env bash
# Set up .venv (ci/setup.sh) and run the whole test suite plus the linter.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh   # the Zig cache: shared by the build and the Zig tests
bash ci/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
exec .venv/bin/pytest "$@"
