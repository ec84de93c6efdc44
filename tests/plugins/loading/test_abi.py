"""The header compiles everywhere it promises to, and the cffi view of it matches the compiler's."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ABI_DIR, IN_CI, require_tool

from midimon.plugins.description.capabilities import CAPABILITY_TABLE
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.context import TriggerKind

HEADER = ABI_DIR / "midimon_plugin.h"
STRUCTS = (
    "midimon_plugin_t",
    "midimon_host_t",
    "midimon_trigger_context_t",
    "midimon_event_t",
)


COMPILE_MODES = [
    ("gcc", ["-x", "c", "-std=c99"]),
    ("gcc", ["-x", "c", "-std=c11"]),
    ("g++", ["-x", "c++", "-std=c++11"]),
    ("g++", ["-x", "c++", "-std=c++17"]),
    ("clang", ["-x", "c", "-std=c99"]),
    ("clang", ["-x", "c", "-std=c11"]),
    ("clang++", ["-x", "c++", "-std=c++11"]),
    ("clang++", ["-x", "c++", "-std=c++17"]),
]

# MIDIMON_ABI_COMPATIBLE as plugins and hosts write it: literal versions against the host's
# uint32_t fields (a plain `0 <= minor` drew -Wtype-limits), variables of either signedness,
# MIDIMON_ABI_* themselves, and in #if and file-scope constant expressions.
COMPAT_USES = r"""
int compat = MIDIMON_ABI_COMPATIBLE(1, 0, 1, 0);
int host_ok(const midimon_host_t *host);
int host_ok(const midimon_host_t *host) {
    return MIDIMON_ABI_COMPATIBLE(host->abi_major, host->abi_minor, 1, 0)
        && MIDIMON_ABI_COMPATIBLE(host->abi_major, host->abi_minor, 1, 2)
        && MIDIMON_ABI_COMPATIBLE(host->abi_major, host->abi_minor,
                                  MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR);
}
int plugin_ok(const midimon_plugin_t *plugin);
int plugin_ok(const midimon_plugin_t *plugin) {
    return MIDIMON_ABI_COMPATIBLE(1, 0, plugin->abi_major, plugin->abi_minor)
        && MIDIMON_ABI_COMPATIBLE(MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR,
                                  plugin->abi_major, plugin->abi_minor);
}
int mixed_ok(const midimon_host_t *host, int major, int minor);
int mixed_ok(const midimon_host_t *host, int major, int minor) {
    return MIDIMON_ABI_COMPATIBLE(host->abi_major, host->abi_minor, major, minor)
        && MIDIMON_ABI_COMPATIBLE(major, minor, 1u, 0u);
}
#if !MIDIMON_ABI_COMPATIBLE(1, 0, 1, 0) || !MIDIMON_ABI_COMPATIBLE(1, 3, 1, 2) \
    || MIDIMON_ABI_COMPATIBLE(1, 0, 1, 1) || MIDIMON_ABI_COMPATIBLE(2, 0, 1, 0)
#error "MIDIMON_ABI_COMPATIBLE: same major, and a plugin minor up to the host minor"
#endif
"""


def _compiler(name: str) -> str:
    """gcc and g++ are required; clang and clang++ too in CI (.ci/run installs them), and
    elsewhere where installed."""
    if name.startswith("clang") and shutil.which(name) is None and not IN_CI:
        pytest.skip(f"{name} is not installed")
    return require_tool(name)


@pytest.mark.parametrize(("compiler", "flags"), COMPILE_MODES)
def test_header_compiles_cleanly(tmp_path: Path, compiler: str, flags: list[str]) -> None:
    """The header, MIDIMON_ABI_COMPATIBLE included, builds with -Wall -Wextra -pedantic -Werror
    as C99/C11 and as C++11/17."""
    cc = _compiler(compiler)
    src = tmp_path / "use.c"
    src.write_text(
        '#include "midimon_plugin.h"\n'
        "static int32_t ex(const midimon_plugin_t *s, const char *p, size_t n,\n"
        "    const midimon_trigger_context_t *c, char *m, size_t cap)\n"
        "{ (void)s; (void)p; (void)n; (void)c; (void)m; (void)cap; return MIDIMON_OK; }\n"
        "static const midimon_plugin_t plugin = { MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR,\n"
        '    sizeof(midimon_plugin_t), MIDIMON_CAP_MIDI, "x", "1.0.0", "d", 0,\n'
        "    0, ex, 0, 0, 0, 0, 0 };\n"
        "MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }\n"
        + COMPAT_USES
    )
    subprocess.run(
        [
            cc,
            *flags,
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            f"-I{ABI_DIR}",
            "-fsyntax-only",
            str(src),
        ],
        check=True,
    )


def test_abi_compatible_macro_keeps_its_rule(tmp_path: Path) -> None:
    """MIDIMON_ABI_COMPATIBLE on uint32_t values (0, 1, 2, UINT32_MAX) is exactly
    "same major, and plugin minor <= host minor"."""
    values = (0, 1, 2, 0xFFFFFFFF)
    src = tmp_path / "compat.c"
    src.write_text(
        '#include "midimon_plugin.h"\n#include <stdio.h>\nint main(void) {\n'
        f"    static const uint32_t v[] = {{ {', '.join(f'{x}u' for x in values)} }};\n"
        "    unsigned a, b, c, d;\n"
        "    for (a = 0; a < 4; a++) for (b = 0; b < 4; b++)\n"
        "    for (c = 0; c < 4; c++) for (d = 0; d < 4; d++)\n"
        '        printf("%u %u %u %u %d\\n", v[a], v[b], v[c], v[d],\n'
        "               MIDIMON_ABI_COMPATIBLE(v[a], v[b], v[c], v[d]) ? 1 : 0);\n"
        "    return 0;\n}\n"
    )
    exe = tmp_path / "compat"
    flags = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", f"-I{ABI_DIR}"]
    subprocess.run([require_tool("gcc"), *flags, str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    rows = [tuple(map(int, line.split())) for line in out.splitlines()]
    assert len(rows) == len(values) ** 4
    for host_major, host_minor, plugin_major, plugin_minor, ok in rows:
        assert ok == int(plugin_major == host_major and plugin_minor <= host_minor)


def _c_layout(tmp_path: Path) -> dict[str, int]:
    """sizeof/offsetof of every member, and every constant, as the C compiler sees them."""
    ffi = abi_mod.ffi()
    lines = [
        '#include "midimon_plugin.h"',
        "#include <stdio.h>",
        "#include <stddef.h>",
        "int main(void) {",
    ]
    for struct in STRUCTS:
        lines.append(f'printf("sizeof {struct} %zu\\n", sizeof({struct}));')
        for member, _ in ffi.typeof(struct).fields:
            lines.append(
                f'printf("offsetof {struct}.{member} %zu\\n", offsetof({struct}, {member}));'
            )
    for name in abi_mod.abi().constants:
        lines.append(f'printf("const {name} %lld\\n", (long long)({name}));')
    lines += ["return 0; }"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run([require_tool("gcc"), f"-I{ABI_DIR}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {" ".join(line.split()[:2]): int(line.split()[2]) for line in out.splitlines()}


def test_cffi_declarations_match_the_compiler(tmp_path: Path) -> None:
    """Every struct size, member offset and constant cffi read agrees with gcc's view."""
    ffi = abi_mod.ffi()
    c = _c_layout(tmp_path)
    for struct in STRUCTS:
        assert ffi.sizeof(struct) == c[f"sizeof {struct}"], struct
        for member, _ in ffi.typeof(struct).fields:
            assert ffi.offsetof(struct, member) == c[f"offsetof {struct}.{member}"], member
    for name, value in abi_mod.abi().constants.items():
        assert value == c[f"const {name}"], name


