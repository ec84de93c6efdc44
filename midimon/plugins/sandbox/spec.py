"""What a worker may do (SandboxSpec) and the paths it gets to read and write.

The worker applies the spec before any plugin code runs: rlimits, then Landlock with the paths
below; seccomp follows the granted capabilities.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from midimon.plugins.description.capabilities import Capability

_SYSTEM_READ_PATHS = (
    # shared libraries a plugin links (libm, libgcc_s, libstdc++, ...) and the loader's cache
    "/lib",
    "/lib64",
    "/lib32",
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib32",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    # time zones and locales (localtime(), setlocale())
    "/etc/localtime",
    "/etc/timezone",
    "/usr/share/zoneinfo",
    "/usr/share/locale",
    "/etc/locale.alias",
    # randomness, and what sysconf(_SC_NPROCESSORS_ONLN) reads
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/sys/devices/system/cpu",
)

# Added read-only for a granted capability that needs them.
_CAPABILITY_READ_PATHS: dict[Capability, tuple[str, ...]] = {
    Capability.NETWORK: (
        "/etc/resolv.conf",
        "/run/systemd/resolve",
        "/etc/hosts",
        "/etc/host.conf",
        "/etc/nsswitch.conf",
        "/etc/gai.conf",
        "/etc/services",
        "/etc/protocols",
        "/etc/ssl",
        "/etc/pki",
        "/etc/ca-certificates",
        "/usr/share/ca-certificates",
    ),
    Capability.SUBPROCESS: (
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/libexec",
        "/etc/passwd",
        "/etc/group",
    ),
    Capability.AUDIO: ("/usr/share/alsa", "/etc/alsa", "/etc/asound.conf"),
}
_CAPABILITY_WRITE_PATHS: dict[Capability, tuple[str, ...]] = {
    Capability.AUDIO: ("/dev/snd",),
}
_ALWAYS_WRITE_PATHS = ("/dev/null",)


@dataclass(frozen=True)
class SandboxSpec:
    """What one worker may do.

    ``max_processes`` is headroom, not a total: RLIMIT_NPROC counts every task (process or
    thread) of the user, so the worker sets it to the tasks the user already has plus this.
    """

    granted: frozenset[Capability]
    read_paths: tuple[Path, ...] = ()  # read-only, in addition to default_read_paths()
    write_paths: tuple[Path, ...] = ()  # read-write (Filesystem grants)
    address_space: int = 256 * 1024 * 1024
    max_processes: int = 64
    max_open_files: int = 256
    kernel_sandbox: bool = True  # False: process isolation only (rlimits still applied)


def _existing(paths: tuple[str, ...]) -> tuple[Path, ...]:
    return tuple(Path(p) for p in paths if os.path.lexists(p))


def default_read_paths() -> tuple[Path, ...]:
    """System library folders, time zone and locale data and random devices that exist here."""
    return _existing(_SYSTEM_READ_PATHS)


def sandbox_paths(spec: SandboxSpec) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(read-only, read-write) paths a worker for ``spec`` gets, in the order it adds them.

    Read: default_read_paths(), what a granted capability needs (Network: resolver and CA
    files; Subprocess: bin folders; Audio: ALSA config), then ``spec.read_paths``. Write:
    ``/dev/null``, ``/dev/snd`` with Audio, then ``spec.write_paths``.
    """
    reads: list[Path] = list(default_read_paths())
    writes: list[Path] = list(_existing(_ALWAYS_WRITE_PATHS))
    for capability in sorted(spec.granted, key=lambda c: c.bit):
        reads += _existing(_CAPABILITY_READ_PATHS.get(capability, ()))
        writes += _existing(_CAPABILITY_WRITE_PATHS.get(capability, ()))
    reads += [Path(p) for p in spec.read_paths]
    writes += [Path(p) for p in spec.write_paths]
    return tuple(dict.fromkeys(reads)), tuple(dict.fromkeys(writes))
