"""binary_deps: the libraries a plugin binary needs, from ELF / Mach-O / PE bytes, safely."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from helpers import (
    ABI_DIR,
    TEST_PLUGIN_SOURCE,
    RunMidimon,
    compile_plugin,
    require_tool,
    write_manifest,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midimon.plugins.loading.base_libraries import classify  # parse, then classify
from midimon.plugins.loading.binary_deps import (
    BinaryDependencies,
    BinaryFormatError,
    parse_dependencies,
)

# -- builders for the formats no compiler here produces ------------------------------------------


def build_elf(
    *,
    is64: bool = True,
    little: bool = True,
    needed: tuple[str, ...] = ("libc.so.6",),
    runpath: str | None = None,
    rpath: str | None = None,
    soname: str | None = None,
) -> bytes:
    """A minimal shared object: ELF header, PT_LOAD over the file, PT_DYNAMIC, .dynstr."""
    e = "<" if little else ">"
    word = "Q" if is64 else "I"
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    base = 0x10000
    strtab = bytearray(b"\0")
    entries: list[tuple[int, int]] = []

    def add(tag: int, text: str) -> None:
        entries.append((tag, len(strtab)))
        strtab.extend(text.encode() + b"\0")

    for name in needed:
        add(1, name)
    if soname:
        add(14, soname)
    if rpath:
        add(15, rpath)
    if runpath:
        add(29, runpath)
    str_off = ehsize + 2 * phentsize
    dyn_off = (str_off + len(strtab) + 7) // 8 * 8
    entries += [(5, base + str_off), (10, len(strtab)), (0, 0)]
    dyn_fmt = f"{e}qQ" if is64 else f"{e}iI"
    dyn = b"".join(struct.pack(dyn_fmt, tag, value) for tag, value in entries)
    total = dyn_off + len(dyn)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1 if little else 2, 1]) + bytes(9)
    header = ident + struct.pack(
        f"{e}HHI{word}{word}{word}IHHHHHH", 3, 62, 1, 0, ehsize, 0, 0, ehsize, phentsize, 2, 0, 0, 0
    )

    def phdr(p_type: int, offset: int, size: int) -> bytes:
        if is64:
            return struct.pack(f"{e}IIQQQQQQ", p_type, 4, offset, base + offset, 0, size, size, 8)
        return struct.pack(f"{e}IIIIIIII", p_type, offset, base + offset, 0, size, size, 4, 4)

    image = header + phdr(1, 0, total) + phdr(2, dyn_off, len(dyn)) + bytes(strtab)
    return image + bytes(dyn_off - len(image)) + dyn


def build_macho(
    *,
    is64: bool = True,
    little: bool = True,
    needed: tuple[str, ...] = ("/usr/lib/libSystem.B.dylib",),
    rpath: tuple[str, ...] = (),
    install_name: str | None = None,
) -> bytes:
    """A Mach-O dylib header with LC_ID_DYLIB, LC_LOAD_DYLIB and LC_RPATH commands."""
    e = "<" if little else ">"
    align = 8 if is64 else 4

    def padded(text: str, fixed: int) -> bytes:
        raw = text.encode() + b"\0"
        return raw + bytes(-(fixed + len(raw)) % align)

    commands = []
    if install_name:
        name = padded(install_name, 24)
        commands.append(struct.pack(f"{e}IIIIII", 0xD, 24 + len(name), 24, 0, 0, 0) + name)
    for lib in needed:
        name = padded(lib, 24)
        commands.append(struct.pack(f"{e}IIIIII", 0xC, 24 + len(name), 24, 2, 0, 0) + name)
    for path in rpath:
        raw = padded(path, 12)
        commands.append(struct.pack(f"{e}III", 0x8000001C, 12 + len(raw), 12) + raw)
    body = b"".join(commands)
    magic = 0xFEEDFACF if is64 else 0xFEEDFACE
    header = struct.pack(f"{e}IiiIIII", magic, 7, 3, 6, len(commands), len(body), 0)
    return header + (bytes(4) if is64 else b"") + body


def build_fat(*slices: bytes) -> bytes:
    """A universal binary holding ``slices``, each at a 4 KiB boundary."""
    offsets, at = [], 4096
    for piece in slices:
        offsets.append(at)
        at += (len(piece) + 4095) // 4096 * 4096
    out = bytearray(struct.pack(">II", 0xCAFEBABE, len(slices)))
    for piece, offset in zip(slices, offsets, strict=True):
        out += struct.pack(">iiIII", 7, 3, offset, len(piece), 12)
    for piece, offset in zip(slices, offsets, strict=True):
        out += bytes(offset - len(out)) + piece
    return bytes(out)


def build_pe(*, plus: bool = True, dlls: tuple[str, ...] = ("KERNEL32.dll",)) -> bytes:
    """A PE image with one section holding the import directory and the DLL names."""
    dirs_at = 112 if plus else 96
    opt_size = dirs_at + 16 * 8
    rva = 0x1000
    descriptors = len(dlls) + 1
    names = bytearray()
    name_rvas = []
    for dll in dlls:
        name_rvas.append(rva + descriptors * 20 + len(names))
        names += dll.encode() + b"\0"
    section = b"".join(struct.pack("<IIIII", 0, 0, 0, name_rvas[i], 0) for i in range(len(dlls)))
    section += bytes(20) + bytes(names)
    raw_ptr = 0x200
    optional = bytearray(opt_size)
    struct.pack_into("<H", optional, 0, 0x20B if plus else 0x10B)
    struct.pack_into("<I", optional, dirs_at - 4, 16)
    struct.pack_into("<II", optional, dirs_at + 8, rva, len(section))
    headers = bytearray(64)
    headers[:2] = b"MZ"
    struct.pack_into("<I", headers, 0x3C, 64)
    headers += b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, opt_size, 0x2022)
    headers += optional
    headers += b".idata\0\0" + struct.pack("<IIII", len(section), rva, len(section), raw_ptr)
    headers += bytes(16)
    return bytes(headers) + bytes(raw_ptr - len(headers)) + section


# -- real plugins compiled here -------------------------------------------------------------------


def _gcc_plugin(out: Path, *link_flags: str) -> Path:
    """The test plugin, linked with ``link_flags`` (kept even when unused: --no-as-needed)."""
    gcc = require_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(TEST_PLUGIN_SOURCE)
    command = [gcc, "-std=c99", "-shared", "-fPIC", f"-I{ABI_DIR}", str(src), "-o", str(out)]
    subprocess.run(
        [*command, "-Wl,--no-as-needed", *link_flags],
        check=True,
        capture_output=True,
    )
    return out


def test_plain_plugin_needs_only_base_libraries(tmp_path: Path) -> None:
    """A plain C plugin needs libc only, and nothing is worth a warning."""
    so = compile_plugin(tmp_path / "plain.so")
    deps = parse_dependencies(so.read_bytes())
    assert deps.format == "ELF 64-bit little-endian" and deps.platform == "linux"
    assert "libc.so.6" in deps.needed
    assert deps.runpath == deps.rpath == ()
    assert classify(deps) == []


def test_plugin_linked_with_zlib_and_libm(tmp_path: Path) -> None:
    """-lz -lm: both listed in link order; libz is flagged as not a base library, libm is not."""
    so = _gcc_plugin(tmp_path / "z.so", "-lz", "-lm")
    deps = parse_dependencies(so.read_bytes())
    assert {"libz.so.1", "libm.so.6", "libc.so.6"} <= set(deps.needed)
    assert deps.needed.index("libz.so.1") < deps.needed.index("libm.so.6")
    notes = classify(deps)
    assert [(n.library, n.kind) for n in notes] == [("libz.so.1", "not-base")]
    assert "users must install it" in notes[0].reason


def test_runpath_and_rpath_are_read_and_flagged(tmp_path: Path) -> None:
    """-rpath gives DT_RUNPATH (new dtags) or DT_RPATH (old); each entry gets a note."""
    new = parse_dependencies(
        _gcc_plugin(
            tmp_path / "n.so", "-Wl,-rpath,/opt/a:/opt/b", "-Wl,--enable-new-dtags"
        ).read_bytes()
    )
    assert new.runpath == ("/opt/a", "/opt/b") and new.rpath == ()
    old = parse_dependencies(
        _gcc_plugin(
            tmp_path / "o.so", "-Wl,-rpath,$ORIGIN/lib", "-Wl,--disable-new-dtags"
        ).read_bytes()
    )
    assert old.rpath == ("$ORIGIN/lib",) and old.runpath == ()
    kinds = [(n.library, n.kind) for n in classify(old)]
    assert kinds == [("$ORIGIN/lib", "search-path")]


def test_soname_is_reported(tmp_path: Path) -> None:
    """-soname lands in DT_SONAME."""
    so = _gcc_plugin(tmp_path / "s.so", "-Wl,-soname,libmine.so.3")
    assert parse_dependencies(so.read_bytes()).soname == "libmine.so.3"


@pytest.mark.parametrize("is64", [True, False])
@pytest.mark.parametrize("little", [True, False])
def test_elf_classes_and_byte_orders(is64: bool, little: bool) -> None:
    """32/64-bit and little/big-endian ELF all parse to the same answer."""
    data = build_elf(
        is64=is64,
        little=little,
        needed=("libc.so.6", "libfoo.so.2"),
        runpath="/x:/y",
        soname="libp.so",
    )
    deps = parse_dependencies(data)
    bits = "64" if is64 else "32"
    assert deps.format == f"ELF {bits}-bit {'little' if little else 'big'}-endian"
    assert deps.needed == ("libc.so.6", "libfoo.so.2")
    assert deps.runpath == ("/x", "/y") and deps.soname == "libp.so"


@pytest.mark.parametrize("is64", [True, False])
@pytest.mark.parametrize("little", [True, False])
def test_macho_load_commands(is64: bool, little: bool) -> None:
    """LC_LOAD_DYLIB, LC_RPATH and LC_ID_DYLIB, both widths and byte orders."""
    data = build_macho(
        is64=is64,
        little=little,
        needed=("/usr/lib/libSystem.B.dylib", "@rpath/libfoo.dylib"),
        rpath=("@loader_path/../lib",),
        install_name="@rpath/libplug.dylib",
    )
    deps = parse_dependencies(data)
    assert deps.platform == "macos"
    assert deps.needed == ("/usr/lib/libSystem.B.dylib", "@rpath/libfoo.dylib")
    assert deps.rpath == ("@loader_path/../lib",) and deps.soname == "@rpath/libplug.dylib"
    kinds = [(n.library, n.kind) for n in classify(deps)]
    assert kinds == [("@rpath/libfoo.dylib", "not-base"), ("@loader_path/../lib", "search-path")]


def test_macho_universal_binary_merges_its_slices() -> None:
    """A fat file lists the union of its architectures' dependencies."""
    data = build_fat(build_macho(needed=("/usr/lib/libSystem.B.dylib",)), build_macho(
        little=True, needed=("/usr/lib/libSystem.B.dylib", "/opt/lib/libx.dylib")
    ))  # fmt: skip
    deps = parse_dependencies(data)
    assert deps.format == "Mach-O universal (2 architectures)"
    assert deps.needed == ("/usr/lib/libSystem.B.dylib", "/opt/lib/libx.dylib")


