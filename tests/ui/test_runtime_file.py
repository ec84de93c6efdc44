"""The control panel's runtime record (ui/runtime_file.py): private on disk, removed only by
the process that wrote it, and a stale one (dead process or closed port) is not a panel."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

from midimon.ui.runtime_file import PanelRecord, read_running_panel, remove_record, write_record


def _record(port: int, pid: int) -> PanelRecord:
    return PanelRecord(url=f"http://127.0.0.1:{port}/", port=port, pid=pid, token="t0ken")


def test_the_record_is_private_and_removed_only_by_its_writer(tmp_path: Path) -> None:
    """Mode 0600 in a 0700 folder; another pid's remove leaves it, its own removes it."""
    path = write_record(_record(9, os.getpid()), tmp_path / "run" / "panel.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    remove_record(os.getpid() + 1, path)
    assert path.exists()
    remove_record(os.getpid(), path)
    assert not path.exists()


def test_a_listening_panel_is_found_and_a_stale_record_removed(tmp_path: Path) -> None:
    """This process listening on the port: found. A pid that exited: None, and the record is
    gone. Garbage in the file: None."""
    path = tmp_path / "panel.json"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        write_record(_record(port, os.getpid()), path)
        found = read_running_panel(path)
        assert found is not None and found.port == port and found.token == "t0ken"

        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        write_record(_record(port, int(dead.stdout)), path)
        assert read_running_panel(path) is None and not path.exists()

    path.write_text("{not json")
    assert read_running_panel(path) is None
