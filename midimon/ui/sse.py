"""Server-sent events: the daemon's events to one page, with a keep-alive comment when idle."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from midimon.ui.daemon_link import DaemonLink

KEEPALIVE_S = 15.0


async def event_stream(request: web.Request, link: DaemonLink) -> web.StreamResponse:
    """Stream every event ``link`` delivers as ``data: JSON`` lines until the page goes."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    queue = link.subscribe()
    try:
        hello = {"type": "daemon", "connected": link.connected}
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
        link.unsubscribe(queue)
    return response
