#!/usr/bin/env bash
# Set up .venv (ci/setup.sh) and run the linter, the type checker and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh   # the Zig cache: shared by the build and the Zig tests
bash ci/setup.sh
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy   # strict, on midimon/ ([tool.mypy] in pyproject.toml)
echo "==> pytest"
exec .venv/bin/pytest "$@"