@pytest.mark.parametrize("plus", [True, False])
def test_pe_imports(plus: bool) -> None:
    """PE32 and PE32+ import directories; the VC++ runtime gets a note, KERNEL32 none."""
    deps = parse_dependencies(
        build_pe(plus=plus, dlls=("KERNEL32.dll", "VCRUNTIME140.dll", "zlib1.dll"))
    )
    assert deps.format == ("PE32+" if plus else "PE32") and deps.platform == "windows"
    assert deps.needed == ("KERNEL32.dll", "VCRUNTIME140.dll", "zlib1.dll")
    kinds = [(n.library, n.kind) for n in classify(deps)]
    assert kinds == [("VCRUNTIME140.dll", "runtime"), ("zlib1.dll", "not-base")]


# -- hostile and broken files ---------------------------------------------------------------------


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "file magic runs past the end"),
        (b"\x7fEL", "file magic runs past the end"),
        (b"#!/bin/sh\necho hi\n", "not an ELF, Mach-O or PE file"),
        (b"\x7fELF" + bytes([3, 1]) + bytes(58), "ELF class 3"),
        (b"\x7fELF" + bytes([2, 9]) + bytes(58), "ELF data encoding 9"),
        (b"\x7fELF\x02\x01\x01" + bytes(20), "ELF header runs past the end"),
        (_patched(build_elf(), 32, "<Q", 2**62), "program header table runs past the end"),
        (_patched(build_elf(), 56, "<H", 0xFFFE), "program header table runs past the end"),
        (_patched(build_elf(), 54, "<H", 8), "program header size 8 is below 56"),
        (_patched(build_elf(), 56, "<H", 0xFFFF), "PN_XNUM"),
        # PT_DYNAMIC p_filesz (second program header, at 64 + 56 + 32): past the end
        (_patched(build_elf(), 64 + 56 + 32, "<Q", 2**40), "PT_DYNAMIC segment runs past the end"),
        (b"MZ" + bytes(56), "e_lfanew runs past the end"),
        (b"MZ" + bytes(58) + struct.pack("<I", 1000), "PE signature runs past the end"),
        (b"MZ" + bytes(58) + struct.pack("<I", 0), "without a PE signature"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x41", "universal binary with 65 architectures"),
        (b"\xcf\xfa\xed\xfe" + bytes(12) + struct.pack("<II", 10**6, 0) + bytes(8), "load command"),
        (
            b"\xcf\xfa\xed\xfe" + bytes(12) + struct.pack("<II", 1, 2**31) + bytes(8),
            "run past the end",
        ),
    ],
)
def test_broken_headers_give_a_clear_error(data: bytes, message: str) -> None:
    """Truncated, garbage and hostile headers raise BinaryFormatError naming the fault."""
    with pytest.raises(BinaryFormatError, match=message.replace("+", r"\+")):
        parse_dependencies(data)


