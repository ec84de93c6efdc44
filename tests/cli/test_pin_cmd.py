"""``midimon trust pin|pins|rotate``: hand a name to a trusted key on purpose (audited),
list the pins, and write a rotation statement; each refusal says what to do first.
(The whole takeover and rotation story: tests/plugins/integrity/test_pins.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import BUNDLED, Keys, RunMidimon, new_keys

from midimon.plugins.integrity.rotation import read_statement


def pins(run_midimon: RunMidimon) -> dict[str, tuple[str, str]]:
    done = run_midimon("trust", "pins", "--json")
    assert done.returncode == 0, done.stderr
    return {p["plugin"]: (p["signer"], p["how"]) for p in json.loads(done.stdout)["pins"]}


def test_bundled_names_are_pinned_from_the_start(run_midimon: RunMidimon) -> None:
    """A fresh install lists every bundled plugin's name as pinned to the installation."""
    listed = pins(run_midimon)
    for name in BUNDLED:
        assert listed[name] == ("bundled", "bundled")
    text = run_midimon("trust", "pins").stdout
    assert "file_log  bundled (this midimon installation)  (bundled)" in text


def test_pin_to_a_trusted_key_in_scope(
    run_midimon: RunMidimon, keys: Keys, midimon_env: dict[str, str]
) -> None:
    """`trust pin` moves a name to a trusted key, says what it was before, and audits it."""
    key_id = keys.public.key_id_hex
    assert run_midimon("trust", "add", keys.pub_path, "--plugins", "file_log").returncode == 0
    done = run_midimon("trust", "pin", "file_log", key_id.lower())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"pinned file_log to key {key_id} (was bundled (this midimon installation))"
    )
    assert pins(run_midimon)["file_log"] == (key_id, "re-pinned")
    audit = Path(midimon_env["XDG_STATE_HOME"]) / "midimon" / "audit.jsonl"
    entry = json.loads(audit.read_text().splitlines()[-1])
    assert (entry["event"], entry["plugin"], entry["old"], entry["new"]) == (
        "repin", "file_log", "bundled", key_id
    )
    done = run_midimon("trust", "pin", "file_log", "bundled", "--json")
    assert json.loads(done.stdout) == {"plugin": "file_log", "old": key_id, "new": "bundled"}


def test_pin_refusals_say_what_to_do_first(run_midimon: RunMidimon, keys: Keys) -> None:
    """Untrusted key: trust it first; out of scope: widen it; bundled for a name that is not."""
    key_id = keys.public.key_id_hex
    done = run_midimon("trust", "pin", "my_pad", key_id)
    assert done.returncode == 2
    assert f"key {key_id} is not trusted; first: midimon trust add KEY.pub" in done.stderr
    run_midimon("trust", "add", keys.pub_path, "--plugins", "other_*")
    done = run_midimon("trust", "pin", "my_pad", key_id)
    assert done.returncode == 2
    assert "may only sign other_*, not my_pad; widen it first" in done.stderr
    assert "--plugins other_*,my_pad" in done.stderr
    done = run_midimon("trust", "pin", "my_pad", "bundled")
    assert done.returncode == 2 and "my_pad is not a plugin bundled with midimon" in done.stderr
    assert "my_pad" not in pins(run_midimon)


def test_rotate_writes_a_statement_the_old_key_signed(
    run_midimon: RunMidimon, keys: Keys, tmp_path: Path
) -> None:
    """`trust rotate` writes rotate-OLD-NEW.txt and its signature by the old key, for the
    names given (comma-separated or repeated)."""
    new = new_keys(tmp_path / "new", "next")
    folder = tmp_path / "plugin"
    folder.mkdir()
    keys_args = ("--old-key", keys.key_path, "--new-key", new.pub_path)
    done = run_midimon("trust", "rotate", folder, *keys_args, "--plugins", "pad,knob",
                       "--plugins", "fx_*", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    statement = Path(json.loads(done.stdout)["statement"])
    rotation = read_statement(statement, keys.public)
    assert rotation.new_key == new.public and rotation.plugins == ("pad", "knob", "fx_*")
    done = run_midimon("trust", "rotate", tmp_path / "nope", *keys_args, "--plugins", "pad")
    assert done.returncode == 2 and "not a folder" in done.stderr
