"""`midimon trust add/list/remove`: the trusted keys and their scopes, kept across commands."""

from __future__ import annotations

import json

from helpers import Keys, RunMidimon


def test_trust_list_and_remove(run_midimon: RunMidimon, keys: Keys) -> None:
    """trust add/list/remove round trip, with scopes shown in JSON."""
    run_midimon("trust", "add", keys.pub_path, "--name", "Alice", "--plugins", "alice_*,a2")
    listed = json.loads(run_midimon("trust", "list", "--json").stdout)["keys"]
    assert [(k["key_id"], k["name"], k["plugins"]) for k in listed] == [
        (keys.public.key_id_hex, "Alice", ["alice_*", "a2"])
    ]
    assert run_midimon("trust", "remove", keys.public.key_id_hex).returncode == 0
    assert json.loads(run_midimon("trust", "list", "--json").stdout)["keys"] == []
    assert run_midimon("trust", "remove", keys.public.key_id_hex).returncode == 1
    done = run_midimon("trust", "add", keys.key_path)  # a secret key is not a public key
    assert done.returncode == 2
