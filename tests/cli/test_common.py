"""What every CLI command shares: the user's [plugins] settings with the command line's
overrides, plugin lookup that says what it searched, and the manager a command gets."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin

from midimon.cli.common import (
    CliError,
    find_plugin,
    make_manager,
    parse_capability,
    plugin_settings,
    run_discovery,
)
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import SettingsError


def args(**values: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"plugins_dir": [], **values})


def write_config(dirs: dict[str, str], text: str) -> Path:
    config = Path(dirs["XDG_CONFIG_HOME"]) / "midimon" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    return config


def test_settings_with_overrides(isolated_dirs: dict[str, str]) -> None:
    """No config: defaults (signatures required); --allow-unsigned lifts that for this run."""
    assert plugin_settings(args()).policy.require_signatures
    assert not plugin_settings(args(allow_unsigned=True)).policy.require_signatures


def test_a_bad_config_is_an_error_naming_it(isolated_dirs: dict[str, str]) -> None:
    """An invalid [plugins] table stops the command with the file and field at fault (a
    SettingsError: the CLI's one ``except MidimonError`` prints it and exits 2)."""
    config = write_config(isolated_dirs, "[plugins]\ntimeout = -1\n")
    with pytest.raises(SettingsError, match="timeout") as info:
        plugin_settings(args())
    assert str(config) in str(info.value) and info.value.exit_status == 2


def test_lookup_searches_plugins_dir_then_config_dirs(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """--plugins-dir folders come first, then [plugins] dirs of the config, then defaults."""
    first = make_plugin("twin", root=tmp_path / "first")
    make_plugin("twin", root=tmp_path / "second")
    make_plugin("only_in_config", root=tmp_path / "second")
    write_config(isolated_dirs, f'[plugins]\ndirs = ["{tmp_path / "second"}"]\n')
    found, result = find_plugin(args(plugins_dir=[tmp_path / "first"]), "twin")
    assert found.manifest.directory == first
    assert result.searched[:2] == [tmp_path / "first", tmp_path / "second"]
    assert "only_in_config" in run_discovery(args()).plugins


def test_an_unknown_plugin_says_where_it_looked(
    isolated_dirs: dict[str, str], make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """Not found: the message lists the folders searched and the plugins found."""
    make_plugin("present", root=tmp_path / "extra")
    with pytest.raises(CliError) as info:
        find_plugin(args(plugins_dir=[tmp_path / "extra"]), "absent")
    message = str(info.value)
    assert message.startswith("no plugin named 'absent' (searched: ")
    assert str(tmp_path / "extra") in message and "present" in message


def test_a_broken_manifest_is_the_news(isolated_dirs: dict[str, str], tmp_path: Path) -> None:
    """NAME/plugin.toml that exists but is invalid is reported as such, with the fix."""
    broken = tmp_path / "extra" / "broken"
    broken.mkdir(parents=True)
    (broken / "plugin.toml").write_text("[plugin]\nname = 3\n")
    with pytest.raises(CliError, match="plugin 'broken' has an invalid manifest") as info:
        find_plugin(args(plugins_dir=[tmp_path / "extra"]), "broken")
    assert f"fix: correct that field of {broken / 'plugin.toml'}" in str(info.value)


def test_the_commands_manager(isolated_dirs: dict[str, str], tmp_path: Path) -> None:
    """make_manager searches --plugins-dir, and --in-process switches the isolation mode."""
    manager = make_manager(args(plugins_dir=[tmp_path], in_process=True))
    try:
        assert manager.search_dirs[0] == tmp_path
        assert manager.settings.execution.isolation == "in-process"
    finally:
        manager.shutdown()
    default = make_manager(args())
    try:
        assert default.settings.execution.isolation == "isolated"
    finally:
        default.shutdown()


def test_a_capability_on_the_command_line() -> None:
    """A capability's name gives the capability; an unknown one is a usage error naming the
    names accepted."""
    assert parse_capability("network") is Capability.NETWORK
    assert parse_capability("system_control") is Capability.SYSTEM_CONTROL
    with pytest.raises(CliError, match="filesystem") as info:
        parse_capability("telepathy")
    assert "telepathy" in str(info.value) and info.value.exit_code == 2
