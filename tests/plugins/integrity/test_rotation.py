"""Signer key rotation statements: written and signed by the old key, read back and chained;
every tampering, missing file or mismatch is refused naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from midimon.plugins.integrity.minisign import sign
from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey, generate_keypair
from midimon.plugins.integrity.rotation import (
    MAGIC,
    RotationError,
    find_chain,
    is_rotation_file,
    read_statement,
    statement_name,
    write_statement,
)

Pair = tuple[PublicKey, SecretKey]


@pytest.fixture
def a() -> Pair:
    return generate_keypair()


@pytest.fixture
def b() -> Pair:
    return generate_keypair()


def test_statement_names() -> None:
    """The file name carries both key ids in upper case; only those names (and their
    signatures) count as rotation files."""
    name = statement_name("00aabbccddeeff11", "1122334455667788")
    assert name == "rotate-00AABBCCDDEEFF11-1122334455667788.txt"
    assert is_rotation_file(name) and is_rotation_file(name + ".minisig")
    for other in ("rotate-00AABBCC-1122334455667788.txt", name + ".bak", "sub/" + name,
                  name.lower(), "plugin.so"):  # fmt: skip
        assert not is_rotation_file(other), other


def test_a_written_statement_reads_back(tmp_path: Path, a: Pair, b: Pair) -> None:
    """write_statement signs with the old key; read_statement verifies it and gives the new
    key and the plugin patterns; find_chain finds the one step for a matching name."""
    path = write_statement(a[1], b[0], ("pad_*", "knob"), tmp_path)
    assert path.name == statement_name(a[0].key_id_hex, b[0].key_id_hex)
    assert path.read_text().splitlines()[0] == MAGIC
    rotation = read_statement(path, a[0])
    assert (rotation.old, rotation.new) == (a[0].key_id_hex, b[0].key_id_hex)
    assert rotation.new_key == b[0] and rotation.plugins == ("pad_*", "knob")
    assert find_chain(tmp_path, "pad_one", a[0], b[0].key_id_hex) == [rotation]
    assert find_chain(tmp_path, "knob", a[0], b[0].key_id_hex) == [rotation]
    assert find_chain(tmp_path, "other", a[0], b[0].key_id_hex) is None
    assert find_chain(tmp_path, "pad_one", b[0], a[0].key_id_hex) is None  # not backwards


def test_statements_chain(tmp_path: Path, a: Pair, b: Pair) -> None:
    """A -> B -> C: the chain from A reaches C in two verified steps."""
    c = generate_keypair()
    write_statement(a[1], b[0], ("p",), tmp_path)
    write_statement(b[1], c[0], ("p",), tmp_path)
    chain = find_chain(tmp_path, "p", a[0], c[0].key_id_hex)
    assert chain is not None
    assert [(r.old, r.new) for r in chain] == [
        (a[0].key_id_hex, b[0].key_id_hex),
        (b[0].key_id_hex, c[0].key_id_hex),
    ]


def test_a_loop_of_statements_ends(tmp_path: Path, a: Pair, b: Pair) -> None:
    """A -> B -> A never reaches C: find_chain gives up (no endless walk)."""
    c = generate_keypair()
    write_statement(a[1], b[0], ("p",), tmp_path)
    write_statement(b[1], a[0], ("p",), tmp_path)
    assert find_chain(tmp_path, "p", a[0], c[0].key_id_hex) is None


def test_a_statement_needs_a_plugin(tmp_path: Path, a: Pair, b: Pair) -> None:
    """A statement naming no plugin is refused before anything is written."""
    with pytest.raises(RotationError, match="at least one plugin"):
        write_statement(a[1], b[0], (), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_statement_is_refused(tmp_path: Path, a: Pair, b: Pair) -> None:
    """Widening the plugin list after signing breaks the old key's signature; find_chain
    raises rather than ignoring the statement."""
    path = write_statement(a[1], b[0], ("mine",), tmp_path)
    path.write_text(path.read_text().replace("plugins: mine", "plugins: *"))
    with pytest.raises(RotationError, match=f"not signed by the old key {a[0].key_id_hex}"):
        read_statement(path, a[0])
    with pytest.raises(RotationError, match=str(path.name)):
        find_chain(tmp_path, "mine", a[0], b[0].key_id_hex)


def test_a_statement_signed_by_another_key_is_refused(tmp_path: Path, a: Pair, b: Pair) -> None:
    """Only the old key's own signature counts."""
    path = write_statement(b[1], b[0], ("p",), tmp_path)  # B speaking
    with pytest.raises(RotationError, match="not signed by the old key"):
        read_statement(path, a[0])


def test_the_signature_file_is_required(tmp_path: Path, a: Pair, b: Pair) -> None:
    """A statement without its .minisig is refused, naming the missing file."""
    path = write_statement(a[1], b[0], ("p",), tmp_path)
    signature = path.with_name(path.name + ".minisig")
    signature.unlink()
    with pytest.raises(RotationError, match=f"{signature.name}: missing"):
        read_statement(path, a[0])


def test_the_signed_comment_must_name_the_rotation(tmp_path: Path, a: Pair, b: Pair) -> None:
    """A valid signature whose trusted comment is not this rotation's is refused: a signature
    made for something else cannot be reused as a statement."""
    path = write_statement(a[1], b[0], ("p",), tmp_path)
    sign(path.read_bytes(), a[1], "timestamp:1\tfile:plugin.so").save(
        path.with_name(path.name + ".minisig")
    )
    with pytest.raises(RotationError, match="signed comment does not name this rotation"):
        read_statement(path, a[0])


def test_the_file_name_must_match_the_keys(tmp_path: Path, a: Pair, b: Pair) -> None:
    """A statement copied under another key pair's file name is refused."""
    c = generate_keypair()
    path = write_statement(a[1], b[0], ("p",), tmp_path)
    moved = tmp_path / statement_name(a[0].key_id_hex, c[0].key_id_hex)
    path.rename(moved)
    path.with_name(path.name + ".minisig").rename(moved.with_name(moved.name + ".minisig"))
    with pytest.raises(RotationError, match="file name and the old/new key ids disagree"):
        read_statement(moved, a[0])


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda t: t.replace("midimon signer rotation v1", "rotation v2"), "line 1 must be"),
        (lambda t: t + "extra: 1\n", "line 6 is not one of"),
        (lambda t: "\n".join(x for x in t.splitlines() if not x.startswith("plugins")),
         "missing plugins"),
    ],
)  # fmt: skip
def test_malformed_text_is_refused(
    tmp_path: Path, a: Pair, b: Pair, edit, fragment: str
) -> None:
    """Text the old key did sign is still refused when it is not a well-formed statement."""
    path = write_statement(a[1], b[0], ("p",), tmp_path)
    text = edit(path.read_text())
    path.write_text(text)
    old, new = a[0].key_id_hex, b[0].key_id_hex
    comment = f"timestamp:1\tfile:{path.name}\trotation\told:{old}\tnew:{new}"
    sign(text.encode(), a[1], comment).save(path.with_name(path.name + ".minisig"))
    with pytest.raises(RotationError, match=fragment):
        read_statement(path, a[0])
