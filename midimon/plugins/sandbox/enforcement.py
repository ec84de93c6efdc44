"""What the worker reports it put in force (Enforcement), and the plugin struct it loaded.

Said as the worker measured it, never as the spec asked: the audit log and ``plugins info``
describe these.
"""

from __future__ import annotations

from dataclasses import dataclass

from midimon.plugins.description.capabilities import Capability


def _mib(value: int) -> str:
    return "unlimited" if value < 0 else f"{value / (1024 * 1024):g} MiB"


def _limit(value: int) -> str:
    return "unlimited" if value < 0 else str(value)


@dataclass(frozen=True)
class Enforcement:
    """What the worker reported as actually in force, before any plugin code ran."""

    no_new_privs: bool
    landlock_abi: int
    landlock_fs: bool
    landlock_net: bool
    seccomp: bool
    rlimits: dict[str, int]  # RLIMIT_AS/NPROC/NOFILE/CORE soft limits; -1 = unlimited
    kernel_sandbox: bool = True
    granted: frozenset[Capability] = frozenset()
    scoped_signals: bool = False  # Landlock ABI 6: signals only inside the sandbox
    scoped_abstract_unix: bool = False  # Landlock ABI 6: abstract UNIX sockets only inside
    signal_filter: bool = False  # seccomp confines signals to the worker (Landlock < 6)
    unix_sockets: bool = True  # socket(AF_UNIX) and socketpair() allowed
    capabilities_dropped: bool = False  # it started with capabilities (root) and dropped them
    holds_capabilities: bool = False  # it still holds some (kernel sandbox off, as root)
    uid: int = -1
    landlock_rules: int = 0
    landlock_rules_skipped: int = 0
    seccomp_arch: str = ""

    def describe(self) -> list[str]:
        """Human lines: what is enforced, and plainly what is not."""
        granted = self.granted
        lines = ["separate process in its own process group; killed (whole group) on timeout"]
        if not self.kernel_sandbox:
            lines.append(
                "kernel sandbox OFF (settings): no Landlock, no seccomp, no no_new_privs; the "
                "plugin can do anything its user can; capabilities are advisory"
            )
        else:
            lines.append(
                "no_new_privs: on (setuid/file-capability programs gain nothing)"
                if self.no_new_privs
                else "no_new_privs: NOT set"
            )
            if self.capabilities_dropped:
                lines.append(
                    f"Linux capabilities: all dropped, bounding set emptied (started as uid "
                    f"{self.uid} with capabilities)"
                )
            elif self.holds_capabilities:
                lines.append("Linux capabilities: STILL HELD by the worker")
            else:
                lines.append("Linux capabilities: none held")
            lines += self._landlock_lines(granted)
            if self.scoped_signals:
                lines.append("signals: only to processes inside this sandbox (Landlock scope)")
            elif self.signal_filter:
                lines.append("signals and prlimit: only to the worker itself (seccomp)")
            else:
                lines.append(
                    "signals to other processes of the same user (the host too): NOT restricted"
                )
            lines += self._seccomp_lines(granted)
        if self.holds_capabilities and not self.kernel_sandbox:
            lines.append(f"Linux capabilities: held (uid {self.uid}); rlimits can be raised")
        lines.append(self._rlimit_line())
        return lines

    def _landlock_lines(self, granted: frozenset[Capability]) -> list[str]:
        if not self.landlock_fs:
            return [
                "Landlock: NOT in force (kernel lacks it or it is disabled): files are limited "
                "only by Unix permissions, TCP only by seccomp, and abstract UNIX sockets are "
                "NOT scoped"
            ]
        abi = self.landlock_abi
        rules = "filesystem + TCP rules" if self.landlock_net else "filesystem rules"
        lines = [
            f"Landlock ABI {abi}: {rules} ({self.landlock_rules} path rules"
            + (
                f", {self.landlock_rules_skipped} missing paths skipped"
                if self.landlock_rules_skipped
                else ""
            )
            + "); reads only the granted and system paths, writes only the granted paths"
        ]
        if Capability.NETWORK in granted:
            lines.append("TCP bind/connect: allowed (Network granted); UDP and raw: allowed")
        elif not self.landlock_net:
            lines.append(
                f"TCP bind/connect: NOT restricted by Landlock (ABI {abi} < 4)"
                + ("; seccomp still refuses non-UNIX sockets" if self.seccomp else "")
            )
        if abi < 3:
            lines.append(f"truncate()/O_TRUNC: NOT restricted by Landlock (ABI {abi} < 3)")
        if abi < 5:
            lines.append(f"ioctl on device files: NOT restricted by Landlock (ABI {abi} < 5)")
        if self.scoped_abstract_unix:
            lines.append("abstract UNIX sockets: only inside this sandbox (Landlock scope)")
        else:
            lines.append(
                f"abstract UNIX sockets (X11's @/tmp/.X11-unix, ...): NOT scoped by Landlock "
                f"(ABI {abi} < 6)"
                + ("" if self.unix_sockets else "; seccomp refuses socket(AF_UNIX) anyway")
            )
        return lines

    def _seccomp_lines(self, granted: frozenset[Capability]) -> list[str]:
        if not self.seccomp:
            return [
                "seccomp: NOT in force (kernel or architecture without it): execve, fork, "
                "sockets and ptrace are not filtered"
            ]
        sub = Capability.SUBPROCESS in granted
        net = Capability.NETWORK in granted
        arch = f" ({self.seccomp_arch})" if self.seccomp_arch else ""
        lines = [
            f"seccomp-BPF{arch}: execve/fork "
            + ("allowed (Subprocess granted)" if sub else "trapped and reported")
            + "; IP sockets (AF_INET, AF_INET6) "
            + ("allowed (Network granted)" if net else "trapped and reported")
            + "; other socket families (netlink"
            + (" but NETLINK_ROUTE" if net else "")
            + ", packet, ...) fail with EACCES, reported"
            + "; ptrace, mount, bpf, kexec, modules, namespaces, io_uring, keyrings, "
            "perf_event_open, userfaultfd, process_vm_*, TIOCSTI always trapped"
        ]
        if self.unix_sockets:
            lines.append(
                "UNIX sockets: allowed (Audio, System control or Subprocess granted); connect() "
                "to path-named sockets (the sound server, the D-Bus session bus, which can "
                "start programs outside the sandbox, ssh-agent, X11) is NOT restricted by "
                "Landlock; midimon's control socket still asks for its secret cookie"
            )
        else:
            lines.append(
                "UNIX sockets: socket(AF_UNIX) and socketpair() fail with EACCES, reported (no "
                "Audio, System control or Subprocess grant; Network is IP only)"
            )
        lines.append(
            "seccomp is a deny list: syscalls newer than the worker's build headers are allowed"
        )
        return lines

    def _rlimit_line(self) -> str:
        r = self.rlimits
        nproc = _limit(r.get("RLIMIT_NPROC", -1))
        if self.uid == 0:
            nproc += " (NOT enforced: the kernel never holds uid 0 to RLIMIT_NPROC)"
        return (
            f"rlimits: address space {_mib(r.get('RLIMIT_AS', -1))}, tasks of this user "
            f"{nproc}, open files {_limit(r.get('RLIMIT_NOFILE', -1))}, core dumps "
            f"{_limit(r.get('RLIMIT_CORE', -1))}"
        )


@dataclass(frozen=True)
class WorkerLoadInfo:
    """The plugin struct as the worker read it (raw values), and the sandbox in force."""

    abi_major: int
    abi_minor: int
    struct_size: int
    capabilities: int
    name: str
    version: str
    description: str
    enforcement: Enforcement
