"""A config saved after an edit inside one mapping, parsed again without parsing the whole file.

rtoml takes about 2 ms for a 500-mapping config, most of a reload once the mappings are reused
(``midimon.engine.mapping_parse``). When the new text differs from the last one parsed only
inside the body of one ``[[modes.mappings]]`` or ``[[global_mappings]]`` table, that body alone
is parsed and the last document is copied along the path to it (the top table, the modes array,
the mode, its mappings array), every other table shared with the last document. Documents are
read, never changed, by the config parser; ``tests/engine/test_document_reuse.py`` holds the
result to a full parse of the same text, edit by edit.

The body is parsed alone only when that gives what the whole file would: the header lines of the
last text were counted and matched the last document's arrays (so each header found is the
element it seems); no other header of that text reaches under ``modes`` or ``global_mappings``
(so a mapping's table is all in its body); the text has no multi-line string (a header-like line
could hide in one) and no carriage return; the edit leaves the header line and the line start of
the next header alone; and no line of the body, old or new, starts with ``[`` (the body would
reach outside its table; a multi-line array is left to the full parse too). Anything else, an
error included, is parsed whole, so every message is the full parser's.
"""

from __future__ import annotations

import re
import threading
from typing import Any, NamedTuple

from midimon import _toml

# An array-of-tables header the layout counts: [[modes]], [[modes.mappings]], [[global_mappings]]
_COUNTED = re.compile(
    r"[ \t]*\[\[[ \t]*(modes|modes[ \t]*\.[ \t]*mappings|global_mappings)[ \t]*\]\]"
    r"[ \t]*(?:#.*)?"
)
# Any other header of bare keys ([plugins], [[x.y]]): group 1 is its first key
_OTHER_HEADER = re.compile(
    r"[ \t]*\[\[?[ \t]*([A-Za-z0-9_-]+)(?:[ \t]*\.[ \t]*[A-Za-z0-9_-]+)*[ \t]*\]\]?[ \t]*(?:#.*)?"
)
_BRACKET_LINE = re.compile(r"^[ \t]*\[[^\n]*", re.MULTILINE)
_MAPPING_ROOTS = frozenset({"modes", "global_mappings"})


class Section(NamedTuple):
    """One mapping table of the text: its body's span and where the document holds it."""

    body_start: int  # just after its header line's newline
    body_end: int  # the next counted header's start, or the end of the text
    mode: int | None  # its mode's index in ``modes``; None: in ``global_mappings``
    position: int  # its index in that mappings array


def layout(text: str, doc: dict[str, Any]) -> list[Section] | None:
    """The mapping sections of ``text`` (parsed as ``doc``), or None when its headers do not
    account for every element of the document's arrays (a header written another way, a quoted
    key, an inline array), a header other than the counted ones reaches under ``modes`` or
    ``global_mappings`` (``[modes.mappings.action]`` adds to the last mapping from wherever it
    stands), or the text may hide headers (multi-line strings, CRs)."""
    if '"""' in text or "'''" in text or "\r" in text or text.startswith("\ufeff"):
        return None
    modes = doc.get("modes", [])
    globals_ = doc.get("global_mappings", [])
    if not isinstance(modes, list) or not isinstance(globals_, list):
        return None
    counts = [0] * len(modes)
    found_modes = found_globals = 0
    sections: list[Section] = []
    open_section: tuple[int, int | None, int] | None = None
    for line in _BRACKET_LINE.finditer(text):
        header = _COUNTED.fullmatch(line.group())
        if header is None:
            other = _OTHER_HEADER.fullmatch(line.group())
            if other is None or other.group(1) in _MAPPING_ROOTS:
                return None  # it may reach into a mapping from outside its body
            continue  # another table (or an array's line): it changes no mapping
        if open_section is not None:
            sections.append(Section(open_section[0], line.start(), *open_section[1:]))
            open_section = None
        kind = header.group(1)  # "modes", "global_mappings" or "modes.mappings" (maybe spaced)
        body_start = line.end() + 1  # past its newline (the end of the text if there is none)
        if kind == "modes":
            found_modes += 1
        elif kind[0] == "g":
            open_section = (body_start, None, found_globals)
            found_globals += 1
        else:
            mode = found_modes - 1
            if mode < 0 or mode >= len(modes):
                return None
            open_section = (body_start, mode, counts[mode])
            counts[mode] += 1
    if open_section is not None:
        sections.append(Section(open_section[0], len(text), *open_section[1:]))
    if found_modes != len(modes) or found_globals != len(globals_):
        return None
    for mode, table in enumerate(modes):
        mappings = table.get("mappings", []) if isinstance(table, dict) else None
        if not isinstance(mappings, list) or len(mappings) != counts[mode]:
            return None
    return sections


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (halving slices: each step one memcmp)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    """The length of the longest common suffix, at most ``limit``."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle : len(a) - low] == b[len(b) - middle : len(b) - low]:
            low = middle
        else:
            high = middle - 1
    return low


def _replaced(doc: dict[str, Any], section: Section, table: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with the table of ``section`` replaced, copied along the path only."""
    new = dict(doc)
    if section.mode is None:
        mappings = list(doc["global_mappings"])
        mappings[section.position] = table
        new["global_mappings"] = mappings
        return new
    modes = list(doc["modes"])
    mode = dict(modes[section.mode])
    mappings = list(mode["mappings"])
    mappings[section.position] = table
    mode["mappings"] = mappings
    modes[section.mode] = mode
    new["modes"] = modes
    return new