def test_dangling_string_offsets_are_refused() -> None:
    """DT_STRTAB outside every PT_LOAD, a name offset past DT_STRSZ, a name without NUL."""
    good = build_elf(needed=("libc.so.6",))
    dyn_off = len(good) - 4 * 16  # NEEDED, STRTAB, STRSZ, NULL
    with pytest.raises(BinaryFormatError, match="in no PT_LOAD segment"):
        parse_dependencies(_patched(good, dyn_off + 16 + 8, "<Q", 0xDEAD0000))
    with pytest.raises(BinaryFormatError, match="outside its table"):
        parse_dependencies(_patched(good, dyn_off + 8, "<Q", 5000))
    with pytest.raises(BinaryFormatError, match="not NUL-terminated"):
        parse_dependencies(_patched(good, dyn_off + 32 + 8, "<Q", 4))  # DT_STRSZ cuts the name


def test_control_characters_in_names_are_refused() -> None:
    """A library name that would write escape sequences to a terminal is an error."""
    with pytest.raises(BinaryFormatError, match="control characters"):
        parse_dependencies(build_elf(needed=("lib\x1b[2Jx.so",)))


def test_every_truncation_of_a_real_plugin_parses_or_fails_cleanly(tmp_path: Path) -> None:
    """Cutting a real plugin anywhere in its headers or dynamic data never raises otherwise."""
    data = compile_plugin(tmp_path / "cut.so").read_bytes()
    full = parse_dependencies(data)
    for cut in range(0, min(len(data), 16384), 7):
        try:
            deps = parse_dependencies(data[:cut])
        except BinaryFormatError as exc:
            assert str(exc)
        else:
            assert isinstance(deps, BinaryDependencies)
    assert parse_dependencies(data) == full


