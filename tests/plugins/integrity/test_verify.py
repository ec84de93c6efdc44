"""Signatures on real plugins: sign, trust, verify; every tampering and mix-up is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers import Keys, MakePlugin, RunMidimon, require_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from midimon.plugins.description.manifest import PluginManifest, load_manifest, parse_manifest
from midimon.plugins.errors import ManifestError
from midimon.plugins.integrity.minisign import sign
from midimon.plugins.integrity.minisign_keys import PublicKey, generate_keypair
from midimon.plugins.integrity.rollback import RollbackStore
from midimon.plugins.integrity.trust import TrustStore
from midimon.plugins.integrity.verify import (
    IntegrityChecker,
    IntegrityError,
    IntegrityReport,
    load_verified,
    signature_path,
)
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.settings import SignaturePolicy

STRICT = SignaturePolicy()


@pytest.fixture
def checker(tmp_path: Path) -> IntegrityChecker:
    """A checker over an empty trust store and rollback file under tmp_path."""
    return IntegrityChecker(TrustStore(tmp_path / "trusted"), RollbackStore(tmp_path / "rb.json"))


def cli_sign(run_midimon: RunMidimon, folder: Path, keys: Keys, *extra: str) -> None:
    done = run_midimon("sign", folder, "-s", keys.key_path, *extra)
    assert done.returncode == 0, done.stderr


def check(checker: IntegrityChecker, folder: Path, policy: SignaturePolicy = STRICT):
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    return checker.check(manifest, manifest.binary.read_bytes(), policy)


def codes(report: IntegrityReport) -> set[str]:
    return {f.code for f in report.failures}


def test_sign_trust_verify_round_trip(
    make_plugin: MakePlugin, run_midimon: RunMidimon, keys: Keys
) -> None:
    """midimon sign + trust add -> verify exits 0 and reports signer, key id and comment."""
    folder = make_plugin("signed_ok")
    cli_sign(run_midimon, folder, keys, "-t", "release build")
    assert run_midimon("verify", folder).returncode == 1  # not trusted yet
    done = run_midimon("trust", "add", keys.pub_path, "--name", "Alice", "--plugins", "signed_ok")
    assert done.returncode == 0, done.stderr
    done = run_midimon("verify", folder, "--json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["trust"] == "signed"
    sig = report["signature"]
    assert (sig["algorithm"], sig["key_id"], sig["signer"]) == (
        "ED",
        keys.public.key_id_hex,
        "Alice",
    )
    assert f"sha256:{report['sha256']}" in sig["trusted_comment"]
    assert sig["trusted_comment"].endswith("release build")
    assert report["reported"]["name"] == "signed_ok"
    text = run_midimon("verify", folder).stdout
    assert "signer Alice" in text and "verdict: OK" in text
    done = run_midimon("plugins", "exec", "signed_ok", "--plugins-dir", folder.parent, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["trust"] == "signed"


def test_real_minisign_accepts_what_midimon_sign_writes(
    make_plugin: MakePlugin, run_midimon: RunMidimon, keys: Keys
) -> None:
    """`minisign -Vm` verifies both files midimon sign wrote, trusted comment included."""
    minisign = require_tool("minisign")
    folder = make_plugin("interop_out")
    cli_sign(run_midimon, folder, keys)
    for target in (folder / "plugin.so", folder / "plugin.toml"):
        done = subprocess.run(
            [minisign, "-Vm", str(target), "-p", str(keys.pub_path)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert "Trusted comment: timestamp:" in done.stdout


def test_plugin_signed_with_real_minisign_verifies(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """Binary and plugin.toml signed by `minisign -S` (its own keys) verify in midimon."""
    minisign = require_tool("minisign")
    pub, key = tmp_path / "ms.pub", tmp_path / "ms.key"
    subprocess.run(
        [minisign, "-G", "-W", "-p", str(pub), "-s", str(key)], check=True, capture_output=True
    )
    folder = make_plugin("interop_in")
    for target in ("plugin.so", "plugin.toml"):
        subprocess.run(
            [minisign, "-S", "-s", str(key), "-m", str(folder / target)],
            check=True,
            capture_output=True,
        )
    assert run_midimon("trust", "add", pub, "--name", "Bob", "--any").returncode == 0
    done = run_midimon("verify", folder, "--json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["signature"]["signer"] == "Bob"
    assert any("covered by its own signature" in c["detail"] for c in report["checks"])
    # Without the manifest's own signature nothing binds plugin.toml: refused.
    (folder / "plugin.toml.minisig").unlink()
    done = run_midimon("verify", folder, "--json")
    assert done.returncode == 1
    assert "plugin.toml is not covered" in done.stdout


@pytest.fixture
def signed(make_plugin: MakePlugin, run_midimon: RunMidimon, keys: Keys, checker) -> Path:
    """A small plugin signed by midimon sign, its key trusted by ``checker``."""
    folder = make_plugin("flip_me")
    cli_sign(run_midimon, folder, keys)
    checker.trust_store.add(keys.public, "Alice")
    assert check(checker, folder).ok
    return folder


def test_every_byte_of_binary_is_covered(signed: Path, checker: IntegrityChecker) -> None:
    """Flipping any one bit of any byte of the binary is refused as a bad signature."""
    manifest = load_manifest(signed)
    data = bytearray((signed / "plugin.so").read_bytes())
    for position in range(len(data)):
        data[position] ^= 0x01
        report = checker.check(manifest, bytes(data), STRICT)
        data[position] ^= 0x01
        assert codes(report) == {"bad_signature"}, position


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_binary_flips_property(signed: Path, checker: IntegrityChecker, data) -> None:
    """Any byte of the binary replaced by any other value is refused (hypothesis)."""
    manifest = load_manifest(signed)
    binary = bytearray((signed / "plugin.so").read_bytes())
    position = data.draw(st.integers(0, len(binary) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != binary[position]), label="value")
    binary[position] = value
    assert codes(checker.check(manifest, bytes(binary), STRICT)) == {"bad_signature"}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_manifest_flips_property(signed: Path, checker: IntegrityChecker, data) -> None:
    """Any changed byte of plugin.toml is refused: invalid manifest or manifest hash mismatch."""
    raw = bytearray((signed / "plugin.toml").read_bytes())
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    raw[position] = data.draw(st.integers(0, 255).filter(lambda v: v != raw[position]))
    try:
        manifest = parse_manifest(bytes(raw), signed / "plugin.toml")
    except ManifestError:  # the flip broke the TOML or a field: it never loads
        return
    if manifest.binary is None or not manifest.binary.is_file():
        return  # the flip renamed the binary: nothing to load
    report = checker.check(manifest, manifest.binary.read_bytes(), STRICT)
    assert not report.ok
    assert codes(report) & {"mismatch", "manifest_unsigned"}


def test_every_signature_file_byte_is_covered(signed: Path, checker: IntegrityChecker) -> None:
    """Flipping any byte after the untrusted comment line of the .minisig is refused.

    The first line is minisign's *untrusted* comment: by the format's design it is not signed,
    so changing it is allowed (minisign itself ignores it too).
    """
    sig_path = signature_path(signed / "plugin.so")
    original = sig_path.read_bytes()
    manifest = load_manifest(signed)
    binary = (signed / "plugin.so").read_bytes()
    start = original.index(b"\n") + 1
    try:
        for position in range(start, len(original)):
            flipped = bytearray(original)
            flipped[position] ^= 0x01
            sig_path.write_bytes(bytes(flipped))
            report = checker.check(manifest, binary, STRICT)
            assert not report.ok, position
            assert codes(report) <= {"bad_signature", "untrusted_key", "mismatch"}, position
    finally:
        sig_path.write_bytes(original)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_signature_file_flips_property(signed: Path, checker: IntegrityChecker, data) -> None:
    """Any signed byte of the .minisig replaced by any other value is refused (hypothesis)."""
    sig_path = signature_path(signed / "plugin.so")
    original = sig_path.read_bytes()
    start = original.index(b"\n") + 1
    position = data.draw(st.integers(start, len(original) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != original[position]))
    flipped = bytearray(original)
    flipped[position] = value
    try:
        sig_path.write_bytes(bytes(flipped))
        report = check(checker, signed)
    finally:
        sig_path.write_bytes(original)
    assert not report.ok


def test_untrusted_key(signed: Path, tmp_path: Path) -> None:
    """A valid signature by a key not in the trust store is refused as untrusted."""
    empty = IntegrityChecker(TrustStore(tmp_path / "none"), None)
    report = check(empty, signed)
    assert codes(report) == {"untrusted_key"}
    assert "midimon trust add" in report.failures[0].fix


def test_wrong_key_with_the_same_id(signed: Path, keys: Keys, tmp_path: Path) -> None:
    """A trusted key whose id matches but whose key differs fails the signature check."""
    other, _ = generate_keypair()
    store = TrustStore(tmp_path / "impostor")
    store.add(PublicKey(key_id=keys.public.key_id, raw=other.raw), "Mallory")
    report = check(IntegrityChecker(store, None), signed)
    assert codes(report) == {"bad_signature"}


def test_key_out_of_scope(signed: Path, keys: Keys, tmp_path: Path) -> None:
    """A key trusted only for alice_* plugins cannot vouch for flip_me."""
    store = TrustStore(tmp_path / "scoped")
    store.add(keys.public, "Alice", ("alice_*",))
    report = check(IntegrityChecker(store, None), signed)
    assert codes(report) == {"out_of_scope"}
    assert "alice_*" in report.failures[0].message


def resign(folder: Path, keys: Keys, comment: str, prehash: bool = True) -> None:
    data = (folder / "plugin.so").read_bytes()
    sign(data, keys.secret, comment, prehash=prehash).save(signature_path(folder / "plugin.so"))


def test_legacy_signature_needs_policy(signed: Path, keys: Keys, checker) -> None:
    """A legacy (non-prehashed) Ed signature is refused unless the policy allows it."""
    manifest_sha = load_manifest(signed).manifest_sha256
    resign(signed, keys, f"timestamp:1\tmanifest_sha256:{manifest_sha}", prehash=False)
    assert codes(check(checker, signed)) == {"legacy"}
    assert check(checker, signed, SignaturePolicy(allow_legacy_signatures=True)).ok


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("file", "other.so", "file name"),
        ("name", "someone_else", "name"),
        ("version", "9.9.9", "version"),
        ("sha256", "0" * 64, "sha256"),
        ("manifest_sha256", "f" * 64, "manifest SHA-256"),
    ],
)
def test_trusted_comment_fields_enforced(
    signed: Path, keys: Keys, checker, field: str, value: str, fragment: str
) -> None:
    """A genuine signature whose trusted comment names another file/plugin/hash is refused."""
    manifest = load_manifest(signed)
    fields = {
        "timestamp": "1700000000",
        "file": "plugin.so",
        "name": manifest.name,
        "version": manifest.version,
        "manifest_sha256": manifest.manifest_sha256,
        field: value,
    }
    resign(signed, keys, "\t".join(f"{k}:{v}" for k, v in fields.items()))
    report = check(checker, signed)
    assert codes(report) == {"mismatch"}
    assert fragment in report.failures[0].message


def test_manifest_from_another_plugin(
    make_plugin: MakePlugin, run_midimon: RunMidimon, keys: Keys, checker, tmp_path: Path
) -> None:
    """A signed binary paired with another signed release's plugin.toml is refused."""
    one = make_plugin("pair_me", root=tmp_path / "r1")
    two = make_plugin(
        "pair_me",
        root=tmp_path / "r2",
        manifest={"capabilities": {}},
        defines={"P_MARK": '"second"'},
    )
    (two / "plugin.toml").write_text(
        (two / "plugin.toml")
        .read_text()
        .replace('description = "a test plugin"', 'description = "another release"')
    )
    cli_sign(run_midimon, one, keys)
    cli_sign(run_midimon, two, keys)
    checker.trust_store.add(keys.public)
    for name in ("plugin.toml", "plugin.toml.minisig"):
        (one / name).write_bytes((two / name).read_bytes())
    report = check(checker, one)
    assert codes(report) == {"mismatch"}
    assert "manifest_sha256" in report.failures[0].message


