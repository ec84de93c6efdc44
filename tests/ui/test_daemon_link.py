"""The panel's link to the daemon (ui/daemon_link.py) against a real ControlServer: requests
marked source "ui", the EVENTS stream fanned out to subscribers with only the panel's event
types, the stats history, and the connected flag when the daemon goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from midimon.daemon import CommandRegistry, ControlServer
from midimon.ui.daemon_link import DaemonLink


def _echo(args: dict[str, Any], ctx: Any) -> Any:
    return args


async def _next(
    queue: asyncio.Queue[dict[str, Any]], kind: str, seen: list[dict[str, Any]]
) -> dict[str, Any]:
    """The next event of type ``kind``; every event taken on the way is added to ``seen``."""
    while True:
        event = await asyncio.wait_for(queue.get(), 10)
        seen.append(event)
        if event.get("type") == kind:
            return event


def test_requests_events_and_reconnect_state(tmp_path: Path) -> None:
    """change() adds source ui; a stats event reaches the subscriber and the history, a midi
    event (not asked for) never does; stopping the server flips ``connected``."""
    registry = CommandRegistry()
    registry.register("ECHO", _echo)
    path = tmp_path / "run" / "midimon.sock"
    server = ControlServer(path, registry)
    server.start()
    link = DaemonLink(str(path), timeout=10)

    seen: list[dict[str, Any]] = []

    async def scenario() -> None:
        queue = link.subscribe()
        link.start(asyncio.get_running_loop())
        assert (await _next(queue, "daemon", seen))["connected"] is True
        assert link.connected
        assert await link.change("ECHO", {"a": 1}) == {"a": 1, "source": "ui"}
        assert await link.request("ECHO", {"b": 2}) == {"b": 2}
        for _ in range(50):  # the subscription is made once the request reached the server
            if registry.events.subscriber_count:
                break
            await asyncio.sleep(0.05)
        registry.events.publish({"type": "midi", "note": 36})
        registry.events.publish({"type": "stats", "n": 1})
        await _next(queue, "stats", seen)
        server.stop()
        gone = await _next(queue, "daemon", seen)
        assert gone["connected"] is False and not link.connected

    try:
        asyncio.run(scenario())
    finally:
        link.stop()
        server.stop()
    assert [e["n"] for e in seen if e["type"] == "stats"] == [1]
    assert all(e["type"] != "midi" for e in seen)
    assert [e["n"] for e in link.stats_history] == [1]
