"""The C ABI as Python sees it: cffi declarations read from ``abi/midimon_plugin.h`` itself.

The header's region between ``MIDIMON_CDEF_BEGIN`` and ``MIDIMON_CDEF_END`` holds plain
typedefs, structs and ``#define NAME <integer>`` constants. This module strips comments and
preprocessor lines from it, hands the rest to cffi, and collects the constants, so the header is
the one source of truth (tests/plugins/test_abi.py compiles the header and compares layouts).

Parsing declarations at run time needs pycparser: ~3 MiB and tens of milliseconds in every
process that touches a plugin. So ``_abi_cffi.py`` next to this file holds the same
declarations precompiled by cffi (out-of-line ABI mode, no C compiler involved), stamped with
the SHA-256 of the declarations it was made from. It is used only when that stamp matches the
header read now; otherwise the header is parsed as before. Regenerate it after editing the
header with ``python -m midimon.plugins.loading.abi``; a test fails while it is stale.
"""

from __future__ import annotations

import hashlib
import re
import sys
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from midimon.paths import abi_header_path

GENERATED = Path(__file__).with_name("_abi_cffi.py")

_BEGIN = "/* MIDIMON_CDEF_BEGIN */"
_END = "/* MIDIMON_CDEF_END */"
_DEFINE = re.compile(r"^\s*#\s*define\s+(MIDIMON_[A-Z0-9_]+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))\s*$")
_ENTRY_DECL = re.compile(r"^\s*MIDIMON_EXPORT\s+(.+;)\s*$")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", text)


def parse_header(text: str) -> tuple[str, dict[str, int]]:
    """Split the header into (cdef source, integer constants).

    The cdef source is the CDEF region without preprocessor lines, plus the entry point's
    declaration with its export macro removed.
    """
    try:
        start = text.index(_BEGIN)
        end = text.index(_END, start)
    except ValueError:
        raise ValueError(f"header has no {_BEGIN} ... {_END} region") from None
    region = _strip_comments(text[start + len(_BEGIN) : end])
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
    for line in _strip_comments(text[end:]).splitlines():
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
        except ImportError:
            pass  # not generated: parse the declarations below
        else:
            if getattr(_abi_cffi, "CDEF_SHA256", None) == cdef_digest(self.cdef):
                return _abi_cffi.ffi
        import cffi

        ffi = cffi.FFI()
        ffi.cdef(self.cdef)
        return ffi

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


def cdef_digest(cdef: str) -> str:
    """SHA-256 of cdef source, the stamp of the precompiled module."""
    return hashlib.sha256(cdef.encode("utf-8")).hexdigest()


def generated_source(header: Path | None = None) -> str:
    """The text of ``_abi_cffi.py`` for ``header`` (default: the one midimon uses)."""
    import tempfile

    import cffi

    cdef, _ = parse_header((header or abi_header_path()).read_text(encoding="utf-8"))
    builder = cffi.FFI()
    builder.cdef(cdef)
    builder.set_source("midimon.plugins.loading._abi_cffi", None)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "module.py"
        builder.emit_python_code(str(out))
        code = out.read_text(encoding="utf-8")
    return (
        "# Generated by `python -m midimon.plugins.loading.abi` from abi/midimon_plugin.h:"
        " do not edit.\n"
        "# ruff: noqa\n" + code + f"\nCDEF_SHA256 = {cdef_digest(cdef)!r}\n"
    )


if __name__ == "__main__":
    GENERATED.write_text(generated_source(), encoding="utf-8")
    print(f"wrote {GENERATED}", file=sys.stderr)
