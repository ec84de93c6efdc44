"""PLUGIN_VERIFY_PACKAGE, PLUGIN_INSTALL and PLUGIN_UNINSTALL against a real `midimon run`:
a signed package verified, installed with its grants, loaded and removed; a tampered one and
an oversized upload refused."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin, RunMidimon, trusted_key, wait_for
from panel_daemon import Panel

from midimon.daemon.client import IpcError
from midimon.daemon.control_protocol import ErrorCode


def _signed_package(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path, name: str = "uploaded"
) -> Path:
    """A package of a test plugin signed by a trusted key; ``uploaded`` asks for Network and
    Filesystem, any other name for Network alone."""
    key = trusted_key(run_midimon, tmp_path / "keys")
    if name == "uploaded":
        caps = {"network": True, "filesystem": True}
        flags = "MIDIMON_CAP_NETWORK|MIDIMON_CAP_FILESYSTEM"
    else:
        caps, flags = {"network": True}, "MIDIMON_CAP_NETWORK"
    folder = make_plugin(name, root=tmp_path / "src", defines={"P_CAPS": flags},
                         manifest={"capabilities": caps})  # fmt: skip
    done = run_midimon("sign", folder, "-s", key)
    assert done.returncode == 0, done.stderr
    done = run_midimon("pack", folder, "-o", tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["file"])


def _tampered(package: Path) -> Path:
    """The same package with one byte of the binary flipped."""
    out = package.with_name("tampered.midimon-plugin")
    with tarfile.open(package) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "plugin.so":
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


def _upload(package: Path, **extra: Any) -> dict[str, Any]:
    data = base64.b64encode(package.read_bytes()).decode()
    return {"data_b64": data, "filename": package.name, **extra}


def test_verify_install_uninstall_a_package(
    panel: Panel, make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """A signed package verifies (installing nothing), installs with the grant asked for and
    runs; a tampered one is refused with the reason and nothing is installed; uninstall
    removes it and its grants; the audit says source ui."""
    package = _signed_package(make_plugin, run_midimon, tmp_path)
    user_plugins = Path(panel.env["XDG_DATA_HOME"]) / "midimon" / "plugins"
    report = panel.request("PLUGIN_VERIFY_PACKAGE", _upload(package))
    assert report["ok"] is True and report["verdict"] == "ok" and report["reason"] is None
    assert report["plugin"] == "uploaded" and report["trust"] == "signed"
    assert report["signature"]["signer"] == "Alice" and len(report["signature"]["key_id"]) == 16
    assert report["capabilities"] == [{"name": "network", "risk": "medium"},
                                      {"name": "filesystem", "risk": "high"}]  # fmt: skip
    assert "needed" in report["dependencies"] and report["package"] == package.name
    assert not (user_plugins / "uploaded").exists()
    checked = [e for e in panel.audit("verify") if e["plugin"] == "uploaded"]
    assert [(e["ok"], e["source"]) for e in checked] == [(True, "cli")]
    # the CLI gives the same report (run where the package is, so it is named alike)
    local = run_midimon("verify", package.name, "--json", cwd=package.parent)
    assert local.returncode == 0, local.stdout + local.stderr
    assert json.loads(local.stdout) == report
    assert report["checks"][0]["detail"] == f"{package.name}:plugin.toml is valid"

    tampered = _tampered(package)
    bad = panel.request("PLUGIN_VERIFY_PACKAGE", _upload(tampered))
    assert bad["ok"] is False and "modified" in bad["reason"]
    with pytest.raises(IpcError) as refused:
        panel.request("PLUGIN_INSTALL", _upload(tampered, grant=["network"], source="ui"))
    assert refused.value.code == ErrorCode.COMMAND_FAILED
    assert "not installed" in refused.value.message and "modified" in refused.value.message
    assert not (user_plugins / "uploaded").exists()
    with pytest.raises(IpcError) as refused:
        panel.request("PLUGIN_INSTALL", _upload(package, grant=["filesystem"]))
    assert refused.value.code == ErrorCode.BAD_ARGS and "Filesystem" in refused.value.message

    folder = str(panel.log.parent)  # filesystem with its folder: granted as `plugins grant` does
    installed = panel.request("PLUGIN_INSTALL", _upload(
        package, grant=["network", "filesystem"], paths=[folder], source="ui"))  # fmt: skip
    assert (installed["installed"], installed["version"]) == ("uploaded", "1.0.0")
    assert installed["granted"] == ["network", "filesystem"] and installed["not_granted"] == []
    assert (user_plugins / "uploaded" / "plugin.so").is_file()
    rows = {r["name"]: r for r in panel.request("PLUGINS")}
    assert rows["uploaded"]["status"] == "ok" and rows["uploaded"]["path"].startswith(
        str(user_plugins)
    )
    info = panel.request("PLUGIN_INFO", {"name": "uploaded"})
    assert info["granted"] == ["network", "filesystem"] and info["trust"] == "signed"
    assert info["filesystem_paths"] == [folder]
    assert [(c["name"], c["risk"]) for c in info["capability_details"]] == [
        ("network", "medium"), ("filesystem", "high")]  # fmt: skip
    assert panel.request("PLUGIN_LOAD", {"name": "uploaded", "source": "ui"}) == {
        "loaded": "uploaded"
    }
    install_audit = [e for e in panel.audit("install") if e["plugin"] == "uploaded"]
    assert install_audit[-1]["source"] == "ui"

    removed = panel.request("PLUGIN_UNINSTALL", {"name": "uploaded", "source": "ui"})
    assert removed["removed"] == [str(user_plugins / "uploaded")]
    assert removed["grants_removed"] == ["filesystem", "network"]
    assert not (user_plugins / "uploaded").exists()
    assert "uploaded" not in {r["name"] for r in panel.request("PLUGINS")}
    assert panel.audit("uninstall")[-1]["source"] == "ui"
    with pytest.raises(IpcError) as refused:
        panel.request("PLUGIN_UNINSTALL", {"name": "file_log"})  # bundled: never removed
    assert "bundled or system-wide" in refused.value.message


def test_grants_chosen_at_install_hold_for_the_very_next_press(
    panel: Panel, make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """While another pad plays (so the daemon's view of the grants file is always fresh, and
    would stay stale for a while after a write it did not make itself), a package installed
    with Network granted runs on the very first press after PLUGIN_INSTALL answers: no grant
    request, no denial, no restart."""
    package = _signed_package(make_plugin, run_midimon, tmp_path, "net_probe")
    playing, lock = threading.Event(), threading.Lock()

    def play() -> None:
        while not playing.is_set():
            with lock:
                panel.press(60)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    try:
        time.sleep(0.5)
        installed = panel.request(
            "PLUGIN_INSTALL", _upload(package, grant=["network"], source="ui")
        )
        assert installed["granted"] == ["network"], installed
        with lock:
            panel.press(42)
        stats = lambda: panel.request("PLUGIN_STATS", {"name": "net_probe"})  # noqa: E731
        assert wait_for(lambda: stats()["executions"] + stats()["denials"] >= 1)
    finally:
        playing.set()
        player.join(5)
    assert (stats()["successes"], stats()["denials"]) == (1, 0), stats()
    assert panel.request("PLUGIN_REQUESTS", {"all": True}) == []
    assert not [e for e in panel.audit("deny") if e["plugin"] == "net_probe"]
    assert panel.request("PLUGIN_INFO", {"name": "net_probe"})["granted"] == ["network"]


def test_uploads_are_checked_before_decoding(panel: Panel) -> None:
    """A wrong file name, bad base64, and a package over the size limit are refused."""
    for args, words in (
        ({"data_b64": "AAAA", "filename": "x.tar.gz"}, "not a .midimon-plugin"),
        ({"data_b64": "!!!", "filename": "x.midimon-plugin"}, "not valid base64"),
        ({"filename": "x.midimon-plugin"}, "data_b64"),
    ):
        with pytest.raises(IpcError) as refused:
            panel.request("PLUGIN_VERIFY_PACKAGE", args)
        assert refused.value.code == ErrorCode.BAD_ARGS and words in refused.value.message