def test_missing_signature(make_plugin: MakePlugin, checker) -> None:
    """No .minisig: refused by default, allowed only by dev mode or the hash allow-list."""
    folder = make_plugin("unsigned")
    report = check(checker, folder)
    assert codes(report) == {"unsigned"}
    assert report.sha256 in report.failures[0].fix
    assert check(checker, folder, SignaturePolicy(dev_mode=True)).trust == "unsigned-allowed"
    allowed = SignaturePolicy(allowed_unsigned=frozenset({report.sha256}))
    assert check(checker, folder, allowed).ok
    assert not check(checker, folder, SignaturePolicy(allowed_unsigned=frozenset({"0" * 64}))).ok


def test_anti_rollback(
    make_plugin: MakePlugin, run_midimon: RunMidimon, keys: Keys, checker, tmp_path: Path
) -> None:
    """After 1.1.0 loaded, a validly signed 1.0.0 is refused unless downgrade is allowed."""
    checker.trust_store.add(keys.public)
    new = make_plugin("versioned", root=tmp_path / "new", manifest={"version": "1.1.0"})
    old = make_plugin("versioned", root=tmp_path / "old", manifest={"version": "1.0.0"})
    cli_sign(run_midimon, new, keys)
    cli_sign(run_midimon, old, keys)
    assert check(checker, old).ok  # nothing accepted yet
    load_verified(load_manifest(new), STRICT, checker)
    report = check(checker, old)
    assert codes(report) == {"rollback"}
    assert "1.0.0 is older than 1.1.0" in report.failures[0].message
    assert check(checker, old, SignaturePolicy(allow_downgrade=True)).ok
    assert check(checker, new).ok  # the same release again is fine
    assert json.loads((tmp_path / "rb.json").read_text())["versioned"]["version"] == "1.1.0"


