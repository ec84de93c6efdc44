"""The editor's TOML merge (midimon/ui/config_file.py): an unedited config comes back byte for
byte (the bundled one and every config block of the docs), an edit changes only what it
touches and keeps every comment, moved entries keep their text, new ones are written in the
config's own style, and random edits of random configs read back as the edited values."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from midimon.engine.config import default_config_path
from midimon.ui.config_file import diff, merged_text, parse, version
from midimon.ui.errors import ConfigEditError

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = "`" * 3
BLOCK = re.compile(FENCE + r"toml\n(.*?)" + FENCE, re.S)


def doc_configs() -> list[tuple[str, str]]:
    """Every TOML block of the docs that holds modes or mappings (and parses)."""
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for index, block in enumerate(BLOCK.findall(path.read_text(encoding="utf-8"))):
            if "mappings" not in block:
                continue
            try:
                parse(block)
            except ConfigEditError:
                continue
            found.append((f"{path.name}#{index}", block))
    return found


def comments(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")]


def test_the_bundled_and_every_doc_config_round_trip_byte_identical() -> None:
    """Nothing edited: the very same bytes, for the bundled config and each docs block."""
    configs = [("default_config.toml", default_config_path().read_text(encoding="utf-8"))]
    configs += doc_configs()
    assert len(configs) > 3, configs
    for name, text in configs:
        assert merged_text(text, parse(text)) == text, name


def test_an_edited_param_changes_one_line_and_keeps_every_comment() -> None:
    """Changing one plugin param rewrites that mapping's action line only."""
    text = default_config_path().read_text(encoding="utf-8")
    edited = parse(text)
    edited["modes"][0]["mappings"][2]["action"]["params"]["semitones"] = 5
    out = merged_text(text, edited)
    assert parse(out) == edited
    assert comments(out) == comments(text)
    changed = [line for line in diff(text, out, label_before="a", label_after="b").splitlines()
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]  # fmt: skip
    assert changed == [
        '-action = { type = "Plugin", plugin = "midi_transpose", params = { semitones = 12 } }',
        '+action = { type = "Plugin", plugin = "midi_transpose", params = { semitones = 5 } }',
    ]


def test_reorder_add_and_delete_keep_comments_and_style() -> None:
    """Moving a mapping keeps its lines; a new mode and mapping use `key = { ... }` lines and
    blank lines between sections; the comments all stay."""
    text = default_config_path().read_text(encoding="utf-8")
    edited = parse(text)
    maps = edited["modes"][0]["mappings"]
    maps.insert(0, maps.pop(2))
    edited["modes"].append({"name": "Extra", "mappings": [
        {"description": "new", "trigger": {"type": "CC", "cc": 7},
         "action": {"type": "Text", "text": "hi"}},
    ]})  # fmt: skip
    del edited["global_mappings"][1]
    out = merged_text(text, edited)
    assert parse(out) == edited
    assert comments(out) == comments(text)
    assert '[[modes]]\nname = "Extra"\n\n[[modes.mappings]]\ndescription = "new"\n' in out
    assert 'trigger = { type = "CC", cc = 7 }\naction = { type = "Text", text = "hi" }\n\n' in out
    assert "\n\n\n" not in out
    assert "Hold pad 4" not in out


def test_versions_and_refusals() -> None:
    """The version is the bytes' SHA-256; a non-table or invalid TOML is a ConfigEditError."""
    assert version(b"a = 1\n") == version(b"a = 1\n") != version(b"a = 2\n")
    with pytest.raises(ConfigEditError, match="must be a table"):
        merged_text("a = 1\n", [1])  # type: ignore[arg-type]
    with pytest.raises(ConfigEditError, match="not valid TOML"):
        merged_text("a = = 1\n", {"a": 1})


