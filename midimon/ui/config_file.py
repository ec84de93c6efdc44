"""The editor's config file: the page's edited config (plain JSON) merged into the file's TOML
document so the user's comments, key order and layout stay, its version (a SHA-256 of the
bytes), and the difference shown when the file changed on disk meanwhile.

tomlkit is imported here and nowhere else; its errors become ``ConfigEditError``.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.container import Container
from tomlkit.items import AoT, Array, Comment, InlineTable, Item, Table, Whitespace

from midimon._toml import TOMLDecodeError, loads
from midimon.ui.errors import ConfigEditError

__all__ = ["diff", "merged_text", "parse", "version"]


def version(data: bytes) -> str:
    """The version token of a file's bytes (what the page must name to save over it)."""
    return hashlib.sha256(data).hexdigest()


def parse(text: str) -> dict[str, Any]:
    """The config's values as midimon reads them (plain dicts and lists)."""
    try:
        return loads(text)
    except TOMLDecodeError as exc:
        raise ConfigEditError(f"the file on disk is not valid TOML: {exc}") from None


def diff(before: str, after: str, *, label_before: str, label_after: str) -> str:
    """A unified diff of two texts (empty when they are the same)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True),
            fromfile=label_before, tofile=label_after,
        )
    )  # fmt: skip


def merged_text(original: str, edited: dict[str, Any]) -> str:
    """``original`` changed into ``edited`` with as little rewriting as possible: a value equal
    to the one in the file keeps its item (comments and layout included); an array of tables
    (modes, mappings) keeps each unchanged entry wherever it moved, an edited one keeps its
    place's layout; new keys are appended; the comment paragraph above an entry moves with it.
    Equal values give back ``original`` byte for byte."""
    if not isinstance(edited, dict):
        raise ConfigEditError("the edited config must be a table (a JSON object)")
    if parse(original) == edited:
        return original
    try:
        document = tomlkit.parse(original)
        _merge_table(document, edited)
        text = document.as_string()
    except (tomlkit.exceptions.TOMLKitError, TypeError, ValueError) as exc:
        raise ConfigEditError(f"the edited config cannot be written as TOML: {exc}") from None
    if original.endswith("\n") and not original.endswith("\n\n"):
        text = text.rstrip("\n") + "\n"  # moved entries leave no blank line at the end
    return text


def _plain(item: Any) -> Any:
    """A tomlkit item as plain Python values."""
    return item.unwrap() if hasattr(item, "unwrap") else item


def _merge_table(table: Container | Table | InlineTable, edited: dict[str, Any]) -> None:
    for key in [k for k in table if k not in edited]:
        del table[key]
    for key, value in edited.items():
        if key not in table:
            _add(table, key, _new_item(value, where=_where(table)))
            continue
        current = table[key]
        if _plain(current) == value:
            continue
        if isinstance(current, (Table, InlineTable)) and isinstance(value, dict):
            _merge_table(current, value)
        elif isinstance(current, AoT) and _tables(value):
            _merged_aot(current, value, table)
        elif isinstance(current, Array) and isinstance(value, list) and not _tables(value):
            _merge_array(current, value)
        else:
            table[key] = _new_item(value, where=_where(table))


def _add(table: Container | Table | InlineTable, key: str, item: Item) -> None:
    """A new key: a plain value added to a ``[[...]]`` entry that has its own sections goes
    after the entry's last plain key (so before those sections and their comments)."""
    if isinstance(table, Table) and not isinstance(item, (Table, AoT)):
        body = table.value.body
        plain = [
            i for i, (k, v) in enumerate(body) if k is not None and not isinstance(v, (Table, AoT))
        ]
        if plain and any(isinstance(v, (Table, AoT)) for _, v in body[plain[-1] + 1 :]):
            table.value._insert_at(plain[-1] + 1, key, item)
            dict.__setitem__(table, key, item.value)
            return
    table[key] = item


def _where(parent: Any) -> str:
    if isinstance(parent, InlineTable):
        return "inline"
    return "table" if isinstance(parent, Table) else "root"


def _tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _identity(value: Any) -> Any:
    """What names an entry across edits: a mode's name, a mapping's description or trigger."""
    if not isinstance(value, dict):
        return None
    if "name" in value:
        return ("name", value["name"])
    return ("mapping", value.get("description"), repr(value.get("trigger")))


