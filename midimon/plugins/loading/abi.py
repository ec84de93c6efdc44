"""The C ABI as Python sees it: cffi declarations read from ``abi/midimon_plugin.h`` itself.

The header's region between ``MIDIMON_CDEF_BEGIN`` and ``MIDIMON_CDEF_END`` holds plain
typedefs, structs and ``#define NAME <integer>`` constants. This module strips comments and
preprocessor lines from it, hands the rest to cffi, and collects the constants, so the header is
the one source of truth (tests/plugins/loading/test_abi.py compiles the header and compares
layouts).

Parsing declarations at run time needs pycparser, which costs memory and time in every
process that touches a plugin (see benchmarks/README.md, costs). So ``_abi_cffi.py`` next to
this file holds the same declarations precompiled by cffi (out-of-line ABI mode, no C compiler
involved), stamped with the SHA-256 of the declarations it was made from. It is used only when
that stamp matches the header read now; otherwise the header is parsed as before. Regenerate it
after editing the header with ``python -m midimon.plugins.loading.abi``; a test fails while it
is stale.
"""

from __future__ import annotations

import re
import sys
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from midimon.cdef import cdef_digest as cdef_digest  # importable here as before
from midimon.cdef import ffi_for, marked_region, strip_comments
from midimon.cdef import generated_source as generated_source_for
from midimon.paths import abi_header_path

GENERATED = Path(__file__).with_name("_abi_cffi.py")

_BEGIN = "/* MIDIMON_CDEF_BEGIN */"
_END = "/* MIDIMON_CDEF_END */"
_DEFINE = re.compile(r"^\s*#\s*define\s+(MIDIMON_[A-Z0-9_]+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))\s*$")
_ENTRY_DECL = re.compile(r"^\s*MIDIMON_EXPORT\s+(.+;)\s*$")


def parse_header(text: str) -> tuple[str, dict[str, int]]:
    """Split the header into (cdef source, integer constants).

    The cdef source is the CDEF region without preprocessor lines, plus the entry point's
    declaration with its export macro removed.
    """
    raw, end = marked_region(text, _BEGIN, _END)
    region = strip_comments(raw)
    constants: dict[str, int] = {}
    decls: list[str] = []
    for line in region.splitlines():
        match = _DEFINE.match(line)
        if match:
            constants[match.group(1)] = int(match.group(2), 0)
        elif line.lstrip().startswith("#"):
            raise ValueError(f"unsupported preprocessor line in cdef region: {line.strip()!r}")
        else:
            decls.append(line)
    for line in strip_comments(text[end:]).splitlines():
        match = _ENTRY_DECL.match(line)
        if match:
            decls.append(match.group(1))
    return "\n".join(decls), constants


class _Abi:
    """The loaded header: its constants at once, its cffi declarations on first use."""

    def __init__(self, header: Path) -> None:
        self.header = header
        self.cdef, self.constants = parse_header(header.read_text(encoding="utf-8"))
        self.major = self.constants["MIDIMON_ABI_MAJOR"]
        self.minor = self.constants["MIDIMON_ABI_MINOR"]

    @cached_property
    def ffi(self) -> Any:
        """An FFI holding the header's declarations (built lazily: discovery never needs it):
        the precompiled one when it was made from these declarations, else parsed now."""
        try:
            from midimon.plugins.loading import _abi_cffi
        except ImportError:  # not generated: the declarations are parsed
            return ffi_for(self.cdef, None)
        return ffi_for(self.cdef, _abi_cffi)

    @cached_property
    def min_plugin_size(self) -> int:
        """MIDIMON_PLUGIN_V1_0_SIZE: the struct up to its last ABI 1.0 member (get_extension).

        Not sizeof(midimon_plugin_t), which grows as later minors append members.
        """
        ffi = self.ffi  # untyped (cffi): int() says what offsetof + sizeof give
        return int(ffi.offsetof("midimon_plugin_t", "get_extension") + ffi.sizeof("void *"))


@cache
def abi() -> _Abi:
    """The host's view of the ABI, parsed once per process."""
    return _Abi(abi_header_path())


def ffi() -> Any:
    """The shared FFI object with the header's declarations."""
    return abi().ffi


def constant(name: str) -> int:
    """A ``MIDIMON_*`` constant from the header."""
    return abi().constants[name]


def status_name(status: int) -> str:
    """``OK``, ``ERR_FAILED``, ... for a status code; ``status 42`` for an unknown one."""
    for key, value in abi().constants.items():
        if value == status and (key == "MIDIMON_OK" or key.startswith("MIDIMON_ERR_")):
            return key.removeprefix("MIDIMON_")
    return f"status {status}"


def abi_version() -> str:
    """The host's ABI version as ``major.minor``."""
    return f"{abi().major}.{abi().minor}"


def generated_source(header: Path | None = None) -> str:
    """The text of ``_abi_cffi.py`` for ``header`` (default: the one midimon uses)."""
    cdef, _ = parse_header((header or abi_header_path()).read_text(encoding="utf-8"))
    return generated_source_for(
        cdef,
        "midimon.plugins.loading._abi_cffi",
        "`python -m midimon.plugins.loading.abi` from abi/midimon_plugin.h",
    )


if __name__ == "__main__":
    GENERATED.write_text(generated_source(), encoding="utf-8")
    print(f"wrote {GENERATED}", file=sys.stderr)