names = st.text(alphabet="abcdefgh XYZ", min_size=1, max_size=8)
triggers = st.one_of(
    st.builds(lambda n: {"type": "Note", "note": n}, st.integers(0, 127)),
    st.builds(lambda c, v: {"type": "CC", "cc": c, "value": v}, st.integers(0, 127),
              st.integers(0, 127)),
)  # fmt: skip
leaf_actions = st.one_of(
    st.builds(lambda t: {"type": "Text", "text": t}, names),
    st.builds(lambda s: {"type": "Plugin", "plugin": "midi_transpose",
                         "params": {"semitones": s}}, st.integers(-24, 24)),
)  # fmt: skip
actions = st.recursive(
    leaf_actions,
    lambda inner: st.builds(lambda a: {"type": "Sequence", "actions": a},
                            st.lists(inner, min_size=1, max_size=3)),
    max_leaves=5,
)  # fmt: skip
mappings = st.builds(
    lambda d, t, a: {"description": d, "trigger": t, "action": a}, names, triggers, actions
)
configs = st.builds(
    lambda modes, glob: {"device": {"name": "X"},
                         "modes": [{"name": f"m{i}", "mappings": m} for i, m in enumerate(modes)],
                         **({"global_mappings": glob} if glob else {})},
    st.lists(st.lists(mappings, min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(mappings, max_size=2),
)  # fmt: skip


def _write(config: dict[str, Any]) -> str:
    """A config file written from scratch by the same merge (from an empty document)."""
    return "# my controller\n" + merged_text("# my controller\n", config)


@settings(max_examples=60, deadline=None)
@given(configs, configs)
def test_random_configs_open_save_and_edit(first: dict[str, Any], second: dict[str, Any]) -> None:
    """A random config read and saved unedited is the same bytes; replaced by another random
    config it reads back as exactly that config, keeping the file's comment."""
    text = _write(first)
    assert parse(text) == first
    assert merged_text(text, copy.deepcopy(first)) == text
    out = merged_text(text, second)
    assert parse(out) == second
    assert out.startswith("# my controller\n")


MODES = '''# my pads
# about mode A
[[modes]]
name = "A"

# a1
[[modes.mappings]]
trigger = { type = "Note", note = 1 }
action = { type = "Delay", ms = 1 }

# a2
[[modes.mappings]]
trigger = { type = "Note", note = 2 }
action = { type = "Delay", ms = 2 }

# about mode B
[[modes]]
name = "B"  # second

# about mode C
[[modes]]
name = "C"

# globals
[[global_mappings]]
trigger = { type = "Note", note = 9 }
action = { type = "Delay", ms = 9 }
'''


def test_moved_modes_take_their_comments_and_a_colour_goes_under_the_name() -> None:
    """Modes in a new order: the comment above each [[modes]] (and each mapping) moves with
    it, the comments after the last stay last; a new colour goes after the mode's keys."""
    edited = parse(MODES)
    a, b, c = edited["modes"]
    edited["modes"] = [c, a, b]
    a["mappings"].reverse()
    a["color"] = "#00aa55"
    out = merged_text(MODES, edited)
    assert parse(out) == edited
    assert sorted(comments(out)) == sorted(comments(MODES))
    assert out.startswith('# about mode C\n[[modes]]\nname = "C"\n\n# my pads\n# about mode A\n')
    assert '[[modes]]\nname = "A"\ncolor = "#00aa55"\n\n# a2\n[[modes.mappings]]\n' in out
    assert '# a1\n[[modes.mappings]]\ntrigger = { type = "Note", note = 1 }' in out
    assert '# about mode B\n[[modes]]\nname = "B"  # second\n\n# globals\n' in out
    assert "\n\n\n" not in out


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(4)), st.booleans())
def test_any_order_of_modes_keeps_each_comment_above_its_mode(order: list[int], head: bool) -> None:
    """Four modes, each with its comment (after a [device] table or at the top of the file),
    in any order: each comment still stands right above its mode's header."""
    text = '[device]\nname = "X"\n\n' if head else ""
    for i in range(4):
        text += f'# mode {i}\n[[modes]]\nname = "m{i}"\n\n[[modes.mappings]]\n'
        text += f'trigger = {{ type = "Note", note = {i} }}\n'
        text += 'action = { type = "Delay", ms = 1 }\n\n'
    edited = parse(text)
    edited["modes"] = [edited["modes"][i] for i in order]
    out = merged_text(text, edited)
    assert parse(out) == edited
    for i in range(4):
        assert f'# mode {i}\n[[modes]]\nname = "m{i}"\n' in out
    assert "\n\n\n" not in out and out.endswith("\n")
