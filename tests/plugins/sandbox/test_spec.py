"""What a worker may read and write: system defaults, what each granted capability adds, then the
grants."""

from __future__ import annotations

import os
from pathlib import Path

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.sandbox.spec import SandboxSpec, default_read_paths, sandbox_paths

NOTHING: frozenset[Capability] = frozenset()


def test_sandbox_paths_include_defaults_and_grants(tmp_path: Path) -> None:
    """Read paths: system defaults, capability extras, then the spec's; /dev/null writable."""
    spec = SandboxSpec(
        granted=frozenset({Capability.SUBPROCESS}),
        read_paths=(tmp_path,),
        write_paths=(tmp_path / "w",),
    )
    reads, writes = sandbox_paths(spec)
    assert reads[-1] == tmp_path and Path("/usr/lib") in reads
    assert Path("/usr/bin") in reads
    assert writes == (Path("/dev/null"), tmp_path / "w")
    assert Path("/usr/bin") not in sandbox_paths(SandboxSpec(granted=NOTHING))[0]


def test_only_paths_that_exist_are_given(tmp_path: Path) -> None:
    """Defaults missing on this machine are left out (Landlock cannot add a missing path);
    the spec's own paths are passed on as given, the worker reports those it cannot add."""
    defaults = default_read_paths()
    assert defaults and all(os.path.lexists(p) for p in defaults)
    assert Path("/lib32-does-not-exist") not in defaults
    missing = tmp_path / "not-there"
    reads, _ = sandbox_paths(SandboxSpec(granted=NOTHING, read_paths=(missing,)))
    assert reads[-1] == missing


def test_each_path_appears_once_in_grant_order(tmp_path: Path) -> None:
    """A path given twice (a grant repeating a default) is kept once, where it came first."""
    spec = SandboxSpec(
        granted=frozenset({Capability.NETWORK, Capability.SUBPROCESS}),
        read_paths=(Path("/usr/lib"), tmp_path, tmp_path),
        write_paths=(Path("/dev/null"), tmp_path),
    )
    reads, writes = sandbox_paths(spec)
    assert len(reads) == len(set(reads)) and len(writes) == len(set(writes))
    assert reads.index(Path("/usr/lib")) < reads.index(tmp_path) == len(reads) - 1
    assert writes == (Path("/dev/null"), tmp_path)
    if Path("/etc/hosts").exists():  # Network's resolver files come before Subprocess's bins
        assert reads.index(Path("/etc/hosts")) < reads.index(Path("/usr/bin"))
    assert Path("/etc/hosts") not in sandbox_paths(SandboxSpec(granted=NOTHING))[0]


def test_the_default_limits() -> None:
    """A spec without limits gets 256 MiB of address space, 64 more tasks, 256 open files,
    and the kernel sandbox on."""
    spec = SandboxSpec(granted=NOTHING)
    assert (spec.address_space, spec.max_processes, spec.max_open_files) == (
        256 * 1024 * 1024, 64, 256
    )
    assert spec.kernel_sandbox and spec.read_paths == () and spec.write_paths == ()
