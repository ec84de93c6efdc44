"""The panel's JSON API: each route one control command (or a few), state changes marked
``source: "ui"``; daemon errors become JSON answers carrying the daemon's own message."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

from aiohttp import web

from midimon.daemon.control_protocol import ErrorCode
from midimon.daemon.errors import IpcError
from midimon.paths import user_plugins_dir
from midimon.ui.daemon_link import DaemonLink
from midimon.ui.sse import event_stream

LINK: web.AppKey[DaemonLink] = web.AppKey("link", DaemonLink)
PLUGIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SIMPLE_ACTIONS = {
    "enable": "PLUGIN_ENABLE",
    "disable": "PLUGIN_DISABLE",
    "load": "PLUGIN_LOAD",
    "unload": "PLUGIN_UNLOAD",
    "uninstall": "PLUGIN_UNINSTALL",
}
CAPABILITY_ACTIONS = {
    "grant": "PLUGIN_GRANT",
    "revoke": "PLUGIN_REVOKE",
    "deny": "PLUGIN_DENY",
    "undeny": "PLUGIN_UNDENY",
}
_STATUS = {
    ErrorCode.BAD_ARGS: 400,
    ErrorCode.UNKNOWN_COMMAND: 501,
    ErrorCode.COMMAND_FAILED: 409,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.NOT_RUNNING: 503,
    ErrorCode.CONNECTION_LOST: 503,
    ErrorCode.TIMEOUT: 504,
}


def _error(exc: IpcError) -> web.Response:
    """The daemon's refusal as JSON (its message is what the page shows)."""
    try:
        status = _STATUS.get(ErrorCode(exc.code), 502)
    except ValueError:
        status = 502
    return web.json_response({"error": exc.message, "code": exc.name}, status=status)


def _link(request: web.Request) -> DaemonLink:
    return request.app[LINK]


def _plugin(request: web.Request) -> str:
    name = request.match_info["name"]
    if not PLUGIN_NAME.fullmatch(name):
        raise web.HTTPBadRequest(text=f"{name!r} is not a plugin name")
    return name


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


async def session(request: web.Request) -> web.Response:
    """Whether the daemon answers, and where user plugins live (the session's key is not
    handed out here: a request needs it already)."""
    link = _link(request)
    try:
        ping = await link.request("PING")
    except IpcError as exc:
        ping = {"error": exc.message}
    return web.json_response(
        {
            "daemon": ping,
            "user_plugins_dir": str(user_plugins_dir()),
        }
    )


async def capabilities(request: web.Request) -> web.Response:
    """The capability table (name, display name, risk, description): one source, Python's."""
    from midimon.plugins.description.capabilities import CAPABILITY_TABLE

    return web.json_response(
        [
            {"name": cap.value, "display": info.display_name, "risk": info.risk.value,
             "description": info.description}
            for cap, info in CAPABILITY_TABLE.items()
        ]
    )  # fmt: skip


async def plugins(request: web.Request) -> web.Response:
    """Every discovered plugin: PLUGINS' row with PLUGIN_INFO (signer, trust, capability
    risks, grants, enforcement, worker) and PLUGIN_STATS merged in; ``?brief=1``: the rows
    alone (the page paints them first: PLUGIN_INFO checks each binary's signature)."""
    link = _link(request)
    try:
        rows = await link.request("PLUGINS")
        if request.query.get("brief"):
            return web.json_response(rows)

        async def detail(row: dict[str, Any]) -> dict[str, Any]:
            merged = dict(row)
            for command, key in (("PLUGIN_INFO", "info"), ("PLUGIN_STATS", "stats")):
                try:
                    merged[key] = await link.request(command, {"name": row["name"]})
                except IpcError as exc:
                    merged[key] = {"error": exc.message}
            return merged

        full = await asyncio.gather(*(detail(r) for r in rows))
    except IpcError as exc:
        return _error(exc)
    return web.json_response(full)


