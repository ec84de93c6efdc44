"""README.md's examples work: every ```toml block is a valid config, and the python-rtmidi
snippet plays a note into a running daemon over JACK."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

from midimon.engine.config import parse_config

README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The fenced blocks of README.md in this language, in order."""
    return [body for lang, body in FENCE.findall(README.read_text("utf-8")) if lang == language]


TOML_BLOCKS = [b for b in blocks("toml") if not b.lstrip().startswith("# fragment")]


def test_readme_has_config_examples() -> None:
    """The Configuration section's examples are there (and few are fragments)."""
    assert len(TOML_BLOCKS) >= 3
    assert len(blocks("toml")) - len(TOML_BLOCKS) <= 1


@pytest.mark.parametrize("index", range(len(TOML_BLOCKS)))
def test_readme_toml_block_is_a_valid_config(index: int) -> None:
    """Each block validates with no warning (a warning would be a key midimon ignores)."""
    config = parse_config(TOML_BLOCKS[index], f"README.md toml block {index + 1}")
    assert config.warnings == ()


def test_readme_plugins_block_lists_every_key() -> None:
    """The Isolation section's [plugins] block shows every key midimon/plugins/settings.py reads,
    with its default value."""
    from midimon import _toml
    from midimon.plugins.settings import _PLUGINS_KEYS, PluginSettings

    (block,) = [b for b in TOML_BLOCKS if b.startswith("[plugins]")]
    table = _toml.loads(block)["plugins"]
    assert set(table) == set(_PLUGINS_KEYS)
    defaults = PluginSettings()
    for key, value in table.items():
        if key in ("dirs", "auto_grant", "overrides"):
            continue
        default = getattr(defaults.policy, key, getattr(defaults.execution, key, None))
        assert value == (sorted(default) if isinstance(default, frozenset) else default), key


def test_readme_device_name_matching_follows_match_port() -> None:
    """README describes [device] name as match_port matches: exact, substring, then regex."""
    text = " ".join(README.read_text("utf-8").split())
    assert "exact name or regex" not in text
    assert text.count("case-insensitive substring") >= 2


def test_readme_toml_blocks_show_every_trigger_and_action_type() -> None:
    """The reference has an example of each trigger type and action type."""
    from midimon.engine.action_parser import ActionParser
    from midimon.engine.config_check import Checker
    from midimon.engine.trigger_schema import TRIGGER_TYPES

    text = "\n".join(TOML_BLOCKS)
    action_types = ActionParser(Checker(None), []).parsers
    for name in [*TRIGGER_TYPES, *action_types]:
        assert f'type = "{name}"' in text, name


def test_readme_rtmidi_snippet_plays_into_the_daemon(
    jack_server, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """The "Playing into midimon without hardware" snippet, run as written against
    `midimon run` on a JACK dummy server, fires the daemon's mapping for note 40."""
    (snippet,) = blocks("python")
    script = tmp_path / "snippet.py"
    script.write_text(snippet)
    hit = tmp_path / "note40"
    config = tmp_path / "config.toml"
    config.write_text(
        '[[modes]]\nname = "Default"\n[[modes.mappings]]\n'
        'trigger = { type = "Note", note = 40 }\n'
        f'action = {{ type = "Shell", argv = ["touch", "{hit}"] }}\n'
    )
    env = {**midimon_env, **jack_server.env}
    daemon = subprocess.Popen(
        [sys.executable, "-m", "midimon", "run", "--config", str(config)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        import rtmidi

        probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="probe")
        deadline = time.monotonic() + 30
        while "midimon:midimon" not in probe.get_ports() and time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.stdout.read() if daemon.stdout else ""
            time.sleep(0.05)
        probe.delete()
        played = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                                text=True, timeout=30)  # fmt: skip
        assert played.returncode == 0, played.stderr
        deadline = time.monotonic() + 10
        while not hit.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hit.exists(), "the daemon did not run the action for note 40"
    finally:
        daemon.terminate()
        daemon.wait(15)
