"""Grant requests from refused pad presses against a real `midimon run`: each names the mapping
and trigger that made the call (request_origin), and a grant from the panel clears it."""

from __future__ import annotations

import json
import time

from helpers import RunMidimon, wait_for
from panel_daemon import Panel


def test_refused_press_becomes_one_request_and_a_grant_runs_the_plugin(
    panel: Panel, run_midimon: RunMidimon
) -> None:
    """Presses on file_log without its grant: exactly one pending request whose count grows,
    announced on the stream; granting it (source ui) clears it and the next press writes."""
    panel.listen(["grant_request", "grant_request_cleared"])
    panel.press(40, 3)
    assert wait_for(lambda: any(r["count"] == 3 for r in panel.request("PLUGIN_REQUESTS")))
    rows = panel.request("PLUGIN_REQUESTS")
    assert len(rows) == 1
    row = rows[0]
    assert (row["plugin"], row["capability"], row["risk"], row["state"]) == (
        "file_log", "filesystem", "high", "pending"
    )  # fmt: skip
    assert row["mapping"] == 'modes[0] "Default" mappings[0] ("log pad")'
    assert row["trigger"].startswith("Note note=40") and "velocity 100" in row["trigger"]
    assert row["first"] <= row["last"] <= time.time()
    assert wait_for(lambda: any(e["type"] == "grant_request" for e in panel.events))
    first = next(e for e in panel.events if e["type"] == "grant_request")
    assert (first["plugin"], first["capability"], first["count"]) == ("file_log", "filesystem", 1)
    # the held-back count reaches the stream within about a second
    assert wait_for(lambda: panel.events[-1].get("count") == 3, 10)
    assert not panel.log.exists()

    listed = run_midimon("plugins", "requests", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(r["plugin"], r["count"]) for r in json.loads(listed.stdout)] == [("file_log", 3)]
    text = run_midimon("plugins", "requests")
    assert "midimon plugins grant file_log filesystem --write DIR" in text.stdout

    granted = panel.request("PLUGIN_GRANT", {"name": "file_log", "capability": "filesystem",
                                             "paths": [str(panel.log.parent)], "source": "ui"})
    assert granted == {"granted": "filesystem"}
    assert wait_for(lambda: any(e["type"] == "grant_request_cleared" for e in panel.events))
    cleared = next(e for e in panel.events if e["type"] == "grant_request_cleared")
    assert cleared == {"type": "grant_request_cleared", "plugin": "file_log",
                       "capability": "filesystem", "state": "granted"}  # fmt: skip
    assert panel.request("PLUGIN_REQUESTS", {"all": True}) == []
    panel.press(40)
    assert wait_for(lambda: panel.log.exists() and panel.log.read_text().count("\n") == 1)
    grant = [e for e in panel.audit("grant") if e["plugin"] == "file_log"][-1]
    assert grant["source"] == "ui" and grant["paths"] == [str(panel.log.parent)]
    denials = [e for e in panel.audit("deny") if e["plugin"] == "file_log"]
    assert len(denials) == 3 and all("source" not in e for e in denials)  # MIDI, not a person
