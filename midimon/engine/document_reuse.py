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

import bisect
import re
import threading
from typing import Any

from midimon import _toml

# Line patterns start with the newline before the line (a literal: the regex engine skips to
# each newline instead of trying every position); layout() puts one before the text.
_KEY = r"[A-Za-z0-9_-]+"
_COUNTED = (
    r"\[[ \t]*(modes|modes[ \t]*\.[ \t]*mappings|global_mappings)[ \t]*\]\][ \t]*(?:#[^\n]*)?$"
)
# A counted header line: [[modes]], [[modes.mappings]], [[global_mappings]] (group 1 its name)
_COUNTED_LINE = re.compile(r"\n[ \t]*\[" + _COUNTED, re.MULTILINE)
# A line starting with "[" that is neither a counted header nor a header of bare keys whose first
# key is not modes or global_mappings ([plugins], [[x.y]]; an array's line such as [1, 2] too)
_SUSPECT_LINE = re.compile(
    r"\n[ \t]*\[(?!" + _COUNTED + r"|\[?[ \t]*(?!(?:modes|global_mappings)(?![A-Za-z0-9_-]))"
    + _KEY + r"(?:[ \t]*\.[ \t]*" + _KEY + r")*[ \t]*\]\]?[ \t]*(?:#[^\n]*)?$)",
    re.MULTILINE,
)
_BRACKET_LINE = re.compile(r"^[ \t]*\[", re.MULTILINE)


class Layout:
    """The mapping tables of a text, in order: where each body starts (just after its header
    line's newline) and ends (the next counted header's start, or the end of the text), and
    where the document holds it: (its mode's index in ``modes``, or None for
    ``global_mappings``; its index in that array)."""

    __slots__ = ("ends", "places", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.places: list[tuple[int | None, int]] = []

    def around(self, start: int, end: int) -> int | None:
        """The index of the mapping whose body holds ``[start, end)``, or None."""
        at = bisect.bisect_right(self.starts, start) - 1
        return at if at >= 0 and end <= self.ends[at] else None

    def grow(self, at: int, shift: int) -> None:
        """Mapping ``at``'s body grew by ``shift`` characters (fewer when negative)."""
        if shift:
            self.ends[at] += shift
            self.starts[at + 1 :] = [start + shift for start in self.starts[at + 1 :]]
            self.ends[at + 1 :] = [end + shift for end in self.ends[at + 1 :]]


def layout(text: str, doc: dict[str, Any]) -> Layout | None:
    """The mapping tables of ``text`` (parsed as ``doc``), or None when its headers do not
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
    lined = "\n" + text  # lined[i + 1] is text[i]: a match's "\n" at i starts text's line at i
    if _SUSPECT_LINE.search(lined):
        return None  # it may reach into a mapping from outside its body
    found = Layout()
    starts, ends, places = found.starts, found.ends, found.places
    counts = [0] * len(modes)
    found_modes = found_globals = 0
    for header in _COUNTED_LINE.finditer(lined):
        if len(starts) > len(ends):
            ends.append(header.start())
        kind = header.group(1)  # "modes", "global_mappings" or "modes.mappings" (maybe spaced)
        if kind == "modes":
            found_modes += 1
            continue
        starts.append(header.end())  # past its newline in text (past the end if none)
        if kind[0] == "g":
            places.append((None, found_globals))
            found_globals += 1
        else:
            mode = found_modes - 1
            if mode < 0 or mode >= len(modes):
                return None
            places.append((mode, counts[mode]))
            counts[mode] += 1
    if len(starts) > len(ends):
        ends.append(len(text))
    if found_modes != len(modes) or found_globals != len(globals_):
        return None
    for mode, table in enumerate(modes):
        mappings = table.get("mappings", []) if isinstance(table, dict) else None
        if not isinstance(mappings, list) or len(mappings) != counts[mode]:
            return None
    return found


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


def _replaced(
    doc: dict[str, Any], place: tuple[int | None, int], table: dict[str, Any]
) -> dict[str, Any]:
    """``doc`` with the mapping table at ``place`` replaced, copied along the path only."""
    mode_index, position = place
    new = dict(doc)
    if mode_index is None:
        mappings = list(doc["global_mappings"])
        mappings[position] = table
        new["global_mappings"] = mappings
        return new
    modes = list(doc["modes"])
    mode = dict(modes[mode_index])
    mappings = list(mode["mappings"])
    mappings[position] = table
    mode["mappings"] = mappings
    modes[mode_index] = mode
    new["modes"] = modes
    return new


class DocumentReuse:
    """The last text parsed and its document, for the next parse (one per daemon). [any-thread]"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._text: str | None = None
        self._doc: dict[str, Any] = {}
        self._layout: Layout | None = None  # the last text's, once an edit needed it
        self._laid_out = False  # whether _layout is the last text's (None: it has none)
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
            at, body, laid_out = found
            try:
                table = _toml.loads(body)
            except _toml.TOMLDecodeError:  # the whole parse says where, in the file's lines
                return self._whole(text)
            doc = _replaced(self._doc, laid_out.places[at], table)
            laid_out.grow(at, len(text) - len(self._text or ""))
            self._text, self._doc = text, doc
            self.partial += 1
            return doc

    def _whole(self, text: str) -> dict[str, Any]:
        doc = _toml.loads(text)
        self._text, self._doc, self._layout, self._laid_out = text, doc, None, False
        self.whole += 1
        return doc

    def _edit_of_one_body(self, text: str) -> tuple[int, str, Layout] | None:
        """(the mapping's index, its new body, the layout) when ``text`` differs from the last
        text only inside one mapping's body and that body may be parsed alone; else None."""
        old = self._text
        if old is None or "\r" in text or '"""' in text or "'''" in text:
            return None
        prefix = _common_prefix(old, text)
        suffix = _common_suffix(old, text, min(len(old), len(text)) - prefix)
        # a line starting with "[" in the edit: not one body's (a quick no before the layout)
        before = max(prefix - 1, 0)
        if old.find("\n[", before, len(old) - suffix) >= 0:
            return None
        if text.find("\n[", before, len(text) - suffix) >= 0:
            return None
        if not self._laid_out:  # counted once per text an edit starts from
            self._layout, self._laid_out = layout(old, self._doc), True
        laid_out = self._layout
        at = laid_out.around(prefix, len(old) - suffix) if laid_out is not None else None
        if laid_out is None or at is None:  # the edit is old[prefix:-suffix]
            return None
        start, end = laid_out.starts[at], laid_out.ends[at]
        body = text[start : end + len(text) - len(old)]
        if end < len(old) and not body.endswith("\n"):
            return None  # the next header would no longer start a line
        if _BRACKET_LINE.search(body) or _BRACKET_LINE.search(old, start, end):
            return None  # the body would reach outside its table, or it did
        return at, body, laid_out


__all__ = ["DocumentReuse", "Layout", "layout"]
