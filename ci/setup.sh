#!/usr/bin/env bash
# Create .venv in the checkout and install midimon (with its test extras) into it.
# Builds the bundled plugins through scikit-build-core + CMake. Re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh

PYTHON=${PYTHON:-python3}
for tool in "$PYTHON" cmake cc cargo; do
  command -v "$tool" >/dev/null || { echo "ci/setup.sh: '$tool' is required but not installed" >&2; exit 2; }
done
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ "${CI:-}" = "true" ]; then
  export MIDIMON_REQUIRE_ALL_PLUGINS=ON   # in CI every bundled plugin must build
fi
echo "==> installing midimon and its test dependencies into .venv (builds the bundled plugins)"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet ".[test]"
# The checkout on the venv's path (after site-packages, so the installed midimon still wins):
# `.venv/bin/python -m benchmarks` then works from any directory.
.venv/bin/python - "$PWD" <<'PY'
import sys, sysconfig
from pathlib import Path
Path(sysconfig.get_paths()["purelib"], "midimon-checkout.pth").write_text(sys.argv[1] + "\n")
PY
echo "==> installed: $(.venv/bin/midimon --version)"
