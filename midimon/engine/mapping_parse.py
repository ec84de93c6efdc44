"""Mapping tables (``[[modes.mappings]]``, ``[[global_mappings]]``) into MappingSpecs, and the
reuse of those a reload finds unchanged.

Saving a config after an edit changes one mapping or a few, yet checking every trigger and
action again was about half of a reload of 500 mappings (``benchmarks/reload.py``). With a
:class:`MappingReuse` a mapping is taken from the last successful parse when all of this holds:

- its table is the same, byte for byte as ``marshal`` writes it: same keys in the same order,
  same values of the same types (``1``, ``1.0`` and ``true`` are not the same, as they are for
  ``==``), nested tables and arrays too; a table marshal cannot write (a TOML date) is parsed;
  the very table object the last parse read (a document shared with the last one, see
  ``midimon.engine.document_reuse``) is known by identity, not marshalled again (marshal's bytes
  for one object also depend on how many references its values have);
- everything else its parse reads is equal: [advanced_settings] (trigger timing defaults, velocity
  levels), the mode names (ModeChange targets) and the plugins' declared params;
- its parse gave no error and no warning (messages name the mapping's place, which may change).

A mapping may have moved (one added above it shifts its index): its trigger and action are
reused under its new location. Two equal tables in one file each get their own objects (the
daemon tells actions apart by identity), so a table is reused as often as it was kept.
"""

from __future__ import annotations

import marshal
import threading
from dataclasses import dataclass
from typing import Any

from midimon.engine.action_parser import ActionParser
from midimon.engine.action_specs import Action
from midimon.engine.config_check import Checker, is_table
from midimon.engine.document_reuse import DocumentReuse
from midimon.engine.trigger_schema import TimingDefaults, parse_trigger
from midimon.engine.trigger_specs import TriggerSpec


@dataclass(frozen=True)
class MappingSpec:
    """One mapping: trigger -> action. ``location`` names it in messages."""

    trigger: TriggerSpec
    action: Action
    description: str = ""
    location: str = ""
    led: str | None = None  # "toggle": the mapping's LED shows an on/off state


LED_KINDS = ("toggle",)
_MAPPING_KEYS = frozenset({"description", "trigger", "action", "led"})

# the table as marshal wrote it -> a mapping parsed from it for each time it was there
Kept = dict[bytes, list[MappingSpec]]
# id(table) -> (the table, its marshal bytes, its mapping): a table object the next document
# may share (midimon.engine.document_reuse), known again without marshalling it
Shared = dict[int, tuple[dict[str, Any], bytes, MappingSpec]]


class MappingReuse:
    """The mappings of the last successful parse, for the next one (one per daemon). Reloads
    running at once each read the last committed state and commit their own. [any-thread]"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: tuple[Any, ...] | None = None
        self._kept: Kept = {}
        self._shared: Shared = {}
        self.reused = 0  # mappings the last committed parse took from the one before
        self.parsed = 0  # mappings it parsed
        # the last text's TOML document: an edit inside one mapping parses only that mapping
        self.documents = DocumentReuse()

    def begin(self, context: tuple[Any, ...]) -> ReusePass:
        """A parse starting with ``context`` (all it reads besides the mapping tables)."""
        with self._lock:
            if self._context is not None and self._context == context:
                return ReusePass(self, context, self._kept, self._shared)
            return ReusePass(self, context, {}, {})

    def _commit(self, done: ReusePass) -> None:
        with self._lock:
            self._context, self._kept, self._shared = done.context, done.kept, done.shared
            self.reused, self.parsed = done.reused, done.parsed


class ReusePass:
    """One parse's lookups into the last one, and what it keeps for the next."""

    def __init__(
        self, owner: MappingReuse, context: tuple[Any, ...], previous: Kept, shared: Shared
    ) -> None:
        self._owner = owner
        self.context = context
        self.previous = previous  # read only
        self.previous_shared = shared  # read only
        self.kept: Kept = {}
        self.shared: Shared = {}
        self._taken: set[int] = set()  # id() of the last parse's mappings this one took
        self.reused = self.parsed = 0

    def take(self, table: dict[str, Any]) -> tuple[bytes | None, MappingSpec | None]:
        """(the table's marshal bytes, a mapping of the last parse for it not yet taken by this
        one, or None); no bytes when marshal cannot write it (a date): then it is not kept."""
        shared = self.previous_shared.get(id(table))
        if shared is not None and shared[0] is table:  # the very table the last parse read
            blob, found = shared[1], shared[2]
            if id(found) not in self._taken:
                self._taken.add(id(found))
                return blob, found
        else:
            try:
                blob = marshal.dumps(table)
            except ValueError:
                return None, None
        for found in self.previous.get(blob, ()):
            if id(found) not in self._taken:
                self._taken.add(id(found))
                return blob, found
        return blob, None

    def keep(self, table: dict[str, Any], blob: bytes, parsed: MappingSpec) -> None:
        """This parse's mapping for this table, for the next parse."""
        self.kept.setdefault(blob, []).append(parsed)
        self.shared[id(table)] = (table, blob, parsed)

    def commit(self) -> None:
        """The parse succeeded: the next one reuses from this one."""
        self._owner._commit(self)


