"""Which shared libraries a plugin binary asks the dynamic loader for (ELF, Mach-O, PE).

Pure Python over the bytes already read (``struct`` only, nothing is loaded or executed):

* ELF (32/64-bit, little/big endian): ``DT_NEEDED``, ``DT_RUNPATH``, ``DT_RPATH`` and
  ``DT_SONAME`` from the ``PT_DYNAMIC`` segment, the one the dynamic loader reads (section
  headers can be stripped or lie); string addresses are mapped through the ``PT_LOAD`` segments.
* Mach-O (32/64-bit, either byte order, and universal "fat" files): ``LC_LOAD_DYLIB`` and its
  weak, re-export, lazy and upward variants, ``LC_RPATH`` and ``LC_ID_DYLIB``.
* PE (PE32 and PE32+): the DLL names of the import directory and the delay-load directory.

Every offset, size and count is checked against the buffer; a truncated, corrupt or hostile
file raises :class:`BinaryFormatError` saying what is wrong and where, never another exception.
:func:`~midimon.plugins.loading.base_libraries.classify` then says which dependencies are
outside the platform's base libraries.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from midimon.plugins.errors import BinaryFormatError  # defined there; importable here too

__all__ = [
    "BinaryDependencies",
    "BinaryFormatError",
    "parse_dependencies",
]

#: More program headers, dynamic entries, load commands or imports than any real library has.
MAX_ENTRIES = 65536
#: Library names and search paths longer than this are refused as corrupt.
MAX_NAME_BYTES = 4096
#: Dependencies of one binary: more is corrupt (real plugins have a handful).
MAX_DEPENDENCIES = 1024


@dataclass(frozen=True)
class BinaryDependencies:
    """What a binary asks the dynamic loader for.

    ``format``: e.g. ``"ELF 64-bit little-endian"``, ``"Mach-O 64-bit"``, ``"PE32+"``.
    ``platform``: ``"linux"`` (ELF), ``"macos"`` (Mach-O) or ``"windows"`` (PE): whose base
    libraries ``base_libraries.classify`` compares against. ``needed``: library names in load order.
    ``runpath`` / ``rpath``: extra search folders the binary carries (ELF DT_RUNPATH / DT_RPATH;
    Mach-O LC_RPATH goes to ``rpath``). ``soname``: its own name (DT_SONAME / LC_ID_DYLIB).
    """

    format: str
    platform: str
    needed: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    soname: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "format": self.format,
            "platform": self.platform,
            "needed": list(self.needed),
            "runpath": list(self.runpath),
            "rpath": list(self.rpath),
            "soname": self.soname,
        }


def parse_dependencies(data: Any) -> BinaryDependencies:
    """The dependencies declared in ``data`` (bytes, bytearray, mmap or memoryview).

    Raises BinaryFormatError for an unknown format or a malformed file.
    """
    buf = _Buffer(data)
    magic = buf.raw(0, 4, "file magic")
    if magic == b"\x7fELF":
        return _parse_elf(buf)
    if magic in (
        b"\xfe\xed\xfa\xce",
        b"\xce\xfa\xed\xfe",
        b"\xfe\xed\xfa\xcf",
        b"\xcf\xfa\xed\xfe",
    ):
        return _parse_macho(buf, 0, buf.size)
    if magic in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        return _parse_fat(buf, magic == b"\xca\xfe\xba\xbf")
    if magic[:2] == b"MZ":
        return _parse_pe(buf)
    raise BinaryFormatError(f"not an ELF, Mach-O or PE file (starts with {magic.hex()})", 0)


# -- bounds-checked reading -----------------------------------------------------------------------


class _Buffer:
    """Checked reads from a bytes-like object: every failure is a BinaryFormatError."""

    def __init__(self, data: Any) -> None:
        try:
            self.view = memoryview(data).cast("B")
        except (TypeError, ValueError) as exc:
            raise BinaryFormatError(f"not a byte buffer: {exc}") from None
        self.size = len(self.view)

    def raw(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise BinaryFormatError(
                f"{what} runs past the end of the file ({length} bytes at offset {offset}, "
                f"file is {self.size} bytes)",
                offset,
            )
        return bytes(self.view[offset : offset + length])

    def unpack(self, fmt: str, offset: int, what: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.raw(offset, size, what))

    def cstring(self, offset: int, limit: int, what: str) -> str:
        """The NUL-terminated string at ``offset``, which must end before ``limit``."""
        limit = min(limit, self.size, offset + MAX_NAME_BYTES + 1)
        if offset < 0 or offset >= limit:
            raise BinaryFormatError(f"{what} is outside its table", offset)
        end = self.view[offset:limit].tobytes().find(b"\0")
        if end < 0:
            raise BinaryFormatError(f"{what} is not NUL-terminated within its table", offset)
        return _text(self.view[offset : offset + end].tobytes(), what, offset)


_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f-\x9f]*")


def _text(raw: bytes, what: str, offset: int) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BinaryFormatError(f"{what} is not UTF-8", offset) from None
    if not _PRINTABLE.fullmatch(text):
        raise BinaryFormatError(f"{what} contains control characters", offset)
    if not text:
        raise BinaryFormatError(f"{what} is empty", offset)
    return text


def _count(value: int, what: str, offset: int, limit: int = MAX_ENTRIES) -> int:
    if value > limit:
        raise BinaryFormatError(f"{what} is {value}, more than {limit}: corrupt", offset)
    return value


def _unique(items: list[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(items))
    if len(out) > MAX_DEPENDENCIES:
        raise BinaryFormatError(f"{len(out)} dependencies, more than {MAX_DEPENDENCIES}: corrupt")
    return out


# -- ELF ------------------------------------------------------------------------------------------

_PT_LOAD = 1
_PT_DYNAMIC = 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH = 0, 1, 5, 10, 14, 15
_DT_RUNPATH = 29
_PN_XNUM = 0xFFFF


def _parse_elf(buf: _Buffer) -> BinaryDependencies:
    ident = buf.raw(0, 16, "ELF identification")
    elf_class, encoding = ident[4], ident[5]
    if elf_class not in (1, 2):
        raise BinaryFormatError(f"ELF class {elf_class} is neither 32-bit (1) nor 64-bit (2)", 4)
    if encoding not in (1, 2):
        raise BinaryFormatError(f"ELF data encoding {encoding} is neither LSB (1) nor MSB (2)", 5)
    is64 = elf_class == 2
    end = "<" if encoding == 1 else ">"
    word = "Q" if is64 else "I"  # addresses, offsets and sizes
    fmt = f"{end}HHI{word}{word}{word}IHHHHHH"
    (_type, _machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum,
     shentsize, _shnum, _shstrndx) = buf.unpack(fmt, 16, "ELF header")  # fmt: skip
    name = f"ELF {'64' if is64 else '32'}-bit {'little' if end == '<' else 'big'}-endian"
    if phnum == _PN_XNUM:  # the real count is in section header 0's sh_info
        if shoff == 0 or shentsize < (64 if is64 else 40):
            raise BinaryFormatError("e_phnum is PN_XNUM but there is no section header 0", 16)
        info_at = shoff + (44 if is64 else 28)
        phnum = buf.unpack(f"{end}I", info_at, "section header 0 sh_info")[0]
    _count(phnum, "the program header count", 16)
    need = 56 if is64 else 32
    if phnum and phentsize < need:
        raise BinaryFormatError(f"program header size {phentsize} is below {need}", 16)
    # p_type, then (64) flags, offset, vaddr, paddr, filesz or (32) offset, vaddr, paddr, filesz
    ph_fmt = f"{end}IIQQQQ" if is64 else f"{end}IIIII"
    buf.raw(phoff, phnum * phentsize, "the program header table")
    loads: list[tuple[int, int, int]] = []  # (vaddr, filesz, offset)
    dynamic: tuple[int, int] | None = None
    for index in range(phnum):
        at = phoff + index * phentsize
        fields = buf.unpack(ph_fmt, at, f"program header {index}")
        if is64:
            p_type, _pflags, p_offset, p_vaddr, _paddr, p_filesz = fields
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = fields
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_filesz, p_offset))
        elif p_type == _PT_DYNAMIC and dynamic is None:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:  # statically linked: asks the loader for nothing
        return BinaryDependencies(name, "linux")
    return _elf_dynamic(buf, name, end, is64, dynamic, loads)


def _elf_dynamic(
    buf: _Buffer,
    name: str,
    end: str,
    is64: bool,
    dynamic: tuple[int, int],
    loads: list[tuple[int, int, int]],
) -> BinaryDependencies:
    offset, size = dynamic
    entsize = 16 if is64 else 8
    buf.raw(offset, size, "the PT_DYNAMIC segment")
    count = _count(size // entsize, "the dynamic entry count", offset)
    entry_fmt = f"{end}qQ" if is64 else f"{end}iI"
    tags: dict[int, list[int]] = {}
    for index in range(count):
        tag, value = buf.unpack(entry_fmt, offset + index * entsize, f"dynamic entry {index}")
        if tag == _DT_NULL:
            break
        if tag in (_DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME, _DT_RPATH, _DT_RUNPATH):
            tags.setdefault(tag, []).append(value)
    if not any(t in tags for t in (_DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_RUNPATH)):
        return BinaryDependencies(name, "linux")
    if _DT_STRTAB not in tags:
        raise BinaryFormatError("the dynamic section names libraries but has no DT_STRTAB", offset)
    strtab = _elf_file_offset(tags[_DT_STRTAB][0], loads, offset)
    strsz = tags.get(_DT_STRSZ, [buf.size - strtab])[0]
    limit = min(buf.size, strtab + strsz)

    def strings(tag: int, what: str) -> list[str]:
        found = []
        for value in tags.get(tag, []):
            found.append(buf.cstring(strtab + value, limit, f"{what} string at {value}"))
        return found

    needed = strings(_DT_NEEDED, "DT_NEEDED")
    sonames = strings(_DT_SONAME, "DT_SONAME")
    return BinaryDependencies(
        name,
        "linux",
        needed=_unique(needed),
        runpath=_unique(_split_paths(strings(_DT_RUNPATH, "DT_RUNPATH"))),
        rpath=_unique(_split_paths(strings(_DT_RPATH, "DT_RPATH"))),
        soname=sonames[0] if sonames else None,
    )


def _split_paths(values: list[str]) -> list[str]:
    return [part for value in values for part in value.split(":") if part]


def _elf_file_offset(address: int, loads: list[tuple[int, int, int]], at: int) -> int:
    for vaddr, filesz, offset in loads:
        if vaddr <= address < vaddr + filesz:
            return offset + (address - vaddr)
    raise BinaryFormatError(f"DT_STRTAB address 0x{address:x} is in no PT_LOAD segment", at)


# -- Mach-O ---------------------------------------------------------------------------------------

_LC_REQ_DYLD = 0x80000000
_LC_DYLIB_LOADS = {
    0xC: "LC_LOAD_DYLIB",
    0x18 | _LC_REQ_DYLD: "LC_LOAD_WEAK_DYLIB",
    0x1F | _LC_REQ_DYLD: "LC_REEXPORT_DYLIB",
    0x20: "LC_LAZY_LOAD_DYLIB",
    0x23 | _LC_REQ_DYLD: "LC_LOAD_UPWARD_DYLIB",
}
_LC_ID_DYLIB = 0xD
_LC_RPATH = 0x1C | _LC_REQ_DYLD
_MAX_FAT_ARCHS = 32  # also tells a universal binary from a Java class file (same magic)


def _parse_fat(buf: _Buffer, fat64: bool) -> BinaryDependencies:
    nfat = buf.unpack(">I", 4, "universal header")[0]
    if not 0 < nfat <= _MAX_FAT_ARCHS:
        raise BinaryFormatError(f"universal binary with {nfat} architectures: corrupt", 4)
    entry = ">iiQQII" if fat64 else ">iiIII"
    step = struct.calcsize(entry)
    merged: dict[str, list[str]] = {"needed": [], "runpath": [], "rpath": []}
    soname = None
    for index in range(nfat):
        fields = buf.unpack(entry, 8 + index * step, f"universal architecture {index}")
        offset, size = fields[2], fields[3]
        slice_deps = _parse_macho(buf, offset, size)
        merged["needed"] += slice_deps.needed
        merged["rpath"] += slice_deps.rpath
        soname = soname or slice_deps.soname
    return BinaryDependencies(
        f"Mach-O universal ({nfat} architectures)",
        "macos",
        needed=_unique(merged["needed"]),
        rpath=_unique(merged["rpath"]),
        soname=soname,
    )


def _parse_macho(buf: _Buffer, base: int, size: int) -> BinaryDependencies:
    buf.raw(base, size, "the Mach-O image")
    magic = buf.raw(base, 4, "Mach-O magic")
    if magic in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf"):
        end = ">"
    elif magic in (b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        end = "<"
    else:
        raise BinaryFormatError(f"not a Mach-O image (magic {magic.hex()})", base)
    is64 = magic in (b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
    header_size = 32 if is64 else 28
    _magic, _cpu, _sub, _filetype, ncmds, sizeofcmds, _flags = buf.unpack(
        f"{end}IiiIIII", base, "Mach-O header"
    )
    _count(ncmds, "the load command count", base + 16)
    start = base + header_size
    stop = start + sizeofcmds
    if stop > base + size:
        raise BinaryFormatError(
            f"load commands ({sizeofcmds} bytes) run past the end of the image", base + 20
        )
    needed: list[str] = []
    rpath: list[str] = []
    soname = None
    at = start
    for index in range(ncmds):
        if at + 8 > stop:
            raise BinaryFormatError(f"load command {index} starts past sizeofcmds", at)
        cmd, cmdsize = buf.unpack(f"{end}II", at, f"load command {index}")
        if cmdsize < 8 or at + cmdsize > stop:
            raise BinaryFormatError(f"load command {index} has a bad size {cmdsize}", at)
        if cmd in _LC_DYLIB_LOADS or cmd in (_LC_ID_DYLIB, _LC_RPATH):
            what = _LC_DYLIB_LOADS.get(cmd) or ("LC_RPATH" if cmd == _LC_RPATH else "LC_ID_DYLIB")
            name_offset = buf.unpack(f"{end}I", at + 8, what)[0]
            if name_offset < 12 or name_offset >= cmdsize:
                raise BinaryFormatError(f"{what} name offset {name_offset} is outside it", at)
            text = buf.cstring(at + name_offset, at + cmdsize, f"{what} name")
            if cmd == _LC_RPATH:
                rpath.append(text)
            elif cmd == _LC_ID_DYLIB:
                soname = soname or text
            else:
                needed.append(text)
        at += cmdsize
    return BinaryDependencies(
        f"Mach-O {'64' if is64 else '32'}-bit",
        "macos",
        needed=_unique(needed),
        rpath=_unique(rpath),
        soname=soname,
    )


# -- PE -------------------------------------------------------------------------------------------

_IMPORT_DIRECTORY = 1
_DELAY_IMPORT_DIRECTORY = 13


def _parse_pe(buf: _Buffer) -> BinaryDependencies:
    pe_offset = buf.unpack("<I", 0x3C, "e_lfanew")[0]
    if buf.raw(pe_offset, 4, "PE signature") != b"PE\0\0":
        raise BinaryFormatError("MZ file without a PE signature (a DOS program?)", pe_offset)
    coff = pe_offset + 4
    _machine, nsections, _ts, _symptr, _nsyms, opt_size, _chars = buf.unpack(
        "<HHIIIHH", coff, "COFF header"
    )
    optional = coff + 20
    opt_magic = buf.unpack("<H", optional, "optional header magic")[0]
    if opt_magic == 0x10B:
        name, dirs_at = "PE32", 96
    elif opt_magic == 0x20B:
        name, dirs_at = "PE32+", 112
    else:
        raise BinaryFormatError(f"unknown optional header magic 0x{opt_magic:x}", optional)
    if opt_size < dirs_at:
        raise BinaryFormatError(f"optional header of {opt_size} bytes is too small", coff + 16)
    ndirs = buf.unpack("<I", optional + dirs_at - 4, "NumberOfRvaAndSizes")[0]
    ndirs = min(ndirs, (opt_size - dirs_at) // 8)
    sections = []
    table = optional + opt_size
    for index in range(_count(nsections, "the section count", coff + 2, 96)):
        vsize, vaddr, raw_size, raw_ptr = buf.unpack(
            "<IIII", table + index * 40 + 8, f"section header {index}"
        )
        sections.append((vaddr, max(vsize, raw_size), raw_ptr, raw_size))

    def file_offset(rva: int, what: str) -> int:
        for vaddr, span, raw_ptr, raw_size in sections:
            if vaddr <= rva < vaddr + span and rva - vaddr < raw_size:
                return raw_ptr + (rva - vaddr)
        raise BinaryFormatError(f"{what} RVA 0x{rva:x} is in no section's file data")

    needed: list[str] = []
    for directory, entry_size, name_field in (
        (_IMPORT_DIRECTORY, 20, 12),
        (_DELAY_IMPORT_DIRECTORY, 32, 4),
    ):
        if directory >= ndirs:
            continue
        rva, dir_size = buf.unpack("<II", optional + dirs_at + 8 * directory, "data directory")
        if rva == 0 or dir_size == 0:
            continue
        what = "import directory" if directory == _IMPORT_DIRECTORY else "delay-import directory"
        at = file_offset(rva, what)
        for index in range(MAX_DEPENDENCIES + 1):
            entry = buf.raw(at + index * entry_size, entry_size, f"{what} entry {index}")
            if entry == bytes(entry_size):
                break
            if index == MAX_DEPENDENCIES:
                raise BinaryFormatError(f"{what} has no end within {MAX_DEPENDENCIES} entries", at)
            name_rva = struct.unpack_from("<I", entry, name_field)[0]
            name_at = file_offset(name_rva, f"{what} entry {index} name")
            needed.append(buf.cstring(name_at, buf.size, f"{what} entry {index} name"))
    return BinaryDependencies(name, "windows", needed=_unique(needed))
