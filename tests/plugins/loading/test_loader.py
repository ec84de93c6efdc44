"""Loading real compiled plugins: the good one runs, each broken one is refused with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.errors import (
    AbiMismatch,
    ChecksumMismatch,
    InvalidPluginStruct,
    LoadError,
    ManifestMismatch,
    MissingEntryPoint,
    NotASharedObject,
    NullPlugin,
    PluginCallError,
)
from midimon.plugins.hazmat import load_unverified
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.context import TriggerContext, TriggerKind
from midimon.plugins.loading.protocol import ActionPlugin


class Recorder:
    """Host services that remember what the plugin did."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, str]] = []
        self.midi: list[bytes] = []
        self.leds: list[tuple[int, str]] = []

    def log(self, plugin: str, level: int, message: str) -> None:
        self.logs.append((level, message))

    def send_midi(self, plugin: str, data: bytes) -> int:
        self.midi.append(data)
        return 0

    def set_led(self, plugin: str, pad: int, color: str) -> int:
        self.leds.append((pad, color))
        return 0


def load(folder: Path, host: Recorder | None = None, **kwargs):
    return load_unverified(load_manifest(folder), host, **kwargs)


def test_good_plugin_runs_with_real_context(make_plugin: MakePlugin) -> None:
    """A well-formed plugin initializes, sees the exact params and context, and shuts down."""
    host = Recorder()
    plugin = load(make_plugin("probe_ok"), host)
    assert isinstance(plugin, ActionPlugin)
    assert (plugin.name, plugin.version, plugin.capabilities) == ("probe_ok", "1.0.0", frozenset())
    plugin.initialize()
    ctx = TriggerContext(
        velocity=101, channel=9, number=36, value=-5, trigger_kind=TriggerKind.NOTE, mode="Live"
    )
    out = plugin.execute({"x": "ü"}, ctx)
    plugin.shutdown()
    assert out == 'original params={"x":"ü"} vel=101 ch=9 num=36 val=-5 kind=1 mode=Live'
    assert host.logs == [(1, "initialized original")]


def test_failure_status_raises_with_plugin_text(make_plugin: MakePlugin) -> None:
    """A non-OK status becomes PluginCallError carrying the status and the plugin's text."""
    plugin = load(make_plugin("failing", defines={"P_STATUS": "MIDIMON_ERR_INVALID_PARAMS"}))
    plugin.initialize()
    with pytest.raises(PluginCallError) as info:
        plugin.execute({}, TriggerContext())
    assert info.value.status == abi_mod.constant("MIDIMON_ERR_INVALID_PARAMS")
    assert info.value.message.startswith("original params={}")
    assert "ERR_INVALID_PARAMS" in str(info.value)


def test_send_midi_is_brokered_by_grant(make_plugin: MakePlugin) -> None:
    """send_midi reaches the host with Midi granted and is refused (DENIED) without it."""
    folder = make_plugin(
        "midi_out",
        defines={"P_SEND_MIDI": "1", "P_CAPS": "MIDIMON_CAP_MIDI"},
        manifest={"capabilities": {"midi": True}},
    )
    host = Recorder()
    plugin = load(folder, host)
    plugin.initialize()
    plugin.execute({}, TriggerContext(number=60, velocity=90))
    assert host.midi == [bytes([0x90, 60, 90])]

    denied_host = Recorder()
    denied = load(folder, denied_host, granted=frozenset())
    denied.initialize()
    with pytest.raises(PluginCallError) as info:
        denied.execute({}, TriggerContext(number=60, velocity=90))
    assert info.value.status == abi_mod.constant("MIDIMON_ERR_DENIED")
    assert denied_host.midi == []
    assert any("not granted" in message for _, message in denied_host.logs)


def test_the_leds_extension_is_brokered_by_grant(make_plugin: MakePlugin) -> None:
    """get_extension("midimon.leds/1") gives set_pad: it reaches the host's set_led with Midi
    granted and is refused (DENIED) without it."""
    folder = make_plugin(
        "led_in",
        defines={"P_SET_LED": '"red"', "P_CAPS": "MIDIMON_CAP_MIDI"},
        manifest={"capabilities": {"midi": True}},
    )
    host = Recorder()
    plugin = load(folder, host)
    plugin.initialize()
    plugin.execute({}, TriggerContext(number=60, velocity=90))
    assert host.leds == [(60, "red")]

    denied_host = Recorder()
    denied = load(folder, denied_host, granted=frozenset())
    denied.initialize()
    with pytest.raises(PluginCallError) as info:
        denied.execute({}, TriggerContext(number=60))
    assert info.value.status == abi_mod.constant("MIDIMON_ERR_DENIED")
    assert denied_host.leds == []