def mapping_location(prefix: str, index: int, table: Any) -> str:
    """``modes[0] "Default" mappings[3] ("pad 4")``: how messages name a mapping."""
    desc = table.get("description") if is_table(table) else None
    return f"{prefix}[{index}]" + (f' ("{desc}")' if isinstance(desc, str) and desc else "")


def parse_mappings(
    raw: Any,
    prefix: str,
    field_name: str,
    check: Checker,
    actions: ActionParser,
    timing: TimingDefaults,
    reuse: ReusePass | None = None,
) -> tuple[MappingSpec, ...]:
    """The mappings of one array of tables; errors and warnings go to ``check``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.error(prefix, field_name, "must be an array of tables ([[...]])")
        return ()
    out = []
    base = f"{prefix} {field_name}" if prefix else field_name
    for i, table in enumerate(raw):
        loc = mapping_location(base, i, table)
        if not is_table(table):
            check.error(loc, None, "must be a table with trigger and action")
            continue
        blob = None
        if reuse is not None:
            blob, found = reuse.take(table)
            if found is not None and blob is not None:
                if found.location != loc:  # it moved: the same trigger and action, placed anew
                    found = MappingSpec(found.trigger, found.action, found.description, loc,
                                        found.led)  # fmt: skip
                reuse.keep(table, blob, found)
                out.append(found)
                reuse.reused += 1
                continue
        errors, warnings = len(check.errors), len(check.warnings)
        mapping = _parse_mapping(table, loc, check, actions, timing)
        if mapping is None:
            continue
        out.append(mapping)
        if reuse is not None:
            reuse.parsed += 1
            quiet = len(check.errors) == errors and len(check.warnings) == warnings
            if blob is not None and quiet:
                reuse.keep(table, blob, mapping)
    return tuple(out)


def _parse_mapping(
    table: dict[str, Any],
    loc: str,
    check: Checker,
    actions: ActionParser,
    timing: TimingDefaults,
) -> MappingSpec | None:
    check.unknown(loc, "", table, _MAPPING_KEYS)
    desc = table.get("description", "")
    if not isinstance(desc, str):
        check.error(loc, "description", "must be a string")
    if "trigger" not in table:
        check.error(loc, "trigger", 'is required, e.g. trigger = { type = "Note", note = 36 }')
        trigger = None
    else:
        result = parse_trigger(table["trigger"], timing)
        for key in result.unknown:
            check.unknown_key(loc, f"trigger.{key}")
        for fld, message in result.errors:
            check.error(loc, f"trigger.{fld}" if fld else "trigger", message)
        trigger = result.spec
    if "action" not in table:
        check.error(loc, "action", 'is required, e.g. action = { type = "Plugin", ... }')
        action = None
    else:
        action = actions.parse(table["action"], loc, "action")
    led = table.get("led")
    if led is not None and led not in LED_KINDS:
        check.error(loc, "led", f"must be one of {', '.join(map(repr, LED_KINDS))}")
        led = None
    if trigger is not None and action is not None and isinstance(desc, str):
        return MappingSpec(trigger, action, desc, loc, led)
    return None
