# Run at build time by CMakeLists.txt: `zig translate-c` the ABI header into a Zig module.
# translate-c writes to stdout only (no -femit-bin), hence this wrapper with OUTPUT_FILE.
# Inputs: PYTHON, HEADER, INCLUDE_DIR, OUTPUT, CACHE_DIR, GLOBAL_CACHE_DIR.
#
# The cache options must come before the header: zig 0.17 ignores them after it (and then
# writes to ~/.cache/zig). The environment variables say the same thing once more.
set(_tmp "${OUTPUT}.tmp")
set(ENV{ZIG_LOCAL_CACHE_DIR} "${CACHE_DIR}")
set(ENV{ZIG_GLOBAL_CACHE_DIR} "${GLOBAL_CACHE_DIR}")
execute_process(
  COMMAND "${PYTHON}" -m ziglang translate-c
          --cache-dir "${CACHE_DIR}" --global-cache-dir "${GLOBAL_CACHE_DIR}"
          -I "${INCLUDE_DIR}" "${HEADER}"
  OUTPUT_FILE "${_tmp}"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  file(REMOVE "${_tmp}")
  message(FATAL_ERROR "zig translate-c of ${HEADER} failed (${_rc})")
endif()
file(RENAME "${_tmp}" "${OUTPUT}")
