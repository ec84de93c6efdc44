"""The trust store: trusted keys on disk with their name and plugin-name scope; damaged files
are refused naming the file."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from midimon.plugins.integrity.minisign_keys import generate_keypair
from midimon.plugins.integrity.trust import TrustedKey, TrustStore, TrustStoreError


def test_add_get_list_remove_round_trip(tmp_path: Path) -> None:
    """Keys added are found by id (any case), listed sorted by id, and removed with both
    files; removing twice says it was not trusted."""
    store = TrustStore(tmp_path / "trusted")
    assert store.list() == [] and store.get("00") is None  # no folder yet
    first, _ = generate_keypair()
    second, _ = generate_keypair()
    store.add(first, "Alice", ("alice_*",))
    store.add(second)
    assert stat.S_IMODE((tmp_path / "trusted").stat().st_mode) == 0o700
    got = store.get(first.key_id_hex.lower())
    assert got == TrustedKey(first, "Alice", ("alice_*",))
    assert [k.key_id for k in store.list()] == sorted([first.key_id_hex, second.key_id_hex])
    assert store.remove(first.key_id_hex)
    assert not (tmp_path / "trusted" / f"{first.key_id_hex}.toml").exists()
    assert store.get(first.key_id_hex) is None
    assert not store.remove(first.key_id_hex)
    assert [k.key for k in store.list()] == [second]


def test_adding_again_replaces_name_and_scope(tmp_path: Path) -> None:
    """Re-adding a trusted key keeps one entry with the new name and patterns."""
    store = TrustStore(tmp_path)
    key, _ = generate_keypair()
    store.add(key, "old", ("a_*",))
    store.add(key, "new", ())
    assert store.list() == [TrustedKey(key, "new", ())]


def test_names_and_patterns_survive_quotes_and_newlines(tmp_path: Path) -> None:
    """Whatever the user typed as a name or pattern reads back unchanged."""
    store = TrustStore(tmp_path)
    key, _ = generate_keypair()
    name = 'Dr. "Quote" \\ Back\nslash ü'
    store.add(key, name, ('we"ird*', "x\\y"))
    trusted = TrustStore(tmp_path).get(key.key_id_hex)
    assert trusted is not None
    assert (trusted.name, trusted.plugins) == (name, ('we"ird*', "x\\y"))


def test_scope_patterns() -> None:
    """No pattern allows any name; patterns match whole names, case-sensitively."""
    key, _ = generate_keypair()
    anything = TrustedKey(key, "any")
    scoped = TrustedKey(key, "scoped", ("alice_*", "a2"))
    assert anything.allows("whatever") and anything.as_dict()["plugins"] == ["*"]
    assert scoped.allows("alice_pad") and scoped.allows("a2")
    assert not scoped.allows("Alice_pad") and not scoped.allows("a2x")
    assert not scoped.allows("bob")
    assert scoped.as_dict() == {
        "key_id": key.key_id_hex,
        "name": "scoped",
        "plugins": ["alice_*", "a2"],
        "public_key": key.to_base64(),
    }


def test_a_key_file_holding_another_key_is_refused(tmp_path: Path) -> None:
    """A .pub file whose key is not the one its name says is refused, naming the file."""
    store = TrustStore(tmp_path)
    key, _ = generate_keypair()
    other, _ = generate_keypair()
    store.add(key)
    pub = tmp_path / f"{key.key_id_hex}.pub"
    other.save(pub)
    with pytest.raises(TrustStoreError, match=re.escape(f"{pub}: holds key {other.key_id_hex}")):
        store.get(key.key_id_hex)


@pytest.mark.parametrize(
    ("suffix", "text", "fragment"),
    [
        (".pub", "untrusted comment: x\nnot a key\n", "base64"),
        (".toml", "name = \n", ""),
        (".toml", 'name = "x"\nplugins = "alice_*"\n', "plugins must be a list of strings"),
        (".toml", 'plugins = ["a", 3]\n', "plugins must be a list of strings"),
    ],
)
def test_damaged_files_are_refused_naming_the_file(
    tmp_path: Path, suffix: str, text: str, fragment: str
) -> None:
    """A damaged key or metadata file raises TrustStoreError with its path, also from list()."""
    store = TrustStore(tmp_path)
    key, _ = generate_keypair()
    store.add(key, "k")
    damaged = tmp_path / f"{key.key_id_hex}{suffix}"
    damaged.write_text(text)
    with pytest.raises(TrustStoreError, match=re.escape(str(damaged))) as info:
        store.list()
    assert fragment in str(info.value)
