"""What the sandbox stopped (Denial); the WorkerError family, defined in plugins.errors."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import (  # defined there; importable from here as before
    WorkerCrashed,
    WorkerError,
    WorkerLoadFailed,
    WorkerTimeout,
)
from midimon.plugins.sandbox.wire import Wire

_CLONE_VFORK = 0x4000


@dataclass(frozen=True)
class Denial:
    """Something the sandbox stopped."""

    syscall: str  # "execve", "socket(AF_INET)", "clone(fork)", "send_midi", ...
    capability: Capability | None  # the capability that would have allowed it, if any
    detail: str  # "tried execve without the Subprocess capability" (the plugin is the subject)
    fatal: bool = True  # the worker was stopped (False: the call failed, the plugin went on)


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"family {family}"


def describe_denial(reason: int, fatal: bool, nr: int, arg0: int, arg1: int, name: str) -> Denial:
    syscall = name or f"syscall {nr}"
    capability: Capability | None = None
    if reason == Wire.DENY_EXEC:
        capability = Capability.SUBPROCESS
        detail = f"tried {syscall} without the Subprocess capability"
    elif reason == Wire.DENY_FORK:
        capability = Capability.SUBPROCESS
        if syscall == "clone":
            syscall = "clone(vfork)" if arg0 & _CLONE_VFORK else "clone(fork)"
        detail = f"tried to start a process ({syscall}) without the Subprocess capability"
    elif reason == Wire.DENY_NETWORK:
        capability = Capability.NETWORK
        syscall = f"socket({_family_name(arg0 & 0xFFFFFFFF)})"
        detail = f"tried {syscall} without the Network capability"
    elif reason == Wire.DENY_UNIX_SOCKET:
        syscall = f"{'socketpair' if name == 'socketpair' else 'socket'}(AF_UNIX)"
        detail = (
            f"tried {syscall}; local sockets need the Audio, System control or Subprocess "
            "capability, Network is IP only (the call failed with EACCES)"
        )
    elif reason == Wire.DENY_SOCKET_FAMILY:
        syscall = f"{name or 'socket'}({_family_name(arg0 & 0xFFFFFFFF)})"
        detail = (
            f"tried {syscall}, a socket family no capability grants (the call failed with EACCES)"
        )
    elif reason == Wire.DENY_MIDI:
        capability = Capability.MIDI
        syscall = "send_midi"
        detail = "tried send_midi without the MIDI capability"
    elif reason == Wire.DENY_NAMESPACE:
        detail = f"tried {syscall} with namespace flags (0x{arg0:x}), which no plugin may use"
    elif reason == Wire.DENY_FOREIGN_ABI:
        syscall = f"syscall {nr} (foreign ABI)"
        detail = "made a syscall through another ABI (int 0x80 or x32), which no plugin may use"
    elif reason == Wire.DENY_OTHER_PROCESS:
        target = arg0 & 0xFFFFFFFF
        target = target - 2**32 if target >= 2**31 else target
        detail = f"tried {syscall} on process {target}, outside its worker"
    else:
        if syscall == "ioctl":
            syscall = {0x5412: "ioctl(TIOCSTI)", 0x541C: "ioctl(TIOCLINUX)"}.get(
                arg1 & 0xFFFFFFFF, syscall
            )
        detail = f"tried {syscall}, which no plugin may use"
    return Denial(syscall, capability, detail, fatal)


__all__ = [
    "Denial",
    "WorkerCrashed",
    "WorkerError",
    "WorkerLoadFailed",
    "WorkerTimeout",
    "describe_denial",
]
