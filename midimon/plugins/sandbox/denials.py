"""What the sandbox stopped (Denial), and how a worker failed (the WorkerError family)."""

from __future__ import annotations

import signal
import socket
from dataclasses import dataclass

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import PluginError
from midimon.plugins.sandbox.wire import Wire

_CLONE_VFORK = 0x4000


@dataclass(frozen=True)
class Denial:
    """Something the sandbox stopped."""

    syscall: str  # "execve", "socket(AF_INET)", "clone(fork)", "send_midi", ...
    capability: Capability | None  # the capability that would have allowed it, if any
    detail: str  # "tried execve without the Subprocess capability" (the plugin is the subject)
    fatal: bool = True  # the worker was stopped (False: the call failed, the plugin went on)


class WorkerError(PluginError):
    """A worker could not be started, or failed while running a plugin."""


class WorkerLoadFailed(WorkerError):
    """The worker could not load the plugin: ``code`` says why (dlopen, no_entry, null_plugin,
    abi_major, abi_minor, struct_size, invalid_struct, image, sandbox)."""

    def __init__(
        self,
        plugin: str,
        code: str,
        message: str,
        abi_major: int = 0,
        abi_minor: int = 0,
        struct_size: int = 0,
    ) -> None:
        self.plugin = plugin
        self.code = code
        self.message = message
        self.abi_major = abi_major
        self.abi_minor = abi_minor
        self.struct_size = struct_size
        super().__init__(f"{plugin}: cannot load ({code}): {message}")


class WorkerCrashed(WorkerError):
    """The worker died (or broke the protocol and was killed).

    ``signal`` or ``exit_code`` come from its wait status; ``denial`` is set when the sandbox
    stopped it; ``detail`` says more (a protocol violation, the call it was in).
    """

    def __init__(
        self,
        plugin: str,
        call: str,
        signal: int | None,
        exit_code: int | None,
        denial: Denial | None = None,
        detail: str = "",
        killed_by_host: bool = False,
    ) -> None:
        self.plugin = plugin
        self.call = call
        self.signal = signal
        self.exit_code = exit_code
        self.denial = denial
        self.detail = detail
        self.killed_by_host = killed_by_host
        super().__init__(self._text())

    def _text(self) -> str:
        if self.denial is not None:
            return f"{self.plugin} {self.denial.detail}; the sandbox stopped its worker"
        elif self.killed_by_host:
            text = f"the worker was killed by the host during {self.call}"
        elif self.signal is not None:
            text = f"the worker was killed by {_signal_name(self.signal)} during {self.call}"
        elif self.exit_code == Wire.EXIT_DENIED:
            text = f"the worker was stopped by the sandbox (a forbidden syscall) during {self.call}"
        elif self.exit_code is not None:
            text = f"the worker exited with status {self.exit_code} during {self.call}"
        else:
            text = f"the worker was lost during {self.call}"
        if self.detail:
            text += f" ({self.detail})"
        return f"{self.plugin}: {text}"


class WorkerTimeout(WorkerError):
    """A call got no answer within its timeout; the worker's process group was killed."""

    def __init__(self, plugin: str, call: str, seconds: float) -> None:
        self.plugin = plugin
        self.call = call
        self.seconds = seconds
        super().__init__(
            f"{plugin}: no answer to {call} within {seconds:g} s; the worker was killed"
        )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


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
