"""The editor's save road under /api/config: read the daemon's config file with its version,
check an edited config with the daemon's own VALIDATE_CONFIG, save it (never an invalid file,
never over a file changed since the page read it, atomically, comments and layout kept), have
the daemon RELOAD, and undo the last save."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from midimon.daemon.errors import IpcError
from midimon.fsutil import atomic_write
from midimon.paths import config_dir
from midimon.plugins.settings import CONFIG_NAME
from midimon.ui.api import LINK, PLUGIN_NAME
from midimon.ui.config_file import diff, merged_text, parse, read, version
from midimon.ui.daemon_link import DaemonLink
from midimon.ui.errors import ConfigEditError

TEST_TIMEOUT_S = 30.0


@dataclass
class LastSave:
    """What undo puts back: the file's text before the last save, and the version that save
    wrote (undo refuses when the file changed after it)."""

    path: Path
    previous: str
    saved_version: str


@dataclass
class EditorState:
    """The editor's state in one panel run: one save at a time, the last save, and the texts
    the page was handed (by version, so a conflict can show what changed on disk)."""

    lock: asyncio.Lock
    last: LastSave | None = None
    served: dict[str, str] | None = None

    def remember(self, text: str, ver: str) -> None:
        served = self.served if self.served is not None else {}
        served[ver] = text
        while len(served) > 16:
            served.pop(next(iter(served)))
        self.served = served


EDITOR: web.AppKey[EditorState] = web.AppKey("editor", EditorState)


def _status(answer: dict[str, Any], status: int) -> web.Response:
    return web.json_response(answer, status=status)


async def _paths(link: DaemonLink) -> tuple[Path, Path]:
    """(the file the daemon runs, the file a save writes): the bundled default config is
    never written; its first save goes to the user's config.toml."""
    status = await link.request("STATUS")
    running = Path(status["config"])
    if status.get("config_is_default"):
        return running, config_dir() / CONFIG_NAME
    return running, running


