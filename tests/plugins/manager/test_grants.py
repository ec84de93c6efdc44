"""Persistent plugin state: grants bound to one binary and one signer, disabled flags, another
process's changes seen, and the file never torn."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.manager.grants import RECHECK_SECONDS, Grant, PluginStateStore


def test_crash_during_grant_write_leaves_valid_state(tmp_path: Path) -> None:
    """SIGKILL at random moments while grants are written never leaves a broken file."""
    state = tmp_path / "plugin_state.json"
    writer = (
        "import sys, itertools\n"
        "from midimon.plugins.manager.grants import Grant, PluginStateStore\n"
        "from midimon.plugins.description.capabilities import Capability\n"
        f"store = PluginStateStore(__import__('pathlib').Path({str(state)!r}))\n"
        "for i in itertools.count():\n"
        "    store.grant(f'p{i % 50}', 'ab' * 32, Grant(Capability.NETWORK, (), float(i)))\n"
        "    if i == 5: print('ready', flush=True)\n"
    )
    from midimon.plugins.manager.grants import PluginStateStore

    for attempt in range(15):
        child = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": ""})  # fmt: skip
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(0.01 * (attempt % 5))
        child.send_signal(signal.SIGKILL)
        child.wait()
        data = json.loads(state.read_text())  # always complete JSON
        assert all(entry["sha256"] == "ab" * 32 for entry in data.values())
        assert PluginStateStore(state).grants("p0", "ab" * 32)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "plugin_state.json"]
    assert all(name.endswith(".tmp") for name in leftovers)  # at most a torn temp file


SHA_A, SHA_B = "aa" * 32, "bb" * 32


def test_grants_belong_to_one_binary_and_one_signer(tmp_path: Path) -> None:
    """A grant is found for the binary and signer it was given to, never for another hash or
    another signer; granting for a new binary drops the old binary's grants."""
    store = PluginStateStore(tmp_path / "state.json")
    store.grant("p", SHA_A, Grant(Capability.NETWORK, granted_at=5.0), signer="KEY1")
    store.grant("p", SHA_A, Grant(Capability.MIDI), signer="KEY1")
    assert set(store.grants("p", SHA_A, "KEY1")) == {Capability.NETWORK, Capability.MIDI}
    assert store.grants("p", SHA_A, "KEY1")[Capability.NETWORK].granted_at == 5.0
    assert store.grants("p", SHA_B, "KEY1") == {}
    assert store.grants("p", SHA_A, "KEY2") == {}
    assert store.grants("p", SHA_A, None) == {}
    store.grant("p", SHA_B, Grant(Capability.AUDIO), signer="KEY1")
    assert set(store.grants("p", SHA_B, "KEY1")) == {Capability.AUDIO}
    assert store.grants("p", SHA_A, "KEY1") == {}


def test_filesystem_paths_round_trip(tmp_path: Path) -> None:
    """A Filesystem grant keeps its read-only and read-write paths apart."""
    store = PluginStateStore(tmp_path / "state.json")
    grant = Grant(Capability.FILESYSTEM, ("/w1",), 1.0, ("/r1", "/r2"))
    store.grant("p", SHA_A, grant)
    again = PluginStateStore(tmp_path / "state.json").grants("p", SHA_A)[Capability.FILESYSTEM]
    assert again == grant and again.all_paths == ("/r1", "/r2", "/w1")


def test_files_from_before_signers_and_read_paths(tmp_path: Path) -> None:
    """An entry without "signer" matches any signer; an old single "paths" list loads as
    read-write paths; unknown capability names are skipped."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"p": {"sha256": SHA_A, "grants": {
        "filesystem": {"paths": ["/old"], "granted_at": 2},
        "teleport": {"granted_at": 3},
    }}}))  # fmt: skip
    grants = PluginStateStore(path).grants("p", SHA_A, "ANYKEY")
    assert grants == {Capability.FILESYSTEM: Grant(Capability.FILESYSTEM, ("/old",), 2.0)}
    assert PluginStateStore(path).all_grants() == {"p": grants}


def test_revoke_forget_and_disable(tmp_path: Path) -> None:
    """revoke and forget say whether there was something; a disabled reason persists until
    cleared with None; the file is private (0600)."""
    store = PluginStateStore(tmp_path / "state.json")
    store.grant("p", SHA_A, Grant(Capability.NETWORK))
    assert store.revoke("p", Capability.NETWORK) and not store.revoke("p", Capability.NETWORK)
    store.set_disabled("p", "3 crashes")
    assert PluginStateStore(store.path).disabled_reason("p") == "3 crashes"
    store.set_disabled("p", None)
    assert store.disabled_reason("p") is None
    assert store.forget("p") and not store.forget("p")
    assert store.disabled_reason("p") is None and store.all_grants() == {}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_another_processs_change_is_seen(tmp_path: Path) -> None:
    """A store sees what another store (another process) wrote once RECHECK_SECONDS passed."""
    reader = PluginStateStore(tmp_path / "state.json")
    assert reader.disabled_reason("p") is None
    PluginStateStore(tmp_path / "state.json").set_disabled("p", "by the CLI")
    deadline = time.monotonic() + RECHECK_SECONDS + 5
    while reader.disabled_reason("p") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reader.disabled_reason("p") == "by the CLI"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    """A damaged state file raises OSError with its path, never reads as 'nothing granted'."""
    path = tmp_path / "state.json"
    path.write_text("{oops")
    with pytest.raises(OSError, match=re.escape(str(path))):
        PluginStateStore(path).grants("p", SHA_A)
