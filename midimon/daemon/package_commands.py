"""The daemon's package and statistics commands: PLUGIN_VERIFY_PACKAGE, PLUGIN_INSTALL,
PLUGIN_UNINSTALL (the code ``midimon verify``, ``install`` and ``uninstall`` run) and STATS.

A package arrives base64-encoded in the request; its size is checked before it is decoded, and
it is written to a private temporary folder that is removed when the command ends.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from midimon.daemon.command_registry import RequestContext
from midimon.daemon.plugin_commands import bad_args, failed, grant_paths, plugin_name, sourced
from midimon.daemon.service import Daemon
from midimon.paths import user_plugins_dir
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import PackagingError, PluginError
from midimon.plugins.integrity.packaging import PACKAGE_SUFFIX
from midimon.plugins.packages.install import install, uninstall, uninstall_target, wanted_grants
from midimon.plugins.packages.report import VerifySettings, verify_package

MAX_PACKAGE_BYTES = 64 * 1024 * 1024
PACKAGE_TIMEOUT = 60.0  # seconds: verifying loads the plugin in a worker


def _max_b64_chars(limit: int) -> int:
    return 4 * ((limit + 2) // 3)


@contextlib.contextmanager
def uploaded_package(args: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """``args.data_b64`` written to a private temporary file named after ``args.filename``
    (its last component only): (path, filename). BAD_ARGS for a package over
    MAX_PACKAGE_BYTES (checked before decoding), bad base64 or a name that is not a
    ``.midimon-plugin``."""
    data_b64, filename = args.get("data_b64"), args.get("filename")
    if not isinstance(filename, str) or not filename:
        raise bad_args("args.filename (the package's file name) is required")
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.endswith(PACKAGE_SUFFIX) or name in (PACKAGE_SUFFIX, ".", ".."):
        raise bad_args(f"args.filename: {filename!r} is not a {PACKAGE_SUFFIX} file")
    if not isinstance(data_b64, str) or not data_b64:
        raise bad_args("args.data_b64 (the package, base64-encoded) is required")
    if len(data_b64) > _max_b64_chars(MAX_PACKAGE_BYTES):
        raise bad_args(
            f"{name}: the package is over the {MAX_PACKAGE_BYTES // (1024 * 1024)} MiB limit"
        )
    try:
        data = base64.b64decode(data_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_args(f"args.data_b64: not valid base64 ({exc})") from None
    with tempfile.TemporaryDirectory(prefix="midimon-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        yield path, name


def _install_args(args: dict[str, Any]) -> tuple[set[Capability], list[str], list[str]]:
    """(capabilities to grant at install, Filesystem write paths, read paths)."""
    names = args.get("grant") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_args("args.grant must be a list of capability names")
    writes, reads = grant_paths(args, "paths"), grant_paths(args, "read_paths")
    wants_fs = any(n.strip().lower() == "filesystem" for n in names)
    if (writes or reads) and not wants_fs:
        raise bad_args("args.paths / read_paths are for a filesystem grant: add it to args.grant")
    if wants_fs and (writes or reads):  # granted after the install, as `plugins grant` would
        names = [n for n in names if n.strip().lower() != "filesystem"]
    try:
        return wanted_grants(names, option="grant"), writes, reads
    except PackagingError as exc:
        raise bad_args(str(exc)) from None


def register_package_commands(daemon: Daemon) -> None:
    """Register PLUGIN_VERIFY_PACKAGE, PLUGIN_INSTALL, PLUGIN_UNINSTALL and STATS."""
    reg = daemon.registry
    manager = daemon.manager

    def verify(args: dict[str, Any], ctx: RequestContext) -> Any:
        with sourced(args), uploaded_package(args) as (path, name):
            source = str(args.get("source", "cli"))  # checked by sourced()
            settings = VerifySettings(manager.settings, manager.settings, source)
            return verify_package(path, settings, name)

    def install_package(args: dict[str, Any], ctx: RequestContext) -> Any:
        wanted, writes, reads = _install_args(args)
        with sourced(args), uploaded_package(args) as (path, name):
            try:
                done = install(
                    path, plugins_dir=user_plugins_dir(), state_dir=manager.state.path.parent,
                    settings=manager.settings, wanted=wanted, checker=manager.checker,
                    store=manager.state, audit=manager.audit,
                )  # fmt: skip
            except PackagingError as exc:
                raise failed(f"{name} not installed: {exc}") from None
            plugin = done.manifest.name
            manager.unload(plugin)  # a replaced version must not keep running
            manager.discover()
            result = done.as_dict()
            if writes or reads:
                try:
                    manager.grant(plugin, Capability.FILESYSTEM, writes, read_paths=reads)
                except (PluginError, ValueError, OSError) as exc:
                    result["filesystem_error"] = str(exc)
                else:
                    result["granted"].append(Capability.FILESYSTEM.value)
                    result["not_granted"].remove(Capability.FILESYSTEM.value)
            for cap in result["granted"]:
                daemon.requests.granted(plugin, cap)
            return result

    def uninstall_plugin(args: dict[str, Any], ctx: RequestContext) -> Any:
        name = plugin_name(args)
        with sourced(args):
            try:
                target = uninstall_target(name, user_plugins_dir(), list(manager.search_dirs))
                manager.unload(name)
                done = uninstall(name, target, manager.state.path.parent)
            except (PackagingError, OSError) as exc:
                raise failed(str(exc)) from None
            daemon.requests.forget(name)
            manager.discover()
            return done.as_dict()

    def stats(args: dict[str, Any], ctx: RequestContext) -> Any:
        return daemon.stats.snapshot()

    reg.register(
        "PLUGIN_VERIFY_PACKAGE", verify, timeout=PACKAGE_TIMEOUT,
        description="verify a .midimon-plugin package (installs nothing)",
    )  # fmt: skip
    reg.register(
        "PLUGIN_INSTALL", install_package, timeout=PACKAGE_TIMEOUT,
        description="verify and install a .midimon-plugin package",
    )  # fmt: skip
    reg.register(
        "PLUGIN_UNINSTALL", uninstall_plugin, timeout=PACKAGE_TIMEOUT,
        description="remove a plugin from the user plugins dir, with its grants",
    )  # fmt: skip
    reg.register("STATS", stats, description="daemon and per-plugin statistics")
