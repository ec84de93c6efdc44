"""Signer continuity: a plugin name stays with the signer it was first accepted from, unless
the pinned key's own rotation statement hands it on; anything else fails the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_manifest

from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.integrity.continuity import check_signer
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey, generate_keypair
from midimon.plugins.integrity.pins import BUNDLED, Pin, PinStore
from midimon.plugins.integrity.rotation import write_statement
from midimon.plugins.integrity.trust import TrustStore
from midimon.plugins.integrity.verify import IntegrityReport
from midimon.plugins.settings import SignaturePolicy

STRICT = SignaturePolicy()
SHA = "ab" * 32


class World:
    """A plugin folder, the pin file and the trust store of one test."""

    def __init__(self, tmp_path: Path) -> None:
        folder = tmp_path / "plugins" / "cont"
        folder.mkdir(parents=True)
        write_manifest(folder, "cont")
        self.manifest: PluginManifest = load_manifest(folder)
        self.pins = PinStore(tmp_path / "signers.json")
        self.trust = TrustStore(tmp_path / "trusted")

    def check(self, signer: str | None, policy: SignaturePolicy = STRICT) -> IntegrityReport:
        report = IntegrityReport(
            "cont", "1.0.0", self.manifest.binary or Path(), SHA, "cd" * 32, signer_id=signer
        )
        check_signer(report, self.manifest, policy, self.pins, self.trust)
        return report

    def pin(self, key: PublicKey, how: str = "first use") -> None:
        self.pins.set(Pin("cont", key.key_id_hex, how, key.to_base64()))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def codes(report: IntegrityReport) -> list[str]:
    return [f.code for f in report.failures]


def test_the_first_signer_is_pinned_on_first_use(world: World) -> None:
    """An unpinned name signed by a trusted key passes and asks to be pinned to that key,
    with its public key kept for later rotations."""
    key, _ = generate_keypair()
    world.trust.add(key, "author")
    report = world.check(key.key_id_hex)
    assert codes(report) == []
    assert report.pin_update == Pin("cont", key.key_id_hex, "first use", key.to_base64())
    assert any("first signer of cont" in note for note in report.notes)
    assert world.check(None).pin_update is None  # unsigned: nothing to pin


def test_the_pinned_signer_passes(world: World) -> None:
    """The same signer again passes, with nothing to update."""
    key, _ = generate_keypair()
    world.pin(key)
    report = world.check(key.key_id_hex)
    assert codes(report) == [] and report.pin_update is None
    assert report.pinned == key.key_id_hex


def test_another_signer_is_refused_with_the_repin_command(world: World) -> None:
    """A copy signed by another key fails signer_changed; the fix is the explicit re-pin."""
    owner, _ = generate_keypair()
    other, _ = generate_keypair()
    world.pin(owner)
    report = world.check(other.key_id_hex)
    assert codes(report) == ["signer_changed"]
    failure = report.failures[0]
    assert f"cont belongs to key {owner.key_id_hex}" in failure.message
    assert f"signed by key {other.key_id_hex}" in failure.message
    assert failure.fix.endswith(f"midimon trust pin cont {other.key_id_hex}")


def test_an_unsigned_copy_of_a_pinned_name(world: World) -> None:
    """Unsigned is refused for a pinned name unless dev_mode or allowed_unsigned lets this
    exact binary in; the fix names its hash."""
    owner, _ = generate_keypair()
    world.pin(owner)
    refused = world.check(None)
    assert codes(refused) == ["signer_changed"]
    assert f'allowed_unsigned = ["{SHA}"]' in refused.failures[0].fix
    assert codes(world.check(None, SignaturePolicy(dev_mode=True))) == []
    assert codes(world.check(None, SignaturePolicy(allowed_unsigned=frozenset({SHA})))) == []


def test_a_bundled_name_stays_with_the_installation(world: World) -> None:
    """A name pinned to this installation refuses a key's copy, even one in rotation."""
    key, _ = generate_keypair()
    world.pins.set(Pin("cont", BUNDLED, "bundled"))
    report = world.check(key.key_id_hex)
    assert codes(report) == ["signer_changed"]
    assert "this midimon installation (bundled)" in report.failures[0].message


def test_a_rotation_statement_hands_the_name_on(world: World) -> None:
    """The pinned key's statement in the plugin folder moves the pin to the new key."""
    old: tuple[PublicKey, SecretKey] = generate_keypair()
    new, _ = generate_keypair()
    world.pin(old[0])
    write_statement(old[1], new, ("cont",), world.manifest.directory)
    report = world.check(new.key_id_hex)
    assert codes(report) == []
    assert report.pin_update == Pin("cont", new.key_id_hex, "rotation", new.to_base64())
    assert any(f"signer rotated {old[0].key_id_hex} -> {new.key_id_hex}" in n
               for n in report.notes)  # fmt: skip


def test_a_broken_rotation_statement_fails_the_report(world: World) -> None:
    """A tampered statement is a rotation failure, not a silent fallback."""
    old = generate_keypair()
    new, _ = generate_keypair()
    world.pin(old[0])
    path = write_statement(old[1], new, ("cont",), world.manifest.directory)
    path.write_text(path.read_text().replace("plugins: cont", "plugins: *"))
    report = world.check(new.key_id_hex)
    assert codes(report) == ["rotation"]
    assert "key rotation statement refused" in report.failures[0].message


def test_unreadable_pins_fail_the_report(world: World) -> None:
    """A damaged pin file fails signer_pins naming it, instead of pinning anew."""
    world.pins.path.write_text("{broken")
    report = world.check(None)
    assert codes(report) == ["signer_pins"]
    assert str(world.pins.path) in report.failures[0].message