def _merged_aot(current: AoT, edited: list[dict[str, Any]], parent: Any = None) -> AoT:
    """Entries equal to an old one reuse it wherever they moved; an edited one is merged into
    the unused old entry of the same identity (mode name; mapping description or trigger),
    else into the first unused old one, else is new. The AoT is changed in place: rebuilding
    one makes tomlkit add blank lines."""
    old = list(current.body)
    old_plain = [_plain(t) for t in old]
    unused = list(range(len(old)))
    chosen: list[int | None] = [None] * len(edited)
    for index, value in enumerate(edited):
        match = next((i for i in unused if old_plain[i] == value), None)
        if match is not None:
            unused.remove(match)
            chosen[index] = match
    for index, value in enumerate(edited):
        if chosen[index] is None:
            match = next((i for i in unused if _identity(old_plain[i]) == _identity(value)), None)
            if match is not None:
                unused.remove(match)
                chosen[index] = match
    for index in range(len(edited)):
        if chosen[index] is None and unused:
            chosen[index] = unused.pop(0)
    changed = chosen != list(range(len(old)))  # an entry moved, came or went
    last_blank = bool(old) and old[-1].as_string().endswith("\n\n")
    # The comment paragraph just above an entry's header ends the entry before it (in the
    # TOML document): when entries move, come or go, it goes with the entry it introduces.
    leads = [
        _take_lead(old[i - 1]) if changed and i and i in chosen else [] for i in range(len(old))
    ]
    after = _take_lead(old[-1]) if changed and old else []
    tables: list[Table] = []
    for index, value in enumerate(edited):
        found = chosen[index]
        if found is None:
            tables.append(_new_section(value))
        else:
            if old_plain[found] != value:
                _merge_table(old[found], value)
            tables.append(old[found])
    if changed and tables:
        if old and tables[0] is not old[0] and parent is not None:
            # The first entry's paragraph stands before the array: it goes with its entry,
            # and the new first entry's own paragraph takes its place.
            leads[0] = _outer_lead(parent, current, take=True)
            first = leads[chosen[0]] if chosen[0] is not None else []
            _outer_lead(parent, current, take=False, put=first)
            chosen[0] = None
        _reorder_layout(tables, [leads[c] if c is not None else [] for c in chosen], after)
        if last_blank or not old:
            _end_with_blank(tables[-1])
    _replace_aot(current, tables)
    return current


def _replace_aot(current: AoT, tables: list[Table]) -> None:
    current._body[:] = tables
    list.__delitem__(current, slice(None))
    list.extend(current, tables)


def _deep_last(table: Table) -> Table:
    """The table whose text ends ``table``'s: its last nested ``[[...]]`` entry, recursively."""
    body = table.value.body
    if body and isinstance(body[-1][1], AoT) and body[-1][1].body:
        return _deep_last(body[-1][1].body[-1])
    return table


def _take_lead(table: Table) -> list[tuple[Any, Item]]:
    """Remove and return the comment lines (and the blank lines before them) that end
    ``table``'s text: they introduce what follows it. Empty when no comment ends it."""
    body = _deep_last(table).value.body
    start = _paragraph(body, len(body))
    tail: list[tuple[Any, Item]] = [(k, v) for k, v in body[start:] if isinstance(v, Comment)]
    body[start:] = [(k, v) for k, v in body[start:] if not isinstance(v, Comment)]
    return tail


def _paragraph(body: list[tuple[Any, Item]], end: int) -> int:
    """Where the last comment paragraph before ``end`` starts (its comment lines, the blank
    lines after them and the blank line before them): ``end`` when there is none."""
    start = end
    while start and body[start - 1][0] is None and isinstance(body[start - 1][1], Whitespace):
        start -= 1
    comment = start
    while comment and body[comment - 1][0] is None and isinstance(body[comment - 1][1], Comment):
        comment -= 1
    if comment == start:
        return end
    if comment and body[comment - 1][0] is None and isinstance(body[comment - 1][1], Whitespace):
        comment -= 1
    return comment


def _reorder_layout(
    tables: list[Table], leads: list[list[tuple[Any, Item]]], after: list[tuple[Any, Item]]
) -> None:
    """After entries moved: each entry's comment block goes back just above its header (at
    the end of the entry now before it; inside it, under its header, when it is now first),
    the comments after the last entry stay last, and entries are parted by a blank line."""
    for position, table in enumerate(tables):
        lead = leads[position]
        if not lead:
            continue
        if position:
            _end_with_blank(tables[position - 1], force=True)
            _deep_last(tables[position - 1]).value.body.extend(lead)
        else:
            _prepend(table.value, [(k, v) for k, v in lead if isinstance(v, Comment)])
    if after:
        _end_with_blank(tables[-1], force=True)
        _deep_last(tables[-1]).value.body.extend(after)
    for table in tables[:-1]:
        _end_with_blank(table)