class SwappingChecker(IntegrityChecker):
    """Replaces the binary on disk right after verifying the bytes it was given."""

    def __init__(self, base: IntegrityChecker, replacement: bytes, target: Path) -> None:
        super().__init__(base.trust_store, base.rollback)
        self.replacement = replacement
        self.target = target

    def check(self, manifest: PluginManifest, data: bytes, policy: SignaturePolicy):
        report = super().check(manifest, data, policy)
        self.target.write_bytes(self.replacement)
        return report


def test_toctou_swap_after_verification_loads_verified_code(
    signed: Path, make_plugin: MakePlugin, checker, tmp_path: Path
) -> None:
    """The binary replaced between verification and load: the verified code is what runs."""
    evil = make_plugin("flip_me", root=tmp_path / "evil", defines={"P_MARK": '"evil"'})
    swapping = SwappingChecker(checker, (evil / "plugin.so").read_bytes(), signed / "plugin.so")
    plugin = load_verified(load_manifest(signed), STRICT, swapping)
    plugin.initialize()
    assert plugin.execute({}, TriggerContext()).startswith("original ")
    assert (signed / "plugin.so").read_bytes() == (evil / "plugin.so").read_bytes()
    # And the file now on disk is refused on the next load.
    with pytest.raises(IntegrityError, match="signature verification failed"):
        load_verified(load_manifest(signed), STRICT, checker)
