#!/bin/sh
# {{name}}: build the plugin with the Zig from the `ziglang` PyPI package (pip install ziglang).
# Usage: sh build.sh   (PYTHON=/path/to/python picks the interpreter; default python3)
# Produces build/lib{{name}}.so (build/lib{{name}}.dylib on macOS), the file plugin.toml names.
#
#   1. `zig translate-c` turns include/midimon_plugin.h into build/midimon_plugin.zig and
#      include/midimon_params.h (the params JSON reader) into build/midimon_params.zig (Zig 0.17
#      has no @cImport; this is the same translation, so Zig reads the headers themselves).
#   2. `zig build-lib -dynamic -lc` compiles src/{{name}}.zig with those files as the modules
#      "midimon_abi" and "midimon_params". Only `export fn _create_plugin` is exported.
# Both zig caches live under build/ unless ZIG_LOCAL_CACHE_DIR / ZIG_GLOBAL_CACHE_DIR say
# otherwise, so nothing goes to ~/.cache/zig.
set -eu
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
mkdir -p build
ZIG_LOCAL_CACHE_DIR="${ZIG_LOCAL_CACHE_DIR:-$PWD/build/zig-cache}"
ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-$PWD/build/zig-global-cache}"
export ZIG_LOCAL_CACHE_DIR ZIG_GLOBAL_CACHE_DIR
case "$(uname -s)" in
  Darwin) lib=build/lib{{name}}.dylib ;;
  *) lib=build/lib{{name}}.so ;;
esac

# The cache options must come before the header: zig 0.17 ignores them after it.
for header in midimon_plugin midimon_params; do
  "$PYTHON" -m ziglang translate-c \
    --cache-dir "$ZIG_LOCAL_CACHE_DIR" --global-cache-dir "$ZIG_GLOBAL_CACHE_DIR" \
    -I include "include/$header.h" > "build/$header.zig.tmp"
  mv "build/$header.zig.tmp" "build/$header.zig"
done

"$PYTHON" -m ziglang build-lib \
  --cache-dir "$ZIG_LOCAL_CACHE_DIR" --global-cache-dir "$ZIG_GLOBAL_CACHE_DIR" \
  -dynamic -O ReleaseSafe -fstrip -lc \
  --dep midimon_abi --dep midimon_params \
  "-M{{name}}=src/{{name}}.zig" \
  "-Mmidimon_abi=build/midimon_plugin.zig" \
  "-Mmidimon_params=build/midimon_params.zig" \
  "-femit-bin=$lib"
echo "built $lib"