def _outer_lead(
    parent: Any, aot: AoT, *, take: bool, put: list[tuple[Any, Item]] | None = None
) -> list[tuple[Any, Item]]:
    """The comment block just before ``aot`` in ``parent``: at the end of the section before
    it, or keyless lines right above it. ``take`` removes and returns it; else ``put`` is
    placed there."""
    container = parent.value if isinstance(parent, Table) else parent
    if not isinstance(container, Container):
        return []
    body = container.body
    index = next((i for i, (_, v) in enumerate(body) if v is aot), None)
    if index is None:
        return []
    start = _paragraph(body, index)
    before = body[index - 1][1] if index else None
    if start == index and isinstance(before, Table):
        if take:
            return _take_lead(before)
        if put:
            _end_with_blank(before, force=True)
            _deep_last(before).value.body.extend(put)
        return []
    while take and start < index and not isinstance(body[start][1], Comment):
        start += 1  # the blank line before the paragraph stays
    block: list[tuple[Any, Item]] = (
        [(k, v) for k, v in body[start:index] if isinstance(v, Comment)]
        if take
        else list(put or [])
    )
    if take and not block:
        return []
    if take:
        del body[start:index]
    else:
        body[start:start] = block
    shift = len(block) if not take else -len(block)
    for key, where in list(container._map.items()):
        container._map[key] = _shifted(where, start, shift)
    return block


def _shifted(where: Any, start: int, shift: int) -> Any:
    if isinstance(where, tuple):
        return tuple(w + shift if w >= start else w for w in where)
    return where + shift if where >= start else where


def _prepend(container: Container, items: list[tuple[Any, Item]]) -> None:
    """Put keyless items (comments) first in ``container``, keeping its key index right."""
    body, shift = container.body, len(items)
    body[:0] = items
    for key, where in list(container._map.items()):
        container._map[key] = (
            tuple(w + shift for w in where) if isinstance(where, tuple) else where + shift
        )


def _end_with_blank(table: Table, *, force: bool = False) -> None:
    """Make ``table``'s text end with a blank line (the layout between two ``[[...]]``); unless
    ``force``, a comment ending it is left alone (it introduces the next entry)."""
    text = table.as_string()
    last = text.rstrip("\n").rsplit("\n", 1)[-1].lstrip()
    if text.endswith("\n\n") or (not force and last.startswith("#")):
        return  # a blank line already, or a comment that introduces the next entry
    nested = [v for _, v in table.value.body if isinstance(v, AoT) and v.body]
    if nested and table.value.body[-1][1] is nested[-1]:
        _end_with_blank(nested[-1].body[-1], force=force)
    else:
        table.add(tomlkit.nl())


def _new_section(value: dict[str, Any]) -> Table:
    """A new ``[[...]]`` entry: scalars and inline tables, then its own arrays of tables."""
    section = tomlkit.table()
    for key, inner in value.items():
        if not _tables(inner):
            section[key] = _new_item(inner, where="table")
    for key, inner in value.items():
        if _tables(inner):
            section[key] = _new_item(inner, where="table")
    for _, item in section.value.body:
        if not isinstance(item, AoT) and item.trivia.trail == "":
            item.trivia.trail = "\n"  # a detached table's last line has none yet
    return section


def _merge_array(current: Array, edited: list[Any]) -> None:
    """A plain array: same-length arrays change in place (keeping their layout), others are
    rebuilt with the same multiline-ness."""
    if len(current) == len(edited):
        for index, value in enumerate(edited):
            if _plain(current[index]) != value:
                current[index] = _new_item(value, where="inline")
        return
    current.clear()
    for value in edited:
        current.append(_new_item(value, where="inline"))


def _new_item(value: Any, *, where: str) -> Item:
    """A new item for ``value`` placed under the document (``root``), a ``table`` or an
    ``inline`` table: tables are sections at the root and inline below it, written as the
    config's own ``trigger = { type = "Note", note = 36 }`` lines; arrays of tables are
    ``[[...]]`` sections unless inside an inline table."""
    if isinstance(value, dict) and where == "root":
        table = tomlkit.table()
        for key, inner in value.items():
            table[key] = _new_item(inner, where="table")
        return table
    if _tables(value) and where != "inline":
        aot = tomlkit.aot()
        for entry in value:
            aot.append(_new_section(entry))
        sections = list(aot.body)
        for table in sections:
            _end_with_blank(table)
        return aot
    if isinstance(value, (dict, list)):
        item: Item = tomlkit.parse("x = " + _inline_text(value))["x"]
        return item
    scalar: Item = tomlkit.item(value)
    return scalar


def _inline_text(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = ", ".join(
            f"{tomlkit.items.SingleKey(str(k)).as_string()} = {_inline_text(v)}"
            for k, v in value.items()
        )
        return "{ " + pairs + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline_text(v) for v in value) + "]"
    text: str = tomlkit.item(value).as_string()
    return text


def read(path: Path) -> tuple[str, str]:
    """The file's text and version."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8"), version(data)
    except UnicodeDecodeError:
        raise ConfigEditError(f"{path} is not UTF-8 text") from None