BROKEN = [
    ("wrong_major", {"P_MAJOR": "2"}, {}, AbiMismatch, "major version must be 1"),
    ("newer_minor", {"P_MINOR": "MIDIMON_ABI_MINOR+1"}, {}, AbiMismatch, "newer than this host"),
    ("short_struct", {"P_SIZE": "40"}, {}, AbiMismatch, "struct_size is 40 bytes"),
    ("huge_struct", {"P_SIZE": "1000000"}, {}, AbiMismatch, "struct_size is 1000000"),
    ("null_entry", {"P_RETURN_NULL": "1"}, {}, NullPlugin, "returned NULL"),
    ("no_symbol", {"P_ENTRY": "create_plugin"}, {}, MissingEntryPoint, "does not export"),
    ("bad_caps", {"P_CAPS": "0x4000"}, {}, InvalidPluginStruct, "unknown bits 0x4000"),
    ("cap_mismatch", {"P_CAPS": "MIDIMON_CAP_NETWORK"}, {}, ManifestMismatch, "capabilities"),
    (
        "cap_missing",
        {},
        {"capabilities": {"filesystem": True}},
        ManifestMismatch,
        "plugin.toml says ['filesystem']",
    ),
]


@pytest.mark.parametrize(("name", "defines", "manifest", "error", "fragment"), BROKEN)
def test_broken_plugins_are_refused(
    make_plugin: MakePlugin,
    name: str,
    defines: dict[str, str],
    manifest: dict,
    error: type[LoadError],
    fragment: str,
) -> None:
    """Each deliberately broken plugin is refused with its own error type and a clear reason."""
    folder = make_plugin(name, defines=defines, manifest=manifest)
    with pytest.raises(error) as info:
        load(folder)
    assert fragment in str(info.value)
    assert str(folder / "plugin.so") in str(info.value)


def test_manifest_name_mismatch(make_plugin: MakePlugin) -> None:
    """A binary reporting another name than its plugin.toml is refused."""
    folder = make_plugin("impostor", defines={"P_NAME": '"someone_else"'})
    with pytest.raises(ManifestMismatch, match="'impostor' but the binary reports 'someone_else'"):
        load(folder)


def test_not_a_shared_object(make_plugin: MakePlugin) -> None:
    """A text file posing as the binary is refused as not loadable, naming the file."""
    folder = make_plugin("textfile")
    (folder / "plugin.so").write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(NotASharedObject, match="not a shared library") as info:
        load(folder)
    assert "/proc/self/fd" not in str(info.value)


def test_missing_binary(make_plugin: MakePlugin) -> None:
    """A manifest whose binary is absent is refused before anything loads."""
    folder = make_plugin("gone")
    (folder / "plugin.so").unlink()
    with pytest.raises(NotASharedObject, match="binary not found"):
        load(folder)


def test_pinned_sha256_mismatch(make_plugin: MakePlugin) -> None:
    """A binary whose SHA-256 differs from the manifest's pin is refused."""
    folder = make_plugin("pinned", manifest={"sha256": "0" * 64})
    with pytest.raises(ChecksumMismatch, match="SHA-256 mismatch"):
        load(folder)


def test_many_plugins_each_get_their_own_code(make_plugin: MakePlugin, tmp_path: Path) -> None:
    """Loading several libraries from memory keeps each one's code apart."""
    marks = [f"m{i}" for i in range(5)]
    for mark in marks:
        folder = make_plugin(f"multi_{mark}", defines={"P_MARK": f'"{mark}"'})
        plugin = load(folder)
        plugin.initialize()
        assert plugin.execute({}, TriggerContext()).startswith(f"{mark} ")


def test_granted_defaults_to_declared(make_plugin: MakePlugin) -> None:
    """Without explicit grants the broker allows what the manifest declares."""
    folder = make_plugin(
        "declares_midi",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI"},
        manifest={"capabilities": {"midi": True}},
    )
    assert load(folder).granted == {Capability.MIDI}
