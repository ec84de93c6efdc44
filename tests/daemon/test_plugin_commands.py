"""The per-plugin control commands against a real `midimon run`: PLUGIN_REQUESTS, PLUGIN_DENY
and PLUGIN_UNDENY (remembered across a restart), with their audit sources."""

from __future__ import annotations

from helpers import RunMidimon, wait_for
from panel_daemon import Panel


def test_deny_is_remembered_across_a_restart(panel: Panel, run_midimon: RunMidimon) -> None:
    """`plugins deny` clears the request and no new one appears for that pair (counts go on),
    also after the daemon restarts; undeny (source ui) asks again."""
    panel.press(41)
    assert wait_for(lambda: len(panel.request("PLUGIN_REQUESTS")) == 1)
    done = run_midimon("plugins", "deny", "http_request", "network")
    assert done.returncode == 0, done.stderr
    assert panel.request("PLUGIN_REQUESTS") == []
    panel.press(41, 2)
    assert wait_for(lambda: panel.request("PLUGIN_REQUESTS", {"all": True})[0]["count"] == 3)
    assert panel.request("PLUGIN_REQUESTS") == []
    info = panel.request("PLUGIN_INFO", {"name": "http_request"})
    assert [d["capability"] for d in info["denied"]] == ["network"]
    assert info["denied"][0]["sha256"] == info["sha256_actual"]
    shown = run_midimon("plugins", "info", "http_request")
    assert "denied network (not asked again" in shown.stdout, shown.stdout + shown.stderr
    audit = [e for e in panel.audit("grant_denied") if e["plugin"] == "http_request"]
    assert audit[-1]["source"] == "cli" and audit[-1]["capability"] == "network"

    panel.stop()
    panel.start()
    rows = panel.request("PLUGIN_REQUESTS", {"all": True})
    assert [(r["plugin"], r["state"], r["count"]) for r in rows] == [("http_request", "denied", 3)]
    panel.press(41)
    assert wait_for(lambda: panel.request("PLUGIN_REQUESTS", {"all": True})[0]["count"] == 4)
    assert panel.request("PLUGIN_REQUESTS") == []

    assert panel.request("PLUGIN_UNDENY", {"name": "http_request", "capability": "network",
                                           "source": "ui"}) == {"undenied": True}  # fmt: skip
    assert panel.audit("grant_undenied")[-1]["source"] == "ui"
    panel.press(41)
    assert wait_for(lambda: len(panel.request("PLUGIN_REQUESTS")) == 1)
    assert panel.request("PLUGIN_REQUESTS")[0]["count"] == 1
