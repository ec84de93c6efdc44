"""The daemon's per-plugin control commands: info, load/unload, enable/disable, grant/revoke,
stats, and the grant requests (PLUGIN_REQUESTS, PLUGIN_DENY, PLUGIN_UNDENY).

Every state-changing command takes an optional ``source`` (default "cli"; the control panel
sends "ui") that its audit events carry.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from midimon.daemon.command_registry import RequestContext
from midimon.daemon.control_protocol import ErrorCode
from midimon.daemon.errors import CommandError
from midimon.daemon.plugin_info import plugin_info
from midimon.daemon.service import Daemon
from midimon.plugins.description.capabilities import Capability, from_name
from midimon.plugins.errors import PluginError
from midimon.plugins.manager.audit import audit_source

SOURCE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
Handler = Callable[[dict[str, Any], RequestContext], Any]


def failed(message: str) -> CommandError:
    """A COMMAND_FAILED error."""
    return CommandError(ErrorCode.COMMAND_FAILED, message)


def bad_args(message: str) -> CommandError:
    """A BAD_ARGS error."""
    return CommandError(ErrorCode.BAD_ARGS, message)


def plugin_name(args: dict[str, Any]) -> str:
    """``args.name``, required."""
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise bad_args("args.name (the plugin name) is required")
    return name


def capability(args: dict[str, Any]) -> Capability:
    """``args.capability`` as a Capability (BAD_ARGS naming the accepted ones)."""
    try:
        return from_name(str(args.get("capability", "")))
    except ValueError as exc:
        raise bad_args(f"args.capability: {exc}") from None


@contextlib.contextmanager
def sourced(args: dict[str, Any]) -> Iterator[None]:
    """Audit events recorded in the block carry ``args.source`` ("cli" when absent)."""
    source = args.get("source", "cli")
    if not isinstance(source, str) or not SOURCE.fullmatch(source):
        raise bad_args(f"args.source must be a short lowercase word such as cli or ui: {source!r}")
    with audit_source(source):
        yield


def grant_paths(args: dict[str, Any], key: str) -> list[str]:
    """``args[key]``: absolute paths (``paths`` are read-write, ``read_paths`` read-only). A
    relative path is refused: the daemon's working directory is not the client's."""
    value = args.get(key) or []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise bad_args(f"args.{key} must be a list of path strings")
    relative = [p for p in value if not p.startswith(("/", "~"))]
    if relative:
        raise bad_args(
            f"args.{key}: {relative[0]} is relative; send absolute paths (the CLI resolves "
            "them against its own working directory)"
        )
    return value


def register_plugin_commands(daemon: Daemon) -> None:
    """Register PLUGIN_* (but the package ones) on ``daemon.registry``."""
    reg = daemon.registry
    manager = daemon.manager

    def call(method: str) -> Handler:
        def handler(args: dict[str, Any], ctx: RequestContext) -> Any:
            name = plugin_name(args)
            try:
                with sourced(args):
                    return _plugin_method(daemon, method, name, args)
            except (PluginError, ValueError, OSError) as exc:
                raise failed(str(exc)) from None

        return handler

    def requests(args: dict[str, Any], ctx: RequestContext) -> Any:
        include_denied = args.get("all", False)
        if not isinstance(include_denied, bool):
            raise bad_args("args.all must be true or false")
        _clear_granted(daemon)
        return daemon.requests.listing(include_denied)

    def deny(args: dict[str, Any], ctx: RequestContext) -> Any:
        name, cap = plugin_name(args), capability(args)
        try:
            with sourced(args):
                manifest = manager.get_metadata(name)
                if cap not in manifest.capabilities:
                    raise bad_args(f"{name} does not ask for {cap.value}: nothing to deny")
                sha256, _ = manager.grants.current_binary(name)
                request = daemon.requests.deny(name, cap.value, cap.risk.value, sha256)
                manager.audit.record("grant_denied", name, capability=cap.value, sha256=sha256)
        except (PluginError, OSError) as exc:
            raise failed(str(exc)) from None
        return request

    def undeny(args: dict[str, Any], ctx: RequestContext) -> Any:
        name, cap = plugin_name(args), capability(args)
        with sourced(args):
            removed = daemon.requests.undeny(name, cap.value)
            if removed:
                manager.audit.record("grant_undenied", name, capability=cap.value)
        return {"undenied": removed}

    for method in ("info", "load", "unload", "enable", "disable", "grant", "revoke", "stats"):
        reg.register(f"PLUGIN_{method.upper()}", call(method), description=f"plugin {method}")
    reg.register("PLUGIN_REQUESTS", requests, description="grant requests waiting for the user")
    reg.register("PLUGIN_DENY", deny, description="say no to a grant request, and remember it")
    reg.register("PLUGIN_UNDENY", undeny, description="forget a remembered denial")


def _plugin_method(daemon: Daemon, method: str, name: str, args: dict[str, Any]) -> Any:
    manager = daemon.manager
    if method in ("grant", "revoke"):
        cap = capability(args)
        if method == "revoke":
            return {"revoked": manager.revoke(name, cap)}
        writes, reads = grant_paths(args, "paths"), grant_paths(args, "read_paths")
        manager.grant(name, cap, writes, read_paths=reads)
        daemon.requests.granted(name, cap.value)
        return {"granted": cap.value}
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
        return plugin_info(daemon, name)
    raise bad_args(f"unknown plugin method {method}")


def _clear_granted(daemon: Daemon) -> None:
    """Clear pending requests whose capability was granted another way (``plugins grant
    --local`` while the daemon ran, or before it started)."""
    manager = daemon.manager
    for request in daemon.requests.listing():
        name, cap = request["plugin"], from_name(request["capability"])
        try:
            manifest = manager.get_metadata(name)
            sha256, signer = manager.grants.current_binary(name)
            granted, _ = manager.grants.granted_to(manifest, sha256, signer)
        except (PluginError, OSError, ValueError):
            continue  # gone or unreadable: the request stays until the user answers it
        if cap in granted:
            daemon.requests.granted(name, cap.value)
