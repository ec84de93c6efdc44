"""Mapper: the current mode, and fired trigger -> the actions mapped to it.

Mappings are compiled into one dict per mode (and one for the global mappings) keyed by the
trigger spec itself, so a match is two dict lookups however many mappings there are. Equal
trigger specs in one mode share a bucket: every mapping on them runs, in file order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from midimon.engine.action_specs import Action, ModeChangeAction
from midimon.engine.config import Config, MappingSpec
from midimon.engine.trigger_specs import TriggerSpec
from midimon.engine.triggers import FiredTrigger

Table = dict[TriggerSpec, tuple[Action, ...]]


def compile_table(mappings: Iterable[MappingSpec]) -> Table:
    """Trigger spec -> its actions, in file order."""
    table: Table = {}
    for mapping in mappings:  # hashing a spec is not free: once per mapping (twice if shared)
        alone = (mapping.action,)
        bucket = table.setdefault(mapping.trigger, alone)
        if bucket is not alone:
            table[mapping.trigger] = (*bucket, mapping.action)
    return table


class Mapper:
    """Matches fired triggers against the current mode's mappings, then the global ones."""

    def __init__(self, config: Config, mode: str | None = None) -> None:
        if not config.modes:
            raise ValueError("a config needs at least one mode")
        self.config = config
        self.mode_names: tuple[str, ...] = config.mode_names
        self._tables: dict[str, Table] = {m.name: compile_table(m.mappings) for m in config.modes}
        self._global: Table = compile_table(config.global_mappings)
        self._mode = self.mode_names[0]
        self._table = self._tables[self._mode]
        if mode is not None:
            self.set_mode(mode)
        #: Called with the new mode's name after every change (LED feedback, app profiles).
        self.on_change: Callable[[str], None] | None = None

    @property
    def mode(self) -> str:
        """The current mode's name."""
        return self._mode

    @property
    def triggers(self) -> list[TriggerSpec]:
        """Every trigger any mode or global mapping uses (for the EventProcessor)."""
        return list(self.trigger_set())

    def trigger_set(self) -> dict[TriggerSpec, object]:
        """The same triggers as the keys of a new dict, in the same order: an EventProcessor
        made from it takes them without hashing each spec again."""
        merged: dict[TriggerSpec, object] = {}
        for table in (*self._tables.values(), self._global):
            merged.update(table)  # dict-to-dict update reuses the stored hashes
        return merged

    @property
    def tables(self) -> tuple[Mapping[str, Table], Table]:
        """(mode name -> its table, the global table), read only: what
        ``midimon.engine.dispatch_table`` compiles."""
        return self._tables, self._global

    def set_mode(self, name: str) -> None:
        """Switch to a mode by name; KeyError naming the modes when there is none."""
        if name not in self._tables:
            raise KeyError(f"no mode {name!r}; modes: {', '.join(self.mode_names)}")
        changed = name != self._mode
        self._mode = name
        self._table = self._tables[name]
        listener = getattr(self, "on_change", None)  # None while __init__ runs
        if changed and listener is not None:
            listener(name)

    def step_mode(self, step: int) -> str:
        """Move ``step`` modes forward (negative: back), wrapping around; the new mode."""
        index = self.mode_names.index(self._mode)
        self.set_mode(self.mode_names[(index + step) % len(self.mode_names)])
        return self._mode

    def apply_mode_change(self, action: ModeChangeAction) -> str:
        """Carry out a ModeChange action; the new mode."""
        if action.relative is not None:
            return self.step_mode(1 if action.relative == "next" else -1)
        if action.mode is None:
            raise ValueError("ModeChange needs a mode or relative")
        self.set_mode(action.mode)
        return self._mode

    def match(self, fired: FiredTrigger) -> list[Action]:
        """The actions mapped to this trigger: current mode's first, then global ones."""
        spec = fired.trigger
        return [*self._table.get(spec, ()), *self._global.get(spec, ())]
