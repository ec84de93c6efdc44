"""The [plugins] table: unknown keys warn (naming file, table and key), like the rest of config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import RunMidimon

from midimon.engine.config import parse_config
from midimon.plugins.settings import SettingsError, parse_plugin_settings

TYPO_CONFIG = """\
[plugins]
require_signature = false
dev_mode = false

[plugins.overrides.pad_light]
timout = 5.0
dirs = ["~/elsewhere"]
"""


def test_known_keys_give_no_warnings() -> None:
    """Every documented key, in [plugins] and in an override table, is accepted silently."""
    settings = parse_plugin_settings(
        {
            "dirs": [],
            "require_signatures": True,
            "dev_mode": False,
            "allowed_unsigned": [],
            "allow_legacy_signatures": False,
            "allow_downgrade": False,
            "auto_grant": [],
            "isolation": "isolated",
            "timeout": 2.0,
            "rate_limit": 100.0,
            "rate_burst": 200,
            "memory_mb": 256,
            "max_processes": 64,
            "max_open_files": 256,
            "max_crashes": 3,
            "crash_window": 60.0,
            "kernel_sandbox": True,
            "overrides": {"p": {"dev_mode": True, "timeout": 1.0, "kernel_sandbox": False}},
        }
    )
    assert settings.warnings == ()


def test_unknown_keys_warn_with_a_suggestion(tmp_path: Path) -> None:
    """A typo in [plugins] or [plugins.overrides.NAME] is a warning naming the file, the table
    and the key, with the closest known key; the typo's value is ignored."""
    path = tmp_path / "config.toml"
    settings = parse_plugin_settings(
        {"require_signature": False, "overrides": {"pad_light": {"timout": 5.0, "dirs": []}}},
        path,
    )
    assert settings.warnings == (
        f"{path}: plugins: require_signature: unknown key, ignored"
        " (did you mean require_signatures?)",
        f"{path}: plugins.overrides.pad_light: timout: unknown key, ignored"
        " (did you mean timeout?)",
        f"{path}: plugins.overrides.pad_light: dirs: unknown key, ignored",
    )
    assert settings.policy.require_signatures is True
    assert settings.execution_for("pad_light").timeout == 2.0


def test_bad_values_are_still_errors() -> None:
    """Warnings are only for unknown keys: a known key with a bad value stays an error."""
    with pytest.raises(SettingsError, match=r"plugins\.require_signatures"):
        parse_plugin_settings({"require_signatures": "no", "require_signature": False})


def test_config_warnings_include_plugins_keys() -> None:
    """parse_config collects [plugins] warnings into Config.warnings with the rest."""
    config = parse_config('[device]\ncolour = "red"\n' + TYPO_CONFIG, "c.toml")
    assert config.warnings == (
        "c.toml: device: colour: unknown key, ignored",
        "c.toml: plugins: require_signature: unknown key, ignored"
        " (did you mean require_signatures?)",
        "c.toml: plugins.overrides.pad_light: timout: unknown key, ignored (did you mean timeout?)",
        "c.toml: plugins.overrides.pad_light: dirs: unknown key, ignored",
    )


def test_validate_warns_about_plugins_typos(run_midimon: RunMidimon, tmp_path: Path) -> None:
    """`midimon validate` prints the [plugins] typo warnings and still says OK (exit 0)."""
    path = tmp_path / "config.toml"
    path.write_text(TYPO_CONFIG, encoding="utf-8")
    done = run_midimon("validate", path)
    assert done.returncode == 0, done.stderr
    assert f"{path}: OK" in done.stdout
    assert (
        f"  warning: {path}: plugins: require_signature: unknown key, ignored"
        " (did you mean require_signatures?)"
    ) in done.stdout.splitlines()
    assert "plugins.overrides.pad_light: timout: unknown key, ignored" in done.stdout
    done = run_midimon("validate", path, "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["warnings"]) == 3


def test_auto_grant_refuses_filesystem(tmp_path: Path) -> None:
    """auto_grant = ["filesystem"] is an error naming the file and key, with the command to
    grant each plugin its folders instead."""
    path = tmp_path / "config.toml"
    with pytest.raises(SettingsError) as caught:
        parse_plugin_settings({"auto_grant": ["midi", "Filesystem"]}, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: plugins.auto_grant: filesystem cannot be granted")
    assert "midimon plugins grant NAME filesystem --write DIR" in message
