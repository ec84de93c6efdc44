"""`midimon keygen` and `midimon sign`: keys on disk with safe modes, passwords asked on stdin."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from helpers import MakePlugin, RunMidimon


def test_keygen_password_and_sign_with_it(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """keygen writes a 0600 encrypted key; sign asks for the password (stdin) and uses it."""
    pub, key = tmp_path / "k.pub", tmp_path / "k.key"
    done = run_midimon("keygen", "-p", pub, "-s", key, input="s3cret\n")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert run_midimon("keygen", "-p", pub, "-s", key, "-W").returncode == 2  # no overwrite
    folder = make_plugin("pw_signed")
    done = run_midimon("sign", folder, "-s", key, input="wrong\n")
    assert done.returncode == 2 and "password" in done.stderr.lower()
    done = run_midimon("sign", folder, "-s", key, input="s3cret\n")
    assert done.returncode == 0, done.stderr
    assert run_midimon("trust", "add", pub, "--any").returncode == 0
    assert run_midimon("verify", folder).returncode == 0
