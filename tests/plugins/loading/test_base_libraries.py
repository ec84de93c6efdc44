"""base_libraries: which dependencies of a plugin binary a user's system may lack (each
platform's base libraries, compiler runtimes, search paths); parsing them is test_binary_deps."""

from __future__ import annotations

import pytest

from midimon.plugins.loading.base_libraries import DependencyNote, classify
from midimon.plugins.loading.binary_deps import BinaryDependencies


def kinds(deps: BinaryDependencies) -> list[tuple[str, str]]:
    return [(note.library, note.kind) for note in classify(deps)]


@pytest.mark.parametrize(
    ("platform", "needed"),
    [
        ("linux", ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
                   "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-musl-x86_64.so.1",
                   "libc.musl-x86_64.so.1", "linux-vdso.so.1", "libmvec.so.1")),
        ("macos", ("/usr/lib/libSystem.B.dylib", "/usr/lib/libc++.1.dylib",
                   "/System/Library/Frameworks/CoreMIDI.framework/Versions/A/CoreMIDI")),
        ("windows", ("KERNEL32.dll", "ntdll.dll", "ucrtbase.dll",
                     "api-ms-win-crt-runtime-l1-1-0.dll")),
    ],
)  # fmt: skip
def test_each_platforms_base_libraries_need_no_note(platform: str, needed: tuple[str, ...]) -> None:
    """What every system of the platform has (glibc, musl, the vDSO; libSystem and the system
    frameworks; the Windows system DLLs) is worth no warning."""
    assert classify(BinaryDependencies("test", platform, needed=needed)) == []


def test_compiler_runtimes_get_a_runtime_note() -> None:
    """The GCC runtime is common but not base: a 'runtime' note with the reason; the VC++
    runtime too; the base libraries beside them get nothing."""
    linux = BinaryDependencies(
        "ELF 64-bit little-endian",
        "linux",
        needed=("libstdc++.so.6", "libgcc_s.so.1", "libm.so.6", "ld-linux-x86-64.so.2"),
    )
    notes = classify(linux)
    assert [(n.library, n.kind) for n in notes] == [
        ("libstdc++.so.6", "runtime"),
        ("libgcc_s.so.1", "runtime"),
    ]
    assert "not part of the C library" in notes[0].reason
    windows = BinaryDependencies("PE32+", "windows", needed=("MSVCP140.dll", "vcruntime140_1.dll"))
    assert kinds(windows) == [("MSVCP140.dll", "runtime"), ("vcruntime140_1.dll", "runtime")]
    assert "redistributable" in classify(windows)[0].reason


def test_anything_else_is_not_base_and_says_what_to_do() -> None:
    """A library outside the base set is 'not-base', naming the platform and the fix; a name
    that only contains a base library's name is not taken for it."""
    deps = BinaryDependencies("ELF", "linux", needed=("libz.so.1", "libc.so.6", "libcx.so.6"))
    notes = classify(deps)
    assert [(n.library, n.kind) for n in notes] == [
        ("libz.so.1", "not-base"),
        ("libcx.so.6", "not-base"),
    ]
    assert "not a base linux library" in notes[0].reason
    assert "prefer linking it statically" in notes[0].reason
    assert kinds(BinaryDependencies("Mach-O", "macos", needed=("/usr/lib/libcurl.4.dylib",))) == [
        ("/usr/lib/libcurl.4.dylib", "not-base")
    ]


def test_an_unknown_platform_has_no_base_libraries() -> None:
    """With no table for the platform, every dependency is flagged."""
    deps = BinaryDependencies("other", "plan9", needed=("libc.so.6",))
    assert kinds(deps) == [("libc.so.6", "not-base")]


def test_search_paths_are_flagged_after_the_libraries_in_order() -> None:
    """Each RUNPATH, then each RPATH entry gets a 'search-path' note saying which it is."""
    deps = BinaryDependencies(
        "ELF", "linux", needed=("libc.so.6",), runpath=("/opt/a", "/opt/b"), rpath=("$ORIGIN",)
    )
    notes = classify(deps)
    assert [(n.library, n.kind) for n in notes] == [
        ("/opt/a", "search-path"),
        ("/opt/b", "search-path"),
        ("$ORIGIN", "search-path"),
    ]
    assert notes[0].reason.startswith("RUNPATH entry") and notes[2].reason.startswith("RPATH")


def test_notes_compare_by_library_and_kind() -> None:
    """Two notes about the same library and kind are equal whatever the wording."""
    first = DependencyNote("libz.so.1", "not-base", "one wording")
    assert first == DependencyNote("libz.so.1", "not-base", "another")
    assert first != DependencyNote("libz.so.1", "runtime", "one wording")
