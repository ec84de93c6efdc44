"""How the sandbox a worker reported is described: what is in force said plainly, and every
gap (older Landlock, no seccomp, kernel sandbox off, capabilities held) named, never hidden.
The real worker's report is checked in test_worker.py; here each kind of report is built."""

from __future__ import annotations

import dataclasses

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.sandbox.enforcement import Enforcement

LIMITS = {"RLIMIT_AS": 256 * 1024 * 1024, "RLIMIT_NPROC": 80, "RLIMIT_NOFILE": 256,
          "RLIMIT_CORE": 0}  # fmt: skip
FULL = Enforcement(
    no_new_privs=True, landlock_abi=6, landlock_fs=True, landlock_net=True, seccomp=True,
    rlimits=LIMITS, scoped_signals=True, scoped_abstract_unix=True, unix_sockets=False,
    uid=1000, landlock_rules=12, seccomp_arch="x86_64",
)  # fmt: skip


def text(enforcement: Enforcement) -> str:
    return "\n".join(enforcement.describe())


def test_a_full_sandbox_is_described_with_nothing_missing() -> None:
    """Landlock 6 with seccomp: every line says in force; no NOT anywhere."""
    described = text(FULL)
    assert "NOT" not in described
    assert "no_new_privs: on" in described
    assert "Landlock ABI 6: filesystem + TCP rules (12 path rules)" in described
    assert "seccomp-BPF (x86_64): execve/fork trapped and reported" in described
    assert "signals: only to processes inside this sandbox" in described
    assert described.splitlines()[-1] == (
        "rlimits: address space 256 MiB, tasks of this user 80, open files 256, core dumps 0"
    )


def test_older_landlock_names_each_gap() -> None:
    """ABI 2 without the TCP rules: truncate, ioctl, TCP and abstract sockets are named as not
    restricted by Landlock, with the ABI that would restrict them."""
    old = dataclasses.replace(
        FULL, landlock_abi=2, landlock_net=False, scoped_signals=False,
        scoped_abstract_unix=False, signal_filter=True, landlock_rules_skipped=3,
    )  # fmt: skip
    described = text(old)
    assert "(12 path rules, 3 missing paths skipped)" in described
    assert "TCP bind/connect: NOT restricted by Landlock (ABI 2 < 4); seccomp still" in described
    assert "truncate()/O_TRUNC: NOT restricted by Landlock (ABI 2 < 3)" in described
    assert "ioctl on device files: NOT restricted by Landlock (ABI 2 < 5)" in described
    assert "NOT scoped by Landlock (ABI 2 < 6); seccomp refuses socket(AF_UNIX)" in described
    assert "signals and prlimit: only to the worker itself (seccomp)" in described


def test_no_landlock_and_no_seccomp() -> None:
    """A kernel without either says so, and that signals are not restricted."""
    bare = dataclasses.replace(
        FULL, landlock_abi=0, landlock_fs=False, landlock_net=False, seccomp=False,
        scoped_signals=False, scoped_abstract_unix=False,
    )  # fmt: skip
    described = text(bare)
    assert "Landlock: NOT in force" in described
    assert "seccomp: NOT in force" in described
    assert "signals to other processes of the same user (the host too): NOT restricted" in (
        described
    )


def test_grants_open_what_they_should() -> None:
    """Network and Subprocess grants are described as allowed, and UNIX sockets with their
    caveat when a grant allows them."""
    granted = dataclasses.replace(
        FULL, granted=frozenset({Capability.NETWORK, Capability.SUBPROCESS}), unix_sockets=True
    )
    described = text(granted)
    assert "TCP bind/connect: allowed (Network granted)" in described
    assert "execve/fork allowed (Subprocess granted)" in described
    assert "IP sockets (AF_INET, AF_INET6) allowed (Network granted)" in described
    assert "(netlink but NETLINK_ROUTE" in described
    assert "UNIX sockets: allowed" in described and "is NOT restricted" in described


def test_the_kernel_sandbox_off_is_said_first() -> None:
    """With the kernel sandbox off the description says the plugin can do anything its user
    can, and nothing about Landlock or seccomp being in force."""
    off = dataclasses.replace(FULL, kernel_sandbox=False, no_new_privs=False)
    lines = off.describe()
    assert lines[1].startswith("kernel sandbox OFF (settings)")
    assert not any("Landlock ABI" in line or "seccomp-BPF" in line for line in lines)


def test_capabilities_and_root() -> None:
    """Dropped capabilities say from which uid; held ones are shouted; as root the task
    limit is marked as not enforced."""
    dropped = text(dataclasses.replace(FULL, capabilities_dropped=True, uid=0))
    assert "all dropped, bounding set emptied (started as uid 0" in dropped
    assert "tasks of this user 80 (NOT enforced: the kernel never holds uid 0" in dropped
    assert "Linux capabilities: STILL HELD" in text(
        dataclasses.replace(FULL, holds_capabilities=True)
    )
    held_off = text(dataclasses.replace(FULL, kernel_sandbox=False, holds_capabilities=True))
    assert "Linux capabilities: held (uid 1000); rlimits can be raised" in held_off


def test_unlimited_limits() -> None:
    """-1 limits (and missing ones) read as unlimited."""
    line = dataclasses.replace(FULL, rlimits={"RLIMIT_AS": -1}).describe()[-1]
    assert line == (
        "rlimits: address space unlimited, tasks of this user unlimited, open files "
        "unlimited, core dumps unlimited"
    )
