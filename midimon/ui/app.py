"""The panel's aiohttp application: the guard, the API, and the built app's own files."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

from aiohttp import web

from midimon.ui.api import LINK, add_routes
from midimon.ui.config_api import add_config_routes
from midimon.ui.console import add_console_routes
from midimon.ui.daemon_link import DaemonLink
from midimon.ui.security import Guard

#: Largest package upload accepted (a .midimon-plugin file), in bytes.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
GUARD: web.AppKey[Guard] = web.AppKey("guard", Guard)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def static_dir() -> Path:
    """The built frontend (index.html and assets/), shipped inside the package."""
    return Path(str(resources.files("midimon.ui"))) / "static"


def _asset_table(root: Path) -> dict[str, Path]:
    """URL path -> file, for exactly the files the build produced (listed once at start): a
    name not in the table is a 404, so no path can climb out of ``root``."""
    table = {"/": root / "index.html"}
    assets = root / "assets"
    if assets.is_dir():
        for path in sorted(assets.iterdir()):
            if path.is_file() and path.suffix in _TYPES:
                table[f"/assets/{path.name}"] = path
    return table


def make_app(
    link: DaemonLink, guard: Guard, *, max_upload: int = MAX_UPLOAD_BYTES
) -> web.Application:
    """The application for one panel run."""
    app = web.Application(middlewares=[guard.middleware], client_max_size=max_upload)
    app[LINK] = link
    app[GUARD] = guard
    add_routes(app)
    add_config_routes(app)
    add_console_routes(app)
    table = _asset_table(static_dir())

    async def asset(request: web.Request) -> web.StreamResponse:
        path = table.get(request.path)
        if path is None:
            raise web.HTTPNotFound(text="not one of the panel's files\n")
        content_type = _TYPES.get(path.suffix, "text/html")
        return web.Response(body=path.read_bytes(), content_type=content_type, charset="utf-8")

    for url in table:
        app.router.add_get(url, asset)

    async def on_startup(app: web.Application) -> None:
        link.start(asyncio.get_running_loop())

    async def on_cleanup(app: web.Application) -> None:
        link.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app