async def _validate(link: DaemonLink, target: Path, text: str) -> dict[str, Any]:
    """VALIDATE_CONFIG on ``text`` written to a private file beside ``target`` (so relative
    paths mean what they will), removed afterwards."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.check.", suffix=".toml", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        answer: dict[str, Any] = await link.request("VALIDATE_CONFIG", {"path": tmp})
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    answer["path"] = str(target)
    answer["errors"] = [e.replace(tmp, str(target)) for e in answer.get("errors", [])]
    return answer


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


def _edited(body: dict[str, Any]) -> dict[str, Any]:
    edited = body.get("config")
    if not isinstance(edited, dict):
        raise web.HTTPBadRequest(text="send the edited config as the object 'config'")
    return edited


async def get_config(request: web.Request) -> web.Response:
    """The file the daemon runs: its text, its values, its version, and whether undo can."""
    link, state = request.app[LINK], request.app[EDITOR]
    try:
        running, target = await _paths(link)
        text, ver = await asyncio.to_thread(read, running)
        values = parse(text)
    except IpcError as exc:
        return _status({"error": exc.message}, 503)
    except (OSError, ConfigEditError) as exc:
        return _status({"error": str(exc)}, 409)
    state.remember(text, ver)
    return web.json_response(
        {"path": str(target), "running": str(running), "text": text, "version": ver,
         "config": values, "can_undo": state.last is not None}
    )  # fmt: skip


async def check_config(request: web.Request) -> web.Response:
    """The edited config checked as a whole, nothing written: the daemon's errors and
    warnings, and the text a save would write."""
    link = request.app[LINK]
    edited = _edited(await _body(request))
    try:
        running, target = await _paths(link)
        text, _ = await asyncio.to_thread(read, running)
        new_text = merged_text(text, edited)
        answer = await _validate(link, target, new_text)
    except IpcError as exc:
        return _status({"error": exc.message}, 503)
    except (OSError, ConfigEditError) as exc:
        return _status({"ok": False, "errors": [str(exc)]}, 422)
    answer["text"] = new_text
    answer["diff"] = diff(text, new_text, label_before="on disk", label_after="after saving")
    return web.json_response(answer)


async def save_config(request: web.Request) -> web.Response:
    """Save: 409 with the difference when the file changed since ``version``; 422 with the
    errors when the config is invalid (nothing written); else write atomically, RELOAD."""
    link, state = request.app[LINK], request.app[EDITOR]
    body = await _body(request)
    edited, base = _edited(body), str(body.get("version", ""))
    async with state.lock:
        try:
            running, target = await _paths(link)
            text, ver = await asyncio.to_thread(read, running)
            if ver != base:
                seen = (state.served or {}).get(base)
                return _status({
                    "error": f"{running} changed on disk since the page read it",
                    "conflict": True, "version": ver, "text": text,
                    "diff": diff(seen, text, label_before="when the page loaded",
                                 label_after="on disk now") if seen is not None else None,
                }, 409)  # fmt: skip
            new_text = merged_text(text, edited)
            check = await _validate(link, target, new_text)
            if not check.get("ok"):
                return _status({"ok": False, "errors": check.get("errors", [])}, 422)
            mode = running.stat().st_mode & 0o777 if target == running else 0o644
            await asyncio.to_thread(atomic_write, target, new_text.encode("utf-8"), mode)
        except IpcError as exc:
            return _status({"error": exc.message}, 503)
        except (OSError, ConfigEditError) as exc:
            return _status({"ok": False, "errors": [str(exc)]}, 422)
        new_version = version(new_text.encode("utf-8"))
        state.last = LastSave(target, text, new_version)
        state.remember(new_text, new_version)
        reload = await _reload(link, target)
    return web.json_response(
        {"ok": True, "path": str(target), "version": new_version, "changed": new_text != text,
         "warnings": check.get("warnings", []), "reload": reload}
    )  # fmt: skip


async def _reload(link: DaemonLink, target: Path) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = await link.change("RELOAD", {"path": str(target)})
        return answer
    except IpcError as exc:
        return {"ok": False, "errors": [exc.message]}


async def undo_save(request: web.Request) -> web.Response:
    """Put back the file as it was before the last save (refused when it changed since)."""
    link, state = request.app[LINK], request.app[EDITOR]
    async with state.lock:
        last = state.last
        if last is None:
            return _status({"error": "nothing to undo: no save in this panel run"}, 409)
        try:
            _, ver = await asyncio.to_thread(read, last.path)
            if ver != last.saved_version:
                return _status({"error": f"{last.path} changed after the last save; "
                                "undo would overwrite that", "conflict": True}, 409)  # fmt: skip
            mode = last.path.stat().st_mode & 0o777
            await asyncio.to_thread(atomic_write, last.path, last.previous.encode("utf-8"), mode)
        except (OSError, ConfigEditError) as exc:
            return _status({"error": str(exc)}, 409)
        state.last = None
        restored = version(last.previous.encode("utf-8"))
        state.remember(last.previous, restored)
        reload = await _reload(link, last.path)
    return web.json_response({"ok": True, "version": restored, "reload": reload})


async def editor_schema(request: web.Request) -> web.Response:
    """Every trigger type with its fields (the daemon's TRIGGER_SCHEMA), for the trigger
    editor's generic form."""
    try:
        return web.json_response(await request.app[LINK].request("TRIGGER_SCHEMA"))
    except IpcError as exc:
        return _status({"error": exc.message}, 503)


async def action_schema(request: web.Request) -> web.Response:
    """Every action type, condition, MIDI message and mode field (the daemon's ACTION_SCHEMA),
    for the action editor's generated forms."""
    try:
        return web.json_response(await request.app[LINK].request("ACTION_SCHEMA"))
    except IpcError as exc:
        return _status({"error": exc.message}, 503)


async def test_action(request: web.Request) -> web.Response:
    """Run a plugin's action once as `midimon plugins exec NAME --params ... --json` does (the
    saved grants, the sandboxed worker), with the page's params and note; its JSON result."""
    name = request.match_info["name"]
    if not PLUGIN_NAME.fullmatch(name):
        raise web.HTTPBadRequest(text=f"{name!r} is not a plugin name")
    body = await _body(request)
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise web.HTTPBadRequest(text="params must be a JSON object")
    command = [sys.executable, "-m", "midimon", "plugins", "exec", name, "--json",
               "--params", json.dumps(params)]  # fmt: skip
    for key in ("note", "velocity", "channel", "value"):
        if isinstance(body.get(key), int):
            command += [f"--{key}", str(body[key])]
    if isinstance(body.get("mode"), str):
        command += ["--mode", body["mode"]]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TEST_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return _status({"ok": False, "error": f"no answer within {TEST_TIMEOUT_S:g} s"}, 504)
    try:
        result: Any = json.loads(out)
    except ValueError:
        result = out.decode(errors="replace")
    return web.json_response(
        {"ok": proc.returncode == 0, "exit": proc.returncode, "result": result,
         "stderr": err.decode(errors="replace")[-4000:]}
    )  # fmt: skip


def add_config_routes(app: web.Application) -> None:
    """The editor's routes (POSTs pass the guard's Origin and key checks like every other)."""
    app[EDITOR] = EditorState(asyncio.Lock())
    app.router.add_get("/api/config", get_config)
    app.router.add_post("/api/config/check", check_config)
    app.router.add_post("/api/config/save", save_config)
    app.router.add_post("/api/config/undo", undo_save)
    app.router.add_get("/api/editor/schema", editor_schema)
    app.router.add_get("/api/editor/actions", action_schema)
    app.router.add_post("/api/editor/test/{name}", test_action)
