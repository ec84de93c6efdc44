"""The daemon's control commands (IPC): status, reload, stop, config checks, plugins, audit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from midimon.daemon.command_registry import RequestContext
from midimon.daemon.control_protocol import ErrorCode
from midimon.daemon.errors import CommandError
from midimon.daemon.plugin_check import plugin_uses
from midimon.daemon.service import Daemon
from midimon.engine.config import ConfigError, load_config
from midimon.plugins import AuditLog, PluginError, from_name, sorted_caps


def _failed(message: str) -> CommandError:
    return CommandError(ErrorCode.COMMAND_FAILED, message)


def _bad_args(message: str) -> CommandError:
    return CommandError(ErrorCode.BAD_ARGS, message)


def _name(args: dict[str, Any]) -> str:
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise _bad_args("args.name (the plugin name) is required")
    return name


def _grant_paths(args: dict[str, Any], key: str) -> list[str]:
    """``args[key]``: absolute paths (``paths`` are read-write, ``read_paths`` read-only). A
    relative path is refused: the daemon's working directory is not the client's."""
    value = args.get(key) or []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise _bad_args(f"args.{key} must be a list of path strings")
    relative = [p for p in value if not p.startswith(("/", "~"))]
    if relative:
        raise _bad_args(
            f"args.{key}: {relative[0]} is relative; send absolute paths (the CLI resolves "
            "them against its own working directory)"
        )
    return value


def register_commands(daemon: Daemon, request_stop: Callable[[], None]) -> None:
    """Register every daemon command on ``daemon.registry``."""
    reg = daemon.registry

    def status(args: dict[str, Any], ctx: RequestContext) -> Any:
        return daemon.status()

    def reload(args: dict[str, Any], ctx: RequestContext) -> Any:
        path = args.get("path")
        result = daemon.reload(Path(path) if isinstance(path, str) else None)
        if not result["ok"]:
            raise _failed(
                "config not reloaded, the running one stays:\n" + "\n".join(result["errors"])
            )
        return result

    def stop(args: dict[str, Any], ctx: RequestContext) -> Any:
        request_stop()
        return {"stopping": True}

    def validate(args: dict[str, Any], ctx: RequestContext) -> Any:
        path = args.get("path")
        target = Path(path) if isinstance(path, str) else daemon.config_path
        try:
            config = load_config(target)
        except (ConfigError, OSError) as exc:
            return {
                "ok": False,
                "path": str(target),
                "errors": [str(e) for e in getattr(exc, "errors", [exc])],
            }
        return {
            "ok": True,
            "path": str(target),
            "warnings": list(config.warnings),
            "mappings": sum(len(m.mappings) for m in config.modes) + len(config.global_mappings),
        }

    def devices(args: dict[str, Any], ctx: RequestContext) -> Any:
        from midimon.errors import MidiError
        from midimon.midi import list_ports

        try:
            return list_ports().to_dict()
        except MidiError as exc:
            raise _failed(str(exc)) from None

    def plugins(args: dict[str, Any], ctx: RequestContext) -> Any:
        manager = daemon.manager
        manager.discover()
        loaded = set(manager.list_loaded())
        uses = plugin_uses(daemon.config)  # the config's params make grant hints name paths
        rows = []
        for p in manager.list_available():
            ready = daemon.readiness.check(p.name, uses.get(p.name, ()))
            rows.append(
                {
                    "name": p.name,
                    "version": p.manifest.version,
                    "status": ready.status,
                    "problem": None if ready.ok else ready.line(),
                    "loaded": p.name in loaded,
                    "enabled": manager.is_enabled(p.name),
                    "capabilities": [c.value for c in sorted_caps(p.manifest.capabilities)],
                    "path": str(p.manifest.directory),
                }
            )
        return rows

    def plugin_call(method: str) -> Callable[[dict[str, Any], RequestContext], Any]:
        def handler(args: dict[str, Any], ctx: RequestContext) -> Any:
            name = _name(args)
            manager = daemon.manager
            try:
                if method in ("grant", "revoke"):
                    cap = from_name(str(args.get("capability", "")))
                    if method == "grant":
                        writes, reads = (
                            _grant_paths(args, "paths"),
                            _grant_paths(args, "read_paths"),
                        )
                        manager.grant(name, cap, writes, read_paths=reads)
                        return {"granted": cap.value}
                    return {"revoked": manager.revoke(name, cap)}
                if method == "load":
                    manager.load(name)
                    return {"loaded": name}
                if method == "unload":
                    return {"unloaded": manager.unload(name)}
                if method == "enable":
                    manager.enable(name)
                    return {"enabled": name}
                if method == "disable":
                    manager.disable(name)
                    return {"disabled": name}
                if method == "stats":
                    manager.get_metadata(name)
                    return manager.stats(name)
                if method == "info":
                    return {**manager.get_metadata(name).as_dict(), **manager.describe(name)}
            except (PluginError, ValueError, OSError) as exc:
                raise _failed(str(exc)) from None
            raise _bad_args(f"unknown plugin method {method}")

        return handler

    def audit(args: dict[str, Any], ctx: RequestContext) -> Any:
        log = daemon.manager.audit
        assert isinstance(log, AuditLog)
        since = args.get("since")
        return list(
            log.read(
                plugin=args.get("plugin"),
                event=args.get("event"),
                since=float(since) if isinstance(since, (int, float)) else None,
            )
        )

    reg.register("STATUS", status, description="what the daemon is doing")
    reg.register("RELOAD", reload, description="reload the config (the old one stays on error)")
    reg.register("STOP", stop, description="shut the daemon down cleanly")
    reg.register("VALIDATE_CONFIG", validate, description="check a config file")
    reg.register("LIST_DEVICES", devices, description="MIDI input and output ports")
    reg.register("PLUGINS", plugins, description="discovered plugins and their state")
    for method in ("info", "load", "unload", "enable", "disable", "grant", "revoke", "stats"):
        reg.register(
            f"PLUGIN_{method.upper()}", plugin_call(method), description=f"plugin {method}"
        )
    reg.register("AUDIT", audit, description="read the audit log")
