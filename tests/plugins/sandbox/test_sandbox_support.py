"""What `plugins info` promises before any worker runs: the limits from the settings, and
only what this kernel can enforce (read from this very machine)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.sandbox.sandbox_support import enforcement_preview, kernel_support
from midimon.plugins.settings import ExecutionSettings

NOTHING: frozenset[Capability] = frozenset()
SETTINGS = ExecutionSettings(timeout=1.5, memory_mb=128, max_open_files=64, max_processes=8,
                             max_crashes=5, crash_window=30.0)  # fmt: skip


def test_kernel_support_matches_this_machine() -> None:
    """Linux is seen as Linux; seccomp is reported exactly when /proc says the kernel has it."""
    support = kernel_support()
    assert support.linux == sys.platform.startswith("linux")
    if support.linux:
        status = Path("/proc/self/status").read_text()
        assert support.seccomp == ("Seccomp:" in status)
        assert support.landlock_abi >= 0
    assert kernel_support() is support  # probed once


def test_limits_come_from_the_settings() -> None:
    """Timeout, crash policy and rlimits are the plugin's own settings."""
    lines = enforcement_preview(SETTINGS, NOTHING)
    assert lines[0] == (
        "separate worker process; per-call timeout 1.5 s (worker killed past it); crashes "
        "restart it; over 5 crashes in 30 s disable the plugin"
    )
    assert lines[1].startswith("rlimits: address space 128 MiB, open files 64, processes 8")


def test_in_process_promises_nothing() -> None:
    """In-process: one line saying there is no sandbox and capabilities are advisory."""
    lines = enforcement_preview(dataclasses.replace(SETTINGS, isolation="in-process"), NOTHING)
    assert len(lines) == 1 and "no sandbox" in lines[0] and "advisory" in lines[0]


def test_kernel_sandbox_off_says_so() -> None:
    """With kernel_sandbox = false nothing about Landlock or seccomp is promised."""
    lines = enforcement_preview(dataclasses.replace(SETTINGS, kernel_sandbox=False), NOTHING)
    assert lines[-1].endswith("capabilities are advisory")
    assert not any("Landlock" in line or "seccomp" in line for line in lines)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux kernel features")
def test_grants_change_what_is_promised() -> None:
    """Without grants execve/fork and inet sockets are denied and files are read-only; with
    Subprocess, Network and Filesystem granted those lines change; each line only as far as
    this kernel's Landlock and seccomp reach."""
    support = kernel_support()
    bare = "\n".join(enforcement_preview(SETTINGS, NOTHING))
    granted = frozenset({Capability.SUBPROCESS, Capability.NETWORK, Capability.FILESYSTEM})
    opened = "\n".join(enforcement_preview(SETTINGS, granted))
    if support.seccomp:
        assert "seccomp: execve/fork, inet sockets denied; ptrace" in bare
        assert "seccomp: ptrace, mount" in opened
    else:
        assert "seccomp unavailable" in bare
    if support.landlock_abi:
        assert f"Landlock ABI {support.landlock_abi}: read only the plugin folder" in bare
        assert "write only granted paths" in opened
        if support.landlock_abi >= 4:
            assert "TCP connect/bind denied" in bare
            assert "TCP connect/bind allowed (Network granted)" in opened
    else:
        assert "Landlock unavailable" in bare
    assert bare.endswith("no_new_privs set")
