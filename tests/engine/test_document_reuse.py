"""Parsing a config again after an edit inside one mapping (midimon/engine/document_reuse.py):
edit after edit, every answer is what a full parse of the same text gives (the same document, or
the same error), the last documents are never changed, and only edits the module can vouch for
skip the full parse."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midimon import _toml
from midimon.engine.document_reuse import DocumentReuse, layout

BASE = """\
[device]
name = "pads"

[[modes]]
name = "Default"

[[modes.mappings]]
description = "one"
trigger = { type = "Note", note = 1 }
action = { type = "Shell", argv = ["true"] }

[[ modes . mappings ]]  # spaced, with a comment
description = "two"
trigger.type = "CC"
trigger.controller = 7
action = { type = "Text", text = "x" }

[[modes.mappings]]
description = "three"
trigger = { type = "Note", note = 3 }
action = { type = "Text", text = "three" }

[[global_mappings]]
description = "everywhere"
trigger = { type = "Note", note = 9 }
action = { type = "ModeChange", mode = "next" }

[[modes]]
name = "Second"

[[modes.mappings]]
description = "four"
trigger = { type = "Note", note = 4 }
action = { type = "Shell", argv = [
  "multi-line", "array"
] }

[plugins]
rate_limit = 10.0
"""

# Pieces an edit inserts: valid values, keys, headers, brackets, quotes, line ends, garbage.
PIECES = (
    "x", "7", '"', "'", "\n", "[", "]", "{", "}", "=", "#", " ", ".", ",",
    'description = "new"\n', "led = \"toggle\"\n", "[[modes.mappings]]\n", "[[modes]]\n",
    "[[global_mappings]]\n", "[modes.mappings.trigger]\n", 'text = """a\nb"""\n', "\r\n",
    'extra = { a = 1 }\n', "12:30:00", "\ufeff", "note = 5\n", "[plugins]\n",
    "[modes.mappings.extra]\n", "[global_mappings.extra]\n", "[[modes.mappings.sub]]\n",
    "[ modes ]\n", '["modes".x]\n', "[1, 2]\n",
)  # fmt: skip


def full(text: str):
    """What a full parse gives: ("ok", document) or ("error", message)."""
    try:
        return "ok", _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        return "error", str(exc)


def reused(documents: DocumentReuse, text: str):
    try:
        return "ok", documents.loads(text)
    except _toml.TOMLDecodeError as exc:
        return "error", str(exc)


def edit(text: str, at: int, cut: int, piece: str) -> str:
    at %= len(text) + 1
    return text[:at] + piece + text[at + cut :]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(BASE)),
            st.integers(0, 12),
            st.sampled_from(PIECES),
            st.booleans(),  # go back to the last valid text first (keeps most steps parsable)
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_edit_parses_as_the_whole_file_would(steps) -> None:
    documents = DocumentReuse()
    text = valid = BASE
    assert reused(documents, text) == full(text)
    given_out: list[tuple[dict, dict]] = []  # each document returned, and a copy made then
    for at, cut, piece, restart in steps:
        text = edit(valid if restart else text, at, cut, piece)
        expected = full(text)
        got = reused(documents, text)
        assert got == expected, text
        if got[0] == "ok":
            valid = text
            given_out.append((got[1], copy.deepcopy(got[1])))
    for document, as_given in given_out:  # nothing returned earlier was changed since
        assert document == as_given


def test_an_edit_inside_one_mapping_parses_that_mapping_only() -> None:
    documents = DocumentReuse()
    documents.loads(BASE)
    for old, new in (('"one"', '"one, edited"'), ('note = 9', 'note = 99'), ("= 7", "= 8")):
        edited = BASE.replace(old, new)
        assert documents.loads(edited) == _toml.loads(edited)
        documents.loads(BASE)
    assert (documents.whole, documents.partial) == (1, 6)


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ('name = "pads"', 'name = "keys"', "outside every mapping"),
        ("[[modes.mappings]]\ndescription = \"one\"", "[[modes.mappings]]\n[x]\ndescription = "
         "\"one\"", "a header in the body"),
        ('"array"', '"arrays"', "the last mapping's body runs on into [plugins]"),
        ('description = "two"', 'description = """two"""', "a multi-line string"),
        ("[[ modes . mappings ]]  # spaced, with a comment", "[[modes.mappings]]", "the header"),
        ("[[ modes . mappings ]]", '[[modes.mappings]]\ntrigger = { type = "Note", note = 2 }\n'
         'action = { type = "Text", text = "y" }\n\n[[ modes . mappings ]]', "a mapping added"),
    ],
)  # fmt: skip
def test_edits_it_cannot_vouch_for_parse_the_whole_file(old: str, new: str, why: str) -> None:
    documents = DocumentReuse()
    documents.loads(BASE)
    edited = BASE.replace(old, new, 1)
    assert edited != BASE
    assert documents.loads(edited) == _toml.loads(edited), why
    assert (documents.whole, documents.partial) == (2, 0), why


def test_a_broken_body_is_reported_where_the_whole_file_has_it() -> None:
    documents = DocumentReuse()
    documents.loads(BASE)
    broken = BASE.replace('description = "one"', "description = ")
    with pytest.raises(_toml.TOMLDecodeError) as raised:
        documents.loads(broken)
    with pytest.raises(_toml.TOMLDecodeError) as whole:
        _toml.loads(broken)
    assert str(raised.value) == str(whole.value)
    assert "line 8" in str(raised.value)  # the file's line, not the body's


def test_headers_written_another_way_leave_no_layout() -> None:
    quoted = BASE.replace("[[global_mappings]]", '[["global_mappings"]]')
    assert layout(quoted, _toml.loads(quoted)) is None
    inline = 'modes = [{ name = "A", mappings = [] }]\n'
    assert layout(inline, _toml.loads(inline)) is None
    # a header anywhere that adds to the last mapping, and an array's line that looks like one
    sub_table = BASE.replace("[plugins]", "[modes.mappings.extra]\nx = 1\n[plugins]")
    nested = BASE.replace('"multi-line", "array"', '"multi-line",\n["nested"]')
    for text in (sub_table, nested):
        assert layout(text, _toml.loads(text)) is None
    found = layout(BASE, _toml.loads(BASE))
    assert found is not None
    assert found.places == [(0, 0), (0, 1), (0, 2), (None, 0), (1, 0)]
    spans = zip(found.starts, found.ends, strict=True)
    assert [BASE[start:end].split("\n", 1)[0] for start, end in spans] == [
        'description = "one"', 'description = "two"', 'description = "three"',
        'description = "everywhere"', 'description = "four"']  # fmt: skip
    assert BASE[found.ends[0] :].startswith("[[ modes . mappings ]]")
