"""Installing a real packed plugin (packages/install.py): the grant rules, the refusals that
leave nothing behind, the state and audit it writes, and a re-install replacing a version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import InstallRefused
from midimon.plugins.integrity.packaging import pack
from midimon.plugins.packages.install import install, wanted_grants
from midimon.plugins.settings import parse_plugin_settings


def _package(make_plugin: MakePlugin, tmp_path: Path) -> Path:
    folder = make_plugin(
        "packed",
        root=tmp_path / "src",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    return pack(folder, tmp_path).file


def test_wanted_grants_takes_names_and_refuses_filesystem() -> None:
    """Capabilities by name; Filesystem needs folders so install never grants it."""
    assert wanted_grants(["network"]) == {Capability.NETWORK}
    with pytest.raises(InstallRefused, match="--grant filesystem"):
        wanted_grants(["filesystem"])
    with pytest.raises(InstallRefused):
        wanted_grants(["no_such_capability"])


def test_install_grants_what_was_named_and_records_it(
    make_plugin: MakePlugin, tmp_path: Path, isolated_dirs: dict[str, str]
) -> None:
    """The package lands in plugins_dir with the named grant saved and audited; installing it
    again says which version it replaced."""
    package = _package(make_plugin, tmp_path)
    settings = parse_plugin_settings({"dev_mode": True})
    plugins_dir, state = tmp_path / "installed", tmp_path / "state"
    shown = []
    done = install(
        package, plugins_dir=plugins_dir, state_dir=state, settings=settings,
        wanted={Capability.NETWORK}, before_grants=lambda m, r: shown.append(m.name),
    )  # fmt: skip
    assert shown == ["packed"]
    assert done.path == plugins_dir / "packed" and (done.path / "plugin.toml").is_file()
    assert done.granted == [Capability.NETWORK] and done.not_granted == []
    assert done.replaced is None
    saved = json.loads((state / "plugin_state.json").read_text())
    assert "network" in json.dumps(saved)
    lines = (state / "audit.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events == ["install", "grant"]

    again = install(
        package, plugins_dir=plugins_dir, state_dir=state, settings=settings, wanted=set()
    )
    assert again.replaced == done.manifest.version and again.granted == []


def test_a_grant_the_plugin_does_not_request_refuses_the_whole_install(
    make_plugin: MakePlugin, tmp_path: Path, isolated_dirs: dict[str, str]
) -> None:
    """--grant audio for a plugin that asks only for network: refused, nothing installed."""
    package = _package(make_plugin, tmp_path)
    plugins_dir = tmp_path / "installed"
    with pytest.raises(InstallRefused, match="does not request it; it requests: network"):
        install(
            package, plugins_dir=plugins_dir, state_dir=tmp_path / "state",
            settings=parse_plugin_settings({"dev_mode": True}), wanted={Capability.AUDIO},
        )  # fmt: skip
    assert not (plugins_dir / "packed").exists()
    assert not (tmp_path / "state" / "audit.jsonl").exists()
