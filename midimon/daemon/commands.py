"""The daemon's control commands (IPC): status, reload, stop, config checks, plugins, audit;
the per-plugin and package ones are in plugin_commands and package_commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from midimon.daemon.command_registry import RequestContext
from midimon.daemon.control_protocol import ErrorCode
from midimon.daemon.errors import CommandError
from midimon.daemon.package_commands import register_package_commands
from midimon.daemon.plugin_check import plugin_uses
from midimon.daemon.plugin_commands import register_plugin_commands
from midimon.daemon.service import Daemon
from midimon.engine.config import ConfigError
from midimon.plugins import AuditLog, sorted_caps


def _failed(message: str) -> CommandError:
    return CommandError(ErrorCode.COMMAND_FAILED, message)


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
            config = daemon.load_checked(target)
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

    def midi_ports(args: dict[str, Any], ctx: RequestContext) -> Any:
        from midimon.daemon.midi_device import ports_by_api

        device = daemon.midi_device
        return {
            "apis": ports_by_api(device),
            "device": device.status() if device is not None else None,
            "feedback": daemon.feedback.status() if daemon.feedback is not None else None,
            "config": str(daemon.config_path),
        }

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

    def trigger_schema(args: dict[str, Any], ctx: RequestContext) -> Any:
        from midimon.engine.trigger_schema import describe_trigger_types

        return describe_trigger_types()

    def action_schema(args: dict[str, Any], ctx: RequestContext) -> Any:
        from midimon.engine.action_schema import describe_action_types
        from midimon.engine.device_templates import shipped_templates

        template = daemon.feedback.template if daemon.feedback else None
        chosen = [template] if template is not None else shipped_templates()
        names = {c for t in chosen for c in t.leds.colors}
        return describe_action_types(sorted(names))

    def set_mode(args: dict[str, Any], ctx: RequestContext) -> Any:
        mode = args.get("mode")
        if not isinstance(mode, str):
            raise CommandError(ErrorCode.BAD_ARGS, "SET_MODE needs mode (a mode name)")
        try:
            daemon.set_mode(mode)
        except KeyError as exc:
            raise _failed(str(exc.args[0]) if exc.args else f"no mode {mode!r}") from None
        return {"mode": daemon.mapper.mode}

    def set_led(args: dict[str, Any], ctx: RequestContext) -> Any:
        sender = daemon.feedback
        if sender is None or sender.template is None:
            raise _failed("LED feedback is not running (enable it with [feedback] enabled = true)")
        pad, color = args.get("pad"), args.get("color")
        if not isinstance(pad, int) or not isinstance(color, (str, int)):
            raise CommandError(ErrorCode.BAD_ARGS, "SET_LED needs pad (int) and color")
        try:
            sender.set_pad(pad, color)
        except ValueError as exc:
            raise _failed(str(exc)) from None
        return {"pad": pad, "color": color}

    reg.register("STATUS", status, description="what the daemon is doing")
    reg.register("SET_LED", set_led, description="light a pad until the next LED frame")
    reg.register("TRIGGER_SCHEMA", trigger_schema, description="each trigger type's fields")
    reg.register(
        "ACTION_SCHEMA", action_schema, description="each action, condition and mode field"
    )
    reg.register("SET_MODE", set_mode, description="switch to a mode (as a ModeChange action)")
    reg.register("RELOAD", reload, description="reload the config (the old one stays on error)")
    reg.register("STOP", stop, description="shut the daemon down cleanly")
    reg.register("VALIDATE_CONFIG", validate, description="check a config file")
    reg.register("LIST_DEVICES", devices, description="MIDI input and output ports")
    reg.register("MIDI_PORTS", midi_ports, description="each MIDI API's ports; the input's")
    reg.register("PLUGINS", plugins, description="discovered plugins and their state")
    register_plugin_commands(daemon)
    register_package_commands(daemon)
    reg.register("AUDIT", audit, description="read the audit log")
