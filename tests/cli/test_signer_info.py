"""What `plugins info` says about a copy's signer, its name's pin and the other copies, from a
real signed plugin, a real trust store and pin file (nothing is verified here)."""

from __future__ import annotations

from pathlib import Path

from helpers import Keys, MakePlugin

from midimon.cli.signer_info import signer_details, signer_lines
from midimon.paths import state_dir
from midimon.plugins.description.discovery import discover
from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.integrity.pins import BUNDLED, Pin, PinStore
from midimon.plugins.integrity.signing import sign_plugin
from midimon.plugins.integrity.trust import TrustStore


def signed(make_plugin: MakePlugin, keys: Keys, name: str, root: Path) -> PluginManifest:
    folder = make_plugin(name, root=root)
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    sign_plugin(manifest, manifest.binary.read_bytes(), keys.secret)
    return load_manifest(folder)


def test_an_unsigned_copy(isolated_dirs: dict[str, str], make_plugin: MakePlugin) -> None:
    """Unsigned, not pinned yet, one copy: three plain facts and nothing else."""
    manifest = load_manifest(make_plugin("loner"))
    details = signer_details(manifest, None, TrustStore(Path(isolated_dirs["XDG_CONFIG_HOME"])))
    assert (details["signer"], details["pinned_to"], details["copy"]) == (None, None, None)
    assert signer_lines(details) == [
        "  signer:       unsigned",
        "  name pin:     none yet (pinned to its signer when it first loads)",
    ]


def test_a_key_trusted_for_any_name_is_pointed_out(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, keys: Keys, tmp_path: Path
) -> None:
    """The signer's trusted name is shown; a key trusted for every name gets the scope hint."""
    manifest = signed(make_plugin, keys, "pad", tmp_path / "plugins")
    trust = TrustStore(tmp_path / "trusted")
    trust.add(keys.public, "Alice")
    details = signer_details(manifest, None, trust)
    assert (details["signer"], details["signer_name"]) == (keys.public.key_id_hex, "Alice")
    lines = signer_lines(details)
    assert lines[0] == f"  signer:       key {keys.public.key_id_hex} (Alice)"
    assert "is trusted for ANY plugin name; scope it with" in lines[1]
    trust.add(keys.public, "Alice", ("pad",))
    assert not signer_details(manifest, None, trust)["any_plugin"]


def test_a_pin_to_another_signer_is_flagged(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, keys: Keys, tmp_path: Path
) -> None:
    """A name pinned elsewhere is marked as refused at load for this copy."""
    manifest = signed(make_plugin, keys, "pad", tmp_path / "plugins")
    pins = PinStore(state_dir() / "signers.json")
    pins.set(Pin("pad", "0123456789ABCDEF", "re-pinned"))
    lines = signer_lines(signer_details(manifest, None, TrustStore(tmp_path / "trusted")))
    assert lines[-1] == (
        "  name pin:     key 0123456789ABCDEF (re-pinned)  <- NOT this copy's signer: refused "
        "at load"
    )
    pins.set(Pin("pad", keys.public.key_id_hex, "first use"))
    lines = signer_lines(signer_details(manifest, None, TrustStore(tmp_path / "trusted")))
    assert lines[-1] == f"  name pin:     key {keys.public.key_id_hex} (first use)"


def test_copies_found_twice(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """With a name in two folders, the copy that runs says why and the other is listed."""
    first = make_plugin("twin", root=tmp_path / "a")
    second = make_plugin("twin", root=tmp_path / "b")
    result = discover([tmp_path / "a", tmp_path / "b"])
    chosen = result.plugins["twin"].manifest
    details = signer_details(chosen, result, TrustStore(tmp_path / "trusted"))
    assert details["copy"] and details["other_copies"] == [str(second)]
    assert chosen.directory == first
    lines = signer_lines(details)
    assert lines[-2].startswith("  copies:       ") and lines[-1].endswith(f"not used: {second}")


def test_a_bundled_copy() -> None:
    """A copy bundled with midimon says it is checked against the package RECORD."""
    details = {"signer": BUNDLED, "signer_name": None, "any_plugin": False,
               "pinned_to": BUNDLED, "pinned_how": "bundled", "copy": None}  # fmt: skip
    assert signer_lines(details) == [
        "  signer:       bundled with midimon (checked against the package RECORD)",
        "  name pin:     bundled (bundled)",
    ]