SEEDS = [
    build_elf(),
    build_elf(is64=False, little=False, needed=("a.so", "b.so"), runpath="/r"),
    build_macho(rpath=("/r",)),
    build_macho(is64=False, little=False),
    build_fat(build_macho()),
    build_pe(),
    build_pe(plus=False),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    """Random bytes: a BinaryDependencies or a BinaryFormatError, nothing else."""
    _parse_or_format_error(data)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=12),
    st.integers(0, 1 << 16),
)
def test_fuzz_mutated_headers(seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """Valid files with bytes overwritten and a random length: only BinaryFormatError."""
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    _parse_or_format_error(bytes(data[: max(cut, len(data) // 2)]))


def _parse_or_format_error(data: bytes) -> None:
    try:
        deps = parse_dependencies(data)
    except BinaryFormatError as exc:
        assert str(exc)
    else:
        assert isinstance(deps, BinaryDependencies)
        classify(deps)


# -- midimon verify shows them -------------------------------------------------------------------


def test_verify_lists_dependencies_and_warns(tmp_path: Path, run_midimon: RunMidimon) -> None:
    """verify --json carries the libraries and warnings; the text form lists them too."""
    folder = tmp_path / "plugins" / "zdeps"
    folder.mkdir(parents=True)
    _gcc_plugin(folder / "plugin.so", '-DP_NAME="zdeps"', "-lz")
    write_manifest(folder, "zdeps")
    done = run_midimon("verify", folder, "--json", "--allow-unsigned")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    deps = report["dependencies"]
    assert "libz.so.1" in deps["needed"] and "libc.so.6" in deps["needed"]
    assert deps["format"] == "ELF 64-bit little-endian"
    assert [w["library"] for w in deps["warnings"]] == ["libz.so.1"]
    assert any(c["name"] == "dependency warning" and c["ok"] for c in report["checks"])
    text = run_midimon("verify", folder, "--allow-unsigned").stdout
    assert "libraries:" in text and "libz.so.1" in text
    assert "[ok  ] dependency warning: libz.so.1: not a base linux library" in text


def test_verify_fails_cleanly_on_a_non_library(tmp_path: Path, run_midimon: RunMidimon) -> None:
    """A 'binary' that is a shell script: a failed dependencies check, no traceback."""
    folder = tmp_path / "plugins" / "script"
    folder.mkdir(parents=True)
    (folder / "plugin.so").write_bytes(b"#!/bin/sh\necho not a library\n")
    write_manifest(folder, "script")
    done = run_midimon("verify", folder, "--json", "--allow-unsigned")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert "not an ELF, Mach-O or PE file" in report["dependencies"]["error"]
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert "dependencies" in failed
