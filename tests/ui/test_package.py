"""The panel's place in the package: a client of the daemon, like the CLI, and the only home
of aiohttp."""

from __future__ import annotations

import ast
from pathlib import Path

import midimon

PACKAGE = Path(midimon.__file__).resolve().parent
UI = PACKAGE / "ui"
# the client, the protocol's error codes, and the errors the client raises (IpcError)
ALLOWED_FROM_DAEMON = {
    "midimon.daemon.client",
    "midimon.daemon.control_protocol",
    "midimon.daemon.errors",
}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_panel_talks_to_the_daemon_only_through_the_client() -> None:
    """midimon/ui imports nothing of the engine or the CLI, and of the daemon only the client
    and the protocol's error codes and errors: it has no way in but the control socket."""
    wrong = [
        f"{path.name}: {name}"
        for path in sorted(UI.glob("*.py"))
        for name in _imports(path)
        if name.startswith(("midimon.engine", "midimon.cli"))
        or (name.startswith("midimon.daemon") and name not in ALLOWED_FROM_DAEMON)
    ]
    assert not wrong, wrong


def test_aiohttp_stays_in_the_panel() -> None:
    """Only midimon/ui imports aiohttp: `midimon run` and the other commands never load it."""
    outside = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if UI not in path.parents and any(n.split(".")[0] == "aiohttp" for n in _imports(path))
    ]
    assert not outside, outside
