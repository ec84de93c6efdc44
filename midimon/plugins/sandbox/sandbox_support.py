"""What this machine's kernel can enforce for an isolated plugin, said honestly in advance.

``plugins info`` shows it before any worker runs; a running worker reports what it actually put
in force (enforcement.Enforcement), which is what the audit log records at load.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import sys
from dataclasses import dataclass

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.settings import ExecutionSettings

_SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on x86_64, aarch64 and riscv64
_LANDLOCK_CREATE_RULESET_VERSION = 1


@dataclass(frozen=True)
class KernelSupport:
    """Sandbox features this kernel offers."""

    linux: bool
    landlock_abi: int  # 0 when Landlock is absent or disabled
    seccomp: bool


@functools.cache
def kernel_support() -> KernelSupport:
    """Probe the kernel once (no side effects: the probe creates nothing)."""
    if not sys.platform.startswith("linux"):
        return KernelSupport(False, 0, False)
    abi = 0
    if platform.machine() in ("x86_64", "aarch64", "riscv64"):
        libc = ctypes.CDLL(None, use_errno=True)
        result = libc.syscall(
            _SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), _LANDLOCK_CREATE_RULESET_VERSION
        )
        abi = max(0, int(result))
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            seccomp = any(line.startswith("Seccomp:") for line in status)
    except OSError:
        seccomp = False
    return KernelSupport(True, abi, seccomp)


def enforcement_preview(settings: ExecutionSettings, granted: frozenset[Capability]) -> list[str]:
    """Lines saying what an isolated worker would enforce here, and what it would not."""
    if settings.isolation == "in-process":
        return [
            "in-process: no sandbox, no timeout, no memory limit; capabilities are advisory "
            "(only the send_midi broker checks the Midi grant)"
        ]
    support = kernel_support()
    lines = [
        f"separate worker process; per-call timeout {settings.timeout:g} s (worker killed past "
        f"it); crashes restart it; over {settings.max_crashes} crashes in "
        f"{settings.crash_window:g} s disable the plugin",
        f"rlimits: address space {settings.memory_mb} MiB, open files {settings.max_open_files}, "
        f"processes {settings.max_processes} (RLIMIT_NPROC does not bind root), no core dumps",
    ]
    if not support.linux:
        lines.append("kernel sandbox unavailable on this platform: capabilities are advisory")
        return lines
    if not settings.kernel_sandbox:
        lines.append("kernel sandbox turned off in settings: capabilities are advisory")
        return lines
    if support.landlock_abi:
        net = (
            "TCP connect/bind "
            + ("allowed (Network granted)" if Capability.NETWORK in granted else "denied")
            if support.landlock_abi >= 4
            else "no TCP rules (needs Landlock ABI 4)"
        )
        fs = (
            "read the plugin folder, system libraries and granted paths (the home folder when "
            "no path is granted), write only granted paths"
            if Capability.FILESYSTEM in granted
            else "read only the plugin folder and system libraries, write nowhere"
        )
        lines.append(f"Landlock ABI {support.landlock_abi}: {fs}; {net}")
    else:
        lines.append("Landlock unavailable: file access is not restricted by the kernel")
    if support.seccomp:
        denied = []
        if Capability.SUBPROCESS not in granted:
            denied.append("execve/fork")
        if Capability.NETWORK not in granted:
            denied.append("inet sockets")
        always = "ptrace, mount, kexec, modules, bpf and similar"
        lines.append(
            "seccomp: "
            + (", ".join(denied) + " denied; " if denied else "")
            + f"{always} always denied"
        )
    else:
        lines.append("seccomp unavailable: syscalls are not filtered")
    lines.append("no_new_privs set")
    return lines