async def plugin_action(request: web.Request) -> web.Response:
    """POST /api/plugins/NAME/ACTION: enable, disable, load, unload, uninstall; grant, revoke,
    deny and undeny take ``{"capability": ...}`` (grant also ``paths``, ``read_paths``)."""
    name, action = _plugin(request), request.match_info["action"]
    args: dict[str, Any] = {"name": name}
    if action in SIMPLE_ACTIONS:
        command = SIMPLE_ACTIONS[action]
    elif action in CAPABILITY_ACTIONS:
        command = CAPABILITY_ACTIONS[action]
        body = await _json_body(request)
        args["capability"] = str(body.get("capability", ""))
        if action == "grant":
            for key in ("paths", "read_paths"):
                if body.get(key):
                    args[key] = body[key]
    else:
        raise web.HTTPNotFound(text=f"no plugin action {action!r}")
    try:
        return web.json_response(await _link(request).change(command, args))
    except IpcError as exc:
        return _error(exc)


async def requests(request: web.Request) -> web.Response:
    """Pending grant requests (``?all=1``: denied and answered ones too)."""
    args = {"all": True} if request.query.get("all") else {}
    try:
        return web.json_response(await _link(request).request("PLUGIN_REQUESTS", args))
    except IpcError as exc:
        return _error(exc)


async def _package(request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """The uploaded package (multipart field ``file``) as protocol args, and the other fields
    (``options``: a JSON object)."""
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise web.HTTPBadRequest(text="send the package as the multipart field 'file'")
    data = upload.file.read()
    options: dict[str, Any] = {}
    raw = form.get("options")
    if isinstance(raw, str) and raw:
        try:
            options = json.loads(raw)
        except ValueError:
            raise web.HTTPBadRequest(text="options must be a JSON object") from None
        if not isinstance(options, dict):
            raise web.HTTPBadRequest(text="options must be a JSON object")
    args = {"data_b64": base64.b64encode(data).decode("ascii"), "filename": upload.filename}
    return args, options


async def verify_package(request: web.Request) -> web.Response:
    """The verification report of an uploaded ``.midimon-plugin`` (nothing installed)."""
    args, _ = await _package(request)
    try:
        return web.json_response(await _link(request).change("PLUGIN_VERIFY_PACKAGE", args))
    except IpcError as exc:
        return _error(exc)


async def install_package(request: web.Request) -> web.Response:
    """Install an uploaded package, granting ``options.grant`` (and filesystem paths)."""
    args, options = await _package(request)
    grant = options.get("grant") or []
    if not isinstance(grant, list) or not all(isinstance(c, str) for c in grant):
        raise web.HTTPBadRequest(text="options.grant must be a list of capability names")
    args["grant"] = grant
    for key in ("paths", "read_paths"):
        if options.get(key):
            args[key] = options[key]
    try:
        return web.json_response(await _link(request).change("PLUGIN_INSTALL", args))
    except IpcError as exc:
        return _error(exc)


async def stats(request: web.Request) -> web.Response:
    """STATS now, with the last five minutes of ``stats`` events the panel has seen."""
    link = _link(request)
    try:
        now = await link.request("STATS")
    except IpcError as exc:
        return _error(exc)
    return web.json_response({"now": now, "history": list(link.stats_history)})


async def audit(request: web.Request) -> web.Response:
    """The audit log's last entries (``?plugin=NAME`` for one plugin's)."""
    args: dict[str, Any] = {}
    if request.query.get("plugin"):
        args["plugin"] = request.query["plugin"]
    try:
        entries = await _link(request).request("AUDIT", args)
    except IpcError as exc:
        return _error(exc)
    return web.json_response(entries[-200:])


async def devices(request: web.Request) -> web.Response:
    """The Device page: every MIDI API's inputs and outputs as the daemon sees them (the
    configured, connected and midimon's own ports marked), and the input's state."""
    try:
        return web.json_response(await _link(request).request("MIDI_PORTS"))
    except IpcError as exc:
        return _error(exc)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every daemon event, as it happens."""
    return await event_stream(request, _link(request))


def add_routes(app: web.Application) -> None:
    """The API under /api/."""
    app.router.add_get("/api/session", session)
    app.router.add_get("/api/capabilities", capabilities)
    app.router.add_get("/api/plugins", plugins)
    app.router.add_post("/api/plugins/{name}/{action}", plugin_action)
    app.router.add_get("/api/requests", requests)
    app.router.add_post("/api/packages/verify", verify_package)
    app.router.add_post("/api/packages/install", install_package)
    app.router.add_get("/api/stats", stats)
    app.router.add_get("/api/audit", audit)
    app.router.add_get("/api/devices", devices)
    app.router.add_get("/api/events", events)
