"""What the sandbox stopped, as the user reads it: each DENIED reason from the worker becomes
the syscall, the capability that would allow it (if any) and a sentence; a worker's failure
says how it ended. The real worker's denials are in test_worker.py; here each reason is fed in."""

from __future__ import annotations

import signal

import pytest

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.sandbox.denials import Denial, WorkerCrashed, WorkerTimeout, describe_denial
from midimon.plugins.sandbox.wire import Wire

AF_INET, AF_UNIX, AF_NETLINK = 2, 1, 16


@pytest.mark.parametrize(
    ("reason", "nr", "arg0", "arg1", "name", "syscall", "capability", "fragment"),
    [
        (Wire.DENY_EXEC, 59, 0, 0, "execve", "execve", Capability.SUBPROCESS,
         "tried execve without the Subprocess capability"),
        (Wire.DENY_FORK, 56, 0x4000, 0, "clone", "clone(vfork)", Capability.SUBPROCESS,
         "start a process (clone(vfork))"),
        (Wire.DENY_FORK, 56, 0x11, 0, "clone", "clone(fork)", Capability.SUBPROCESS,
         "start a process (clone(fork))"),
        (Wire.DENY_FORK, 57, 0, 0, "fork", "fork", Capability.SUBPROCESS, "(fork)"),
        (Wire.DENY_NETWORK, 41, AF_INET, 0, "socket", "socket(AF_INET)", Capability.NETWORK,
         "tried socket(AF_INET) without the Network capability"),
        (Wire.DENY_UNIX_SOCKET, 53, AF_UNIX, 0, "socketpair", "socketpair(AF_UNIX)", None,
         "Network is IP only"),
        (Wire.DENY_UNIX_SOCKET, 41, AF_UNIX, 0, "socket", "socket(AF_UNIX)", None, "EACCES"),
        (Wire.DENY_SOCKET_FAMILY, 41, AF_NETLINK, 0, "socket", "socket(AF_NETLINK)", None,
         "a socket family no capability grants"),
        (Wire.DENY_SOCKET_FAMILY, 41, 999, 0, "", "socket(family 999)", None, "family 999"),
        (Wire.DENY_MIDI, 0, 0, 0, "", "send_midi", Capability.MIDI,
         "send_midi without the MIDI capability"),
        (Wire.DENY_NAMESPACE, 272, 0x10000000, 0, "unshare", "unshare", None,
         "namespace flags (0x10000000)"),
        (Wire.DENY_FOREIGN_ABI, 11, 0, 0, "", "syscall 11 (foreign ABI)", None, "int 0x80"),
        (Wire.DENY_OTHER_PROCESS, 62, 2**32 - 1, 9, "kill", "kill", None,
         "tried kill on process -1, outside its worker"),
        (Wire.DENY_FORBIDDEN, 16, 3, 0x5412, "ioctl", "ioctl(TIOCSTI)", None,
         "which no plugin may use"),
        (Wire.DENY_FORBIDDEN, 101, 0, 0, "ptrace", "ptrace", None, "tried ptrace, which"),
        (Wire.DENY_FORBIDDEN, 321, 0, 0, "", "syscall 321", None, "tried syscall 321"),
    ],
)  # fmt: skip
def test_each_reason_reads_plainly(
    reason: int, nr: int, arg0: int, arg1: int, name: str, syscall: str,
    capability: Capability | None, fragment: str,
) -> None:  # fmt: skip
    """The syscall is named as a reader knows it; the capability is the one that would allow
    it, None when no grant would."""
    denial = describe_denial(reason, True, nr, arg0, arg1, name)
    assert (denial.syscall, denial.capability, denial.fatal) == (syscall, capability, True)
    assert fragment in denial.detail


def test_a_soft_denial_stays_soft() -> None:
    """A denial the plugin survived (the call failed with EACCES) is not fatal."""
    assert not describe_denial(Wire.DENY_UNIX_SOCKET, False, 41, AF_UNIX, 0, "socket").fatal


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"signal": signal.SIGSEGV, "exit_code": None},
         "p: the worker was killed by SIGSEGV during execute"),
        ({"signal": 99, "exit_code": None}, "p: the worker was killed by signal 99 during execute"),
        ({"signal": None, "exit_code": 3, "detail": "protocol violation: x"},
         "p: the worker exited with status 3 during execute (protocol violation: x)"),
        ({"signal": None, "exit_code": Wire.EXIT_DENIED},
         "p: the worker was stopped by the sandbox (a forbidden syscall) during execute"),
        ({"signal": signal.SIGKILL, "exit_code": None, "killed_by_host": True},
         "p: the worker was killed by the host during execute"),
        ({"signal": None, "exit_code": None}, "p: the worker was lost during execute"),
    ],
)  # fmt: skip
def test_how_a_worker_ended_is_said(kwargs: dict, text: str) -> None:
    """WorkerCrashed's message comes from the wait status and what the host knows."""
    assert str(WorkerCrashed("p", "execute", **kwargs)) == text


def test_a_denial_makes_the_crash_message() -> None:
    """When the sandbox stopped the worker, the denial is the message."""
    denial = Denial("execve", Capability.SUBPROCESS, "tried execve without the Subprocess "
                    "capability")  # fmt: skip
    crashed = WorkerCrashed("p", "execute", signal.SIGSYS, None, denial)
    assert str(crashed) == (
        "p tried execve without the Subprocess capability; the sandbox stopped its worker"
    )
    assert crashed.denial is denial


def test_a_timeout_says_how_long() -> None:
    """WorkerTimeout names the call and the seconds waited."""
    assert str(WorkerTimeout("p", "execute", 2.5)) == (
        "p: no answer to execute within 2.5 s; the worker was killed"
    )
