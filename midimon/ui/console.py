"""The live console and Learn: /api/console streams MIDI in, triggers fired, actions and their
results, reloads and mode changes (a daemon EVENTS stream of its own, opened only while a
console page is open: the daemon builds per-note events only for someone watching);
/api/mode switches the mode; /api/editor/learn runs `midimon learn --json` (the very same
detection) and hands back the trigger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
from typing import Any

from aiohttp import web

from midimon.daemon.errors import IpcError
from midimon.ui.api import LINK
from midimon.ui.sse import KEEPALIVE_S

CONSOLE_TYPES = ("midi", "trigger", "action", "reload", "mode", "plugin_midi", "plugin_led")
CONSOLE_QUEUE = 2048
LEARN_MAX_S = 60.0


async def console(request: web.Request) -> web.StreamResponse:
    """Server-sent events for one console page: first ``hello`` (the mode and the modes),
    then each daemon event as it happens; the oldest are dropped when the page lags."""
    link = request.app[LINK]
    try:
        status = await link.request("STATUS")
    except IpcError as exc:
        return web.json_response({"error": exc.message}, status=503)
    client, stream = link.open_stream(CONSOLE_TYPES)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(CONSOLE_QUEUE)

    def put(event: dict[str, Any]) -> None:
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
        queue.put_nowait(event)

    def pump() -> None:
        try:
            for event in stream:
                if isinstance(event, dict):
                    loop.call_soon_threadsafe(put, event)
        except (IpcError, OSError, ValueError) as exc:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(put, {"type": "daemon", "connected": False,
                                                "error": str(exc)})  # fmt: skip

    threading.Thread(target=pump, name="panel-console", daemon=True).start()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    hello = {"type": "hello", "mode": status["mode"], "modes": status["modes"]}
    try:
        await response.write(f"data: {json.dumps(hello)}\n\n".encode())
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
    except ConnectionResetError:  # the page went away
        pass
    finally:
        with contextlib.suppress(Exception):
            stream.close()  # hangs up: the daemon stops building per-note events for us
        client.close()
    return response


async def set_mode(request: web.Request) -> web.Response:
    """POST {"mode": NAME}: the daemon's SET_MODE (as a ModeChange action would)."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from None
    mode = body.get("mode") if isinstance(body, dict) else None
    if not isinstance(mode, str):
        raise web.HTTPBadRequest(text="send the mode as 'mode'")
    try:
        return web.json_response(await request.app[LINK].change("SET_MODE", {"mode": mode}))
    except IpcError as exc:
        return web.json_response({"error": exc.message}, status=409)


async def learn(request: web.Request) -> web.Response:
    """POST {"timeout": S}: the next pad, key or control the daemon sees, as a trigger table,
    by `midimon learn --json` itself (a CC is watched half a second more for an encoder)."""
    try:
        body = await request.json()
    except ValueError:
        body = {}
    timeout = body.get("timeout", 15) if isinstance(body, dict) else 15
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= LEARN_MAX_S:
        raise web.HTTPBadRequest(text=f"timeout must be in seconds, in (0, {LEARN_MAX_S:g}]")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "midimon", "learn", "--json", "--timeout", str(timeout),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return web.json_response({"error": "midimon learn did not finish"}, status=504)
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        return web.json_response({"error": message[-1] if message else "learn failed"}, status=408)
    answer: dict[str, Any] = json.loads(out)
    return web.json_response(answer)


def add_console_routes(app: web.Application) -> None:
    """The console's routes (the POSTs pass the guard's Origin and key checks)."""
    app.router.add_get("/api/console", console)
    app.router.add_post("/api/mode", set_mode)
    app.router.add_post("/api/editor/learn", learn)
