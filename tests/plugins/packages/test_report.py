"""The verify report (packages/report.py) on real compiled plugins: a good folder, a binary
that no longer matches its pinned SHA-256, no plugin.toml, and a packed plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.errors import NoManifest
from midimon.plugins.integrity.packaging import pack
from midimon.plugins.packages.report import VerifySettings, verify_package, verify_report
from midimon.plugins.settings import parse_plugin_settings


def _settings() -> VerifySettings:
    dev = parse_plugin_settings({"dev_mode": True})
    return VerifySettings(dev, dev, audit_source="test")


def test_a_good_folder_verifies_and_loads(
    make_plugin: MakePlugin, isolated_dirs: dict[str, str]
) -> None:
    """Every check passes, the worker loads it and the report names the plugin."""
    folder = make_plugin("reported")
    report = verify_report(folder / "plugin.toml", None, _settings(), str(folder))
    assert report["verdict"] == "ok" and report["ok"] and report["reason"] is None, report
    assert report["plugin"] == "reported" and len(report["sha256"]) == 64
    names = [c["name"] for c in report["checks"]]
    assert "manifest" in names and "binary" in names and "load" in names
    assert report["reported"]["name"] == "reported"


def test_a_changed_binary_fails_its_pin(
    make_plugin: MakePlugin, isolated_dirs: dict[str, str]
) -> None:
    """plugin.sha256 pins another binary: the binary check fails and says to rebuild or
    re-pin; nothing is loaded."""
    folder = make_plugin("pinned", manifest={"sha256": "0" * 64})
    report = verify_report(folder / "plugin.toml", None, _settings(), str(folder))
    assert report["verdict"] == "failed" and report["reason"].startswith("binary: ")
    [binary] = [c for c in report["checks"] if c["name"] == "binary"]
    assert "re-pin plugin.sha256" in binary["fix"]
    assert report["reported"] is None


def test_no_manifest_is_its_own_error(tmp_path: Path) -> None:
    """A folder without plugin.toml raises NoManifest (the caller words it)."""
    with pytest.raises(NoManifest):
        verify_report(tmp_path / "plugin.toml", None, _settings(), str(tmp_path))


def test_a_package_is_verified_as_its_folder(
    make_plugin: MakePlugin, tmp_path: Path, isolated_dirs: dict[str, str]
) -> None:
    """verify_package unpacks the .midimon-plugin and reports on it as on the folder."""
    package = pack(make_plugin("boxed", root=tmp_path / "src"), tmp_path).file
    report = verify_package(package, _settings(), str(package))
    assert report["verdict"] == "ok" and report["plugin"] == "boxed", report
