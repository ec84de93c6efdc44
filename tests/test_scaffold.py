"""Rendering plugin templates in-process: every placeholder filled, the files each language
needs, a manifest midimon accepts, and each bad input refused naming it. (Building and running
what it writes, per language: tests/cli/test_new_plugin_cmd.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import load_manifest
from midimon.scaffold import HEADERS, LANGUAGES, ScaffoldError, create_plugin


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_placeholder_is_filled(language: str, tmp_path: Path) -> None:
    """No {{key}} or __name__ is left in any file written; headers come with C and Zig."""
    made = create_plugin("my_pad", language, ["midi", "Network"], tmp_path / "my_pad")
    assert made.path == tmp_path / "my_pad" and made.language == language
    for rel in made.files:
        text = (made.path / rel).read_text(encoding="utf-8")
        assert not re.search(r"\{\{\w+\}\}", text), f"{rel} keeps a placeholder"
        assert "__name__" not in rel
    headers = {f"include/{h}" for h in HEADERS}
    assert headers <= set(made.files) if LANGUAGES[language].needs_header else not (
        headers & set(made.files)
    )
    assert made.capabilities == (Capability.NETWORK, Capability.MIDI)  # table order


def test_the_manifest_is_valid_and_declares_the_capabilities(tmp_path: Path) -> None:
    """The written plugin.toml loads, with the name, the capabilities asked for, and the
    binary where the build command puts it."""
    made = create_plugin("knob_fx", "c", ["system-control"], tmp_path / "knob_fx")
    manifest = load_manifest(made.path)
    assert manifest.name == "knob_fx"
    assert manifest.capabilities == {Capability.SYSTEM_CONTROL}
    assert manifest.binary == made.path / "build" / "knob_fx.so"
    source = (made.path / "src" / "knob_fx.c").read_text()
    assert "MIDIMON_CAP_SYSTEM_CONTROL" in source


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_manifest_declares_the_param_the_source_reads(language: str, tmp_path: Path) -> None:
    """Every template's plugin.toml declares `message` (an optional string, the one param its
    source reads), so the README's mapping validates and a wrong type does not."""
    from midimon.engine.config import InvalidConfig, parse_config

    made = create_plugin("say_hi", language, [], tmp_path / "say_hi")
    manifest = load_manifest(made.path)
    assert manifest.warnings == ()
    assert manifest.params is not None and manifest.params.names == ("message",)
    [spec] = manifest.params.params
    assert (spec.type, spec.required, spec.example) == ("string", False, "hi")
    sources = [(made.path / rel).read_text() for rel in made.files if rel.startswith("src/")]
    assert any('"message"' in text for text in sources)
    readme = (made.path / "README.md").read_text()
    [mapping] = [line.strip() for line in readme.splitlines() if "action = {" in line]
    schemas = {"say_hi": manifest.params}
    config = '[[modes]]\nname = "Default"\n[[modes.mappings]]\n' \
             'trigger = { type = "Note", note = 36 }\n'  # fmt: skip
    assert parse_config(config + mapping, None, schemas).warnings == ()
    with pytest.raises(InvalidConfig, match=r"params\.message: must be a string for say_hi"):
        parse_config(config + mapping.replace('"hi"', "5"), None, schemas)


def test_the_exec_command_runs_what_was_made(tmp_path: Path) -> None:
    """The printed exec command finds the plugin through its parent folder and grants what
    it asks for, for that run only."""
    made = create_plugin("pad", "zig", ["network"], tmp_path / "pad")
    assert shlex.split(made.exec) == [
        "midimon", "plugins", "exec", "pad", "--plugins-dir", str(tmp_path),
        "--allow-unsigned", "--grant", "network",
    ]  # fmt: skip
    assert made.as_dict() == {"path": str(made.path), "build": "sh build.sh", "exec": made.exec}
    assert (made.path / "build.sh").stat().st_mode & 0o111


def test_without_capabilities(tmp_path: Path) -> None:
    """Asking for nothing writes a manifest with none and a hint how to ask."""
    made = create_plugin("quiet", "rust", [], tmp_path / "quiet")
    assert load_manifest(made.path).capabilities == frozenset()
    assert "# none requested" in (made.path / "plugin.toml").read_text()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("Bad-Name", "c"), "invalid plugin name 'Bad-Name'"),
        (("ok", "cobol"), "unknown language 'cobol'; expected one of: c, rust, zig"),
        (("ok", "c", ["telepathy"]), "unknown capability 'telepathy'"),
    ],
)
def test_bad_input_is_refused(args: tuple, fragment: str, tmp_path: Path) -> None:
    """Name, language and capability are checked before anything is written."""
    with pytest.raises(ScaffoldError, match=re.escape(fragment)):
        create_plugin(*args, directory=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_occupied_folder_is_refused(tmp_path: Path) -> None:
    """A non-empty folder, or a file in the way, is refused; an empty folder is used."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="is not empty"):
        create_plugin("busy", "c", directory=tmp_path / "busy")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScaffoldError, match="is not a folder"):
        create_plugin("file", "c", directory=tmp_path / "file")
    (tmp_path / "empty").mkdir()
    assert create_plugin("empty", "c", directory=tmp_path / "empty").files
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
