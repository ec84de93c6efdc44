"""The six capabilities a plugin can ask for, with their risk levels, as one data table."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class RiskLevel(enum.Enum):
    """How much harm a capability allows if the plugin is hostile."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Capability(enum.Enum):
    """A capability, named as in ``[plugin.capabilities]`` of plugin.toml."""

    NETWORK = "network"
    FILESYSTEM = "filesystem"
    AUDIO = "audio"
    MIDI = "midi"
    SUBPROCESS = "subprocess"
    SYSTEM_CONTROL = "system_control"

    @property
    def info(self) -> CapabilityInfo:
        """The table row describing this capability."""
        return CAPABILITY_TABLE[self]

    @property
    def bit(self) -> int:
        """Its MIDIMON_CAP_* bit in the C ABI."""
        return CAPABILITY_TABLE[self].bit

    @property
    def risk(self) -> RiskLevel:
        """Its risk level."""
        return CAPABILITY_TABLE[self].risk


@dataclass(frozen=True)
class CapabilityInfo:
    """One row of the capability table."""

    bit: int
    risk: RiskLevel
    display_name: str
    description: str


# Bits mirror MIDIMON_CAP_* in abi/midimon_plugin.h (tests/plugins/loading/test_abi.py checks).
# Network is medium, not low as the seed had it: an outbound connection can exfiltrate anything
# the plugin sees (trigger contexts, params with tokens), so it is never granted silently. It
# means IP only: local (AF_UNIX) sockets come with Audio, System control and Subprocess alone.
# Those three are high: the kernel cannot tell the sound server's socket from the D-Bus session
# bus's (Landlock does not mediate connect() to path-named sockets), and through D-Bus
# systemd --user starts any program outside the sandbox.
CAPABILITY_TABLE: dict[Capability, CapabilityInfo] = {
    Capability.NETWORK: CapabilityInfo(
        1,
        RiskLevel.MEDIUM,
        "Network",
        "Open IP connections (HTTP requests, TCP/UDP sockets); no local sockets",
    ),
    Capability.FILESYSTEM: CapabilityInfo(
        2, RiskLevel.HIGH, "Filesystem", "Read and write files outside the plugin's own folder"
    ),
    Capability.AUDIO: CapabilityInfo(
        4,
        RiskLevel.HIGH,
        "Audio",
        "Use audio devices and local sockets to the sound server (PipeWire, PulseAudio, JACK); "
        "those sockets also reach the D-Bus session bus, which can start programs outside the "
        "sandbox",
    ),
    Capability.MIDI: CapabilityInfo(
        8, RiskLevel.LOW, "MIDI", "Send MIDI through the host's output port"
    ),
    Capability.SUBPROCESS: CapabilityInfo(
        16,
        RiskLevel.HIGH,
        "Subprocess",
        "Run other programs (execve), with local sockets for the programs it runs",
    ),
    Capability.SYSTEM_CONTROL: CapabilityInfo(
        32,
        RiskLevel.HIGH,
        "System control",
        "Change system settings (volume, power, displays, input devices) through local sockets "
        "such as the D-Bus session bus, which can start programs outside the sandbox",
    ),
}

# Capabilities that give the worker local (AF_UNIX) sockets; mirrors mm_unix_sockets_allowed() in
# midimon/_native/worker/sandbox.c (the seccomp filter in seccomp.c applies it).
LOCAL_SOCKET_CAPABILITIES: frozenset[Capability] = frozenset(
    {Capability.AUDIO, Capability.SYSTEM_CONTROL, Capability.SUBPROCESS}
)

ALL_CAPABILITY_BITS = sum(info.bit for info in CAPABILITY_TABLE.values())

# Granted without asking unless the user's settings say otherwise. Audio is not among them any
# more: it brings local sockets (see above), and a plugin asking only for Audio must not reach
# the session bus without the user's say.
DEFAULT_AUTO_GRANT: frozenset[Capability] = frozenset({Capability.MIDI})


def from_name(name: str) -> Capability:
    """The capability called ``name`` (``network``, ``system-control`` and ``System_Control`` too).

    Raises ValueError naming the accepted names.
    """
    key = name.strip().lower().replace("-", "_")
    try:
        return Capability(key)
    except ValueError:
        accepted = ", ".join(c.value for c in Capability)
        raise ValueError(f"unknown capability {name!r}; expected one of: {accepted}") from None


def from_bits(bits: int) -> frozenset[Capability]:
    """The capabilities set in a MIDIMON_CAP_* bitmask (unknown bits are ignored)."""
    return frozenset(c for c, info in CAPABILITY_TABLE.items() if bits & info.bit)


def to_bits(capabilities: Iterable[Capability]) -> int:
    """The MIDIMON_CAP_* bitmask of a set of capabilities."""
    return sum({c.bit for c in capabilities})


def sorted_caps(capabilities: Iterable[Capability]) -> list[Capability]:
    """Capabilities in table order (stable output for people and scripts)."""
    wanted = set(capabilities)
    return [c for c in CAPABILITY_TABLE if c in wanted]