def test_every_define_in_the_cdef_region_is_read() -> None:
    """No MIDIMON_* integer #define in the cdef region is silently dropped."""
    text = HEADER.read_text()
    region = text[text.index("/* MIDIMON_CDEF_BEGIN */") : text.index("/* MIDIMON_CDEF_END */")]
    defined = set(re.findall(r"#define\s+(MIDIMON_\w+)", region))
    assert defined == set(abi_mod.abi().constants)


def test_python_tables_mirror_the_header() -> None:
    """Capability bits and trigger kinds in Python equal the header's constants."""
    consts = abi_mod.abi().constants
    for cap, info in CAPABILITY_TABLE.items():
        assert consts[f"MIDIMON_CAP_{cap.name}"] == info.bit
    kinds = {
        k[len("MIDIMON_TRIGGER_") :]: v
        for k, v in consts.items()
        if k.startswith("MIDIMON_TRIGGER_")
    }
    assert kinds == {k.name: int(k) for k in TriggerKind}


def test_entry_point_declaration_is_taken_from_the_header() -> None:
    """The cffi declarations include _create_plugin, exactly as the header declares it."""
    ffi = abi_mod.ffi()
    assert "_create_plugin" in abi_mod.abi().cdef
    assert ffi.typeof("midimon_create_plugin_fn").result is ffi.typeof("midimon_plugin_t *")


def test_parse_header_rejects_unsupported_preprocessor_lines() -> None:
    """A macro cffi cannot read in the cdef region is an error, not a silent gap."""
    bad = "/* MIDIMON_CDEF_BEGIN */\n#define MIDIMON_X (1u << 3)\n/* MIDIMON_CDEF_END */\n"
    with pytest.raises(ValueError, match="unsupported preprocessor line"):
        abi_mod.parse_header(bad)


def test_status_names() -> None:
    """Status codes have readable names, unknown ones too."""
    assert abi_mod.status_name(0) == "OK"
    assert abi_mod.status_name(2) == "ERR_INVALID_PARAMS"
    assert abi_mod.status_name(99) == "status 99"


def test_precompiled_declarations_are_fresh_and_used() -> None:
    # The committed out-of-line module must be what the header gives now...
    assert abi_mod.GENERATED.read_text(encoding="utf-8") == abi_mod.generated_source(), (
        "midimon/plugins/loading/_abi_cffi.py is stale: run python -m midimon.plugins.loading.abi"
    )
    from midimon.plugins.loading import _abi_cffi

    # ...and it is the FFI midimon uses, so no process pays for pycparser.
    assert abi_mod.ffi() is _abi_cffi.ffi
    assert abi_mod.cdef_digest(abi_mod.abi().cdef) == _abi_cffi.CDEF_SHA256


def test_a_changed_header_is_parsed_not_taken_from_the_stale_module(tmp_path: Path) -> None:
    header = (ABI_DIR / "midimon_plugin.h").read_text(encoding="utf-8")
    grown = header.replace(
        "    int64_t wall_time_ms;", "    int64_t wall_time_ms;\n    int64_t extra;", 1
    )
    assert grown != header
    path = tmp_path / "midimon_plugin.h"
    path.write_text(grown, encoding="utf-8")
    changed = abi_mod._Abi(path)
    from midimon.plugins.loading import _abi_cffi

    assert changed.ffi is not _abi_cffi.ffi
    context = "midimon_trigger_context_t"
    assert changed.ffi.sizeof(context) == abi_mod.ffi().sizeof(context) + 8
