# Sourced by ci/setup.sh, ci/test.sh and ci/demo.sh: settings every build and test run shares.
# One Zig global cache for the bundled Zig plugin's build and the Zig tests, kept between runs:
# Zig's compiled std and libc are reused instead of rebuilt (about 4 minutes each on 2 cores).
# The same folder .ci/run uses; set ZIG_GLOBAL_CACHE_DIR to choose another.
export ZIG_GLOBAL_CACHE_DIR="${ZIG_GLOBAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/midimon-ci-zig}"