class DocumentReuse:
    """The last text parsed and its document, for the next parse (one per daemon). [any-thread]"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: str | None = None
        self._doc: dict[str, Any] = {}
        self._sections: list[Section] | None = None
        self.partial = 0  # parses that read one mapping's body at most
        self.whole = 0  # parses of the whole text

    def loads(self, text: str) -> dict[str, Any]:
        """``text`` parsed as ``midimon._toml.loads`` would; raises its TOMLDecodeError."""
        with self._lock:
            if text == self._text:
                self.partial += 1
                return self._doc
            found = self._edit_of_one_body(text)
            if found is None:
                return self._whole(text)
            at, body = found
            try:
                table = _toml.loads(body)
            except _toml.TOMLDecodeError:  # the whole parse says where, in the file's lines
                return self._whole(text)
            sections = self._sections or []
            doc = _replaced(self._doc, sections[at], table)
            self._sections = _shifted(sections, at, len(text) - len(self._text or ""))
            self._text, self._doc = text, doc
            self.partial += 1
            return doc

    def _whole(self, text: str) -> dict[str, Any]:
        doc = _toml.loads(text)
        self._text, self._doc, self._sections = text, doc, layout(text, doc)
        self.whole += 1
        return doc

    def _edit_of_one_body(self, text: str) -> tuple[int, str] | None:
        """(the section's index, its new body) when ``text`` differs from the last text only
        inside one mapping's body and that body may be parsed alone; else None."""
        old, sections = self._text, self._sections
        if old is None or not sections or "\r" in text or '"""' in text or "'''" in text:
            return None
        prefix = _common_prefix(old, text)
        suffix = _common_suffix(old, text, min(len(old), len(text)) - prefix)
        changed_end = len(old) - suffix  # the edit is old[prefix:changed_end]
        at = _section_around(sections, prefix, changed_end)
        if at is None:
            return None
        section = sections[at]
        body = text[section.body_start : section.body_end + len(text) - len(old)]
        if section.body_end < len(old) and not body.endswith("\n"):
            return None  # the next header would no longer start a line
        if _BRACKET_LINE.search(body) or _BRACKET_LINE.search(old, *section[:2]):
            return None  # the body would reach outside its table, or it did
        return at, body


def _shifted(sections: list[Section], at: int, shift: int) -> list[Section]:
    """The sections once the body of ``sections[at]`` grew by ``shift`` characters."""
    if not shift:
        return sections
    edited = sections[at]
    moved = [Section(a + shift, b + shift, m, i) for a, b, m, i in sections[at + 1 :]]
    return [*sections[:at], Section(edited[0], edited[1] + shift, *edited[2:]), *moved]


def _section_around(sections: list[Section], start: int, end: int) -> int | None:
    """The index of the section whose body holds old[start:end] (binary search by body start)."""
    low, high = 0, len(sections) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if sections[middle].body_start <= start:
            low = middle
        else:
            high = middle - 1
    section = sections[low]
    return low if section.body_start <= start and end <= section.body_end else None


__all__ = ["DocumentReuse", "layout"]
