"""The capability table: names, bits and risks as plugin authors and the C ABI see them.
(The bits against the header itself: tests/plugins/loading/test_abi.py.)"""

from __future__ import annotations

import pytest

from midimon.plugins.description.capabilities import (
    ALL_CAPABILITY_BITS,
    CAPABILITY_TABLE,
    DEFAULT_AUTO_GRANT,
    LOCAL_SOCKET_CAPABILITIES,
    Capability,
    RiskLevel,
    from_bits,
    from_name,
    sorted_caps,
    to_bits,
)


def test_every_capability_has_one_row_and_one_bit() -> None:
    """Six capabilities, each with its own power-of-two bit, a name people read and a risk."""
    assert set(CAPABILITY_TABLE) == set(Capability) and len(Capability) == 6
    bits = [c.bit for c in Capability]
    assert sorted(bits) == [1, 2, 4, 8, 16, 32] and ALL_CAPABILITY_BITS == 63
    for capability in Capability:
        assert capability.info.display_name and capability.info.description
        assert capability.risk is capability.info.risk


def test_risks_follow_what_a_hostile_plugin_could_do() -> None:
    """Only MIDI is low; Network medium (it can send out what it sees); whatever brings local
    sockets (which reach the session bus) and Filesystem are high. MIDI alone is auto-granted."""
    assert {c for c in Capability if c.risk is RiskLevel.LOW} == {Capability.MIDI}
    assert Capability.NETWORK.risk is RiskLevel.MEDIUM
    assert all(c.risk is RiskLevel.HIGH for c in LOCAL_SOCKET_CAPABILITIES)
    assert Capability.NETWORK not in LOCAL_SOCKET_CAPABILITIES
    assert frozenset({Capability.MIDI}) == DEFAULT_AUTO_GRANT


@pytest.mark.parametrize(
    ("name", "expected"),
    [("network", Capability.NETWORK), ("System_Control", Capability.SYSTEM_CONTROL),
     ("system-control", Capability.SYSTEM_CONTROL), (" MIDI ", Capability.MIDI)],
)  # fmt: skip
def test_names_as_people_type_them(name: str, expected: Capability) -> None:
    """Case, hyphens and surrounding spaces do not matter."""
    assert from_name(name) is expected


def test_an_unknown_name_lists_the_accepted_ones() -> None:
    """A typo gets every accepted name in the message."""
    with pytest.raises(ValueError, match="unknown capability 'netwrok'; expected one of: network"):
        from_name("netwrok")


def test_bits_round_trip() -> None:
    """to_bits and from_bits are inverse; unknown bits are ignored."""
    for mask in range(64):
        assert to_bits(from_bits(mask)) == mask
    assert from_bits(64 | 8) == {Capability.MIDI}
    assert to_bits([Capability.MIDI, Capability.MIDI]) == 8


def test_sorted_in_table_order() -> None:
    """Output order is the table's, whatever order they come in."""
    assert sorted_caps({Capability.SYSTEM_CONTROL, Capability.NETWORK, Capability.MIDI}) == [
        Capability.NETWORK, Capability.MIDI, Capability.SYSTEM_CONTROL
    ]
