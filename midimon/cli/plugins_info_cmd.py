"""``midimon plugins info NAME``: one plugin's manifest, binary, SHA-256, signer, ABI,
capabilities and what its worker enforces; the daemon's view when one runs. No plugin code runs."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from midimon.cli import daemon_link
from midimon.cli.common import (
    EXIT_OK,
    CliError,
    add_json_option,
    add_plugins_dir_option,
    find_plugin,
    make_manager,
    plugin_settings,
    print_json,
)
from midimon.cli.signer_info import signer_details, signer_lines
from midimon.cli.trust_cmd import user_trust_store
from midimon.daemon.control_protocol import EXIT_PROTOCOL
from midimon.plugins.description.capabilities import from_name, sorted_caps
from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.description.params_schema import shown
from midimon.plugins.errors import LoadError, ManifestError
from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.loading.loader import read_binary
from midimon.plugins.sandbox.sandbox_support import enforcement_preview


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``plugins info``."""
    p_info = sub.add_parser(
        "info",
        help="one plugin's manifest, binary, SHA-256, ABI and capabilities",
        description="Show one plugin in detail. No plugin code runs. With a running daemon, "
        "its grants, state and (when loaded) what its worker enforces.",
    )
    p_info.add_argument("name", help="plugin name")
    add_plugins_dir_option(p_info)
    daemon_link.add_local_option(p_info)
    add_json_option(p_info)
    p_info.set_defaults(handler=cmd_info)


def _capability_rows(manifest: PluginManifest) -> list[dict[str, str]]:
    """Each capability the manifest asks for, with its display name, risk and description."""
    return [
        {
            "name": c.value,
            "display_name": c.info.display_name,
            "risk": c.risk.value,
            "description": c.info.description,
        }
        for c in sorted_caps(manifest.capabilities)
    ]


def _info_from_daemon(args: argparse.Namespace) -> tuple[PluginManifest, dict[str, Any]]:
    """The daemon's PLUGIN_INFO reshaped like the local ``info`` (manifest read here too)."""
    data = daemon_link.request_typed("PLUGIN_INFO", dict, {"name": args.name})
    if not isinstance(data.get("manifest"), str):
        raise CliError(
            f"the daemon's PLUGIN_INFO answer has no manifest path: {data!r}", EXIT_PROTOCOL
        )
    try:
        manifest = load_manifest(data["manifest"])
    except ManifestError as exc:
        raise CliError(
            f"the daemon knows {args.name} but its manifest is unreadable here: {exc}"
        ) from None
    rows = daemon_link.request("PLUGINS")
    rows = rows if isinstance(rows, list) else []
    row = next((r for r in rows if isinstance(r, dict) and r.get("name") == args.name), {})
    info = manifest.as_dict()
    info["capabilities"] = _capability_rows(manifest)
    info["status"] = row.get("status", "?")
    info["search_dir"] = str(manifest.directory.parent)
    info["warnings"] = list(manifest.warnings)
    info["host_abi"] = abi_mod.abi_version()
    info["sha256_actual"] = _sha256_here(manifest, info)
    keys = ("isolation", "timeout_s", "rate_limit", "limits", "granted", "filesystem_paths",
            "filesystem_read_paths", "filesystem_refused", "filesystem_sensitive",
            "missing", "enabled", "disabled_reason", "loaded", "trust", "enforced")  # fmt: skip
    execution = {key: data.get(key) for key in keys}
    if not execution["enforced"]:  # not loaded: what a worker would enforce, from here
        settings = plugin_settings(args).execution_for(manifest.name)
        limits = execution["limits"] or {}
        settings = dataclasses.replace(
            settings,
            isolation=execution["isolation"] or settings.isolation,
            timeout=execution["timeout_s"] or settings.timeout,
            **{
                k: limits[k]
                for k in ("memory_mb", "max_processes", "max_open_files")
                if k in limits
            },
        )
        execution["enforced"] = enforcement_preview(
            settings, frozenset(from_name(c) for c in execution["granted"] or ())
        )
    info["execution"] = execution
    info["signing"] = signer_details(manifest, None, user_trust_store())
    # the daemon's grant requests for it (plugins requests) and the denials it remembers
    info["grant_requests"] = data.get("requests") or []
    info["denied"] = data.get("denied") or []
    info["runtime"] = {key: data.get(key) for key in ("worker_pid", "worker_rss_bytes",
                                                      "crashes", "crashes_recent")}  # fmt: skip
    return manifest, info


def _sha256_here(manifest: PluginManifest, info: dict[str, Any]) -> str | None:
    if manifest.binary is not None and manifest.binary.is_file():
        try:
            return read_binary(manifest)[1]
        except LoadError as exc:
            info["status"] = str(exc)
    return None


def _info_local(args: argparse.Namespace) -> tuple[PluginManifest, dict[str, Any]]:
    found, result = find_plugin(args, args.name)
    manifest = found.manifest
    info = manifest.as_dict()
    info["capabilities"] = _capability_rows(manifest)
    info["status"] = found.status
    info["search_dir"] = str(found.search_dir)
    info["warnings"] = list(manifest.warnings)
    info["host_abi"] = abi_mod.abi_version()
    info["sha256_actual"] = _sha256_here(manifest, info)
    manager = make_manager(args)
    execution = manager.describe(manifest.name)
    execution["enforced"] = enforcement_preview(
        manager.settings.execution_for(manifest.name),
        frozenset(from_name(c) for c in execution["granted"]),
    )
    info["execution"] = execution
    info["signing"] = signer_details(manifest, result, user_trust_store())
    return manifest, info


def cmd_info(args: argparse.Namespace) -> int:
    """``plugins info NAME``: the daemon's grants and state when one runs, else local files."""
    if daemon_link.use_daemon(args):
        manifest, info = _info_from_daemon(args)
    else:
        manifest, info = _info_local(args)
    execution = info["execution"]
    if args.json:
        print_json(info)
        return EXIT_OK
    print(f"{manifest.name} {manifest.version} ({manifest.plugin_type} plugin)")
    if manifest.description:
        print(f"  {manifest.description}")
    print(f"  status:       {info['status']}")
    print(f"  manifest:     {manifest.path}")
    print(f"  binary:       {manifest.binary or manifest.binary_error}")
    print(f"  SHA-256:      {info['sha256_actual'] or '(binary not readable)'}")
    if manifest.sha256:
        print(f"  pinned:       {manifest.sha256}")
    for line in signer_lines(info["signing"]):
        print(line)
    print(f"  ABI:          {manifest.abi_text} (host speaks {info['host_abi']})")
    for key in ("author", "homepage", "license"):
        if info[key]:
            print(f"  {key + ':':<13} {info[key]}")
    caps = info["capabilities"]
    print("  capabilities:" + ("" if caps else " none"))
    granted = set(execution["granted"])
    for cap in caps:
        state = "granted" if cap["name"] in granted else "NOT granted"
        print(f"    {cap['display_name']:<15} risk {cap['risk']:<7} {state}")
        print(f"      {cap['description']}")
    if execution["missing"]:
        print(
            "    grant with: "
            + "; ".join(
                f"midimon plugins grant {manifest.name} {c}"
                + (" --write DIR" if c == "filesystem" else "")
                for c in execution["missing"]
            )
        )
    _print_filesystem(manifest.name, execution)
    _print_params(manifest)
    for request in info.get("grant_requests") or ():
        print(f"    asked for {request['capability']}: refused {request['count']} time(s) "
              f"(midimon plugins requests)")  # fmt: skip
    for denial in info.get("denied") or ():
        print(f"    denied {denial['capability']} (not asked again; midimon plugins undeny "
              f"{manifest.name} {denial['capability']})")  # fmt: skip
    state = "enabled" if execution["enabled"] else f"DISABLED ({execution['disabled_reason']})"
    print(f"  state:        {state}")
    print(
        f"  isolation:    {execution['isolation']}, timeout {execution['timeout_s']:g} s, "
        f"rate limit {execution['rate_limit']['per_second']:g}/s "
        f"(burst {execution['rate_limit']['burst']})"
    )
    if manifest.plugin_type == "trigger":
        print(
            f"  events:       feeds events in (config: Plugin triggers), at most "
            f"{execution['event_rate_limit']}/s (event_rate_limit); it runs in its own "
            "sandboxed worker while the daemon's config maps it"
        )
        if any(cap["name"] == "filesystem" for cap in caps):
            print(
                "  RISK:         a trigger plugin that reads files can read input devices, and a "
                "device it reads is a device it can log (keystrokes too). Grant only the one "
                f"device: midimon plugins grant {manifest.name} filesystem --read "
                "/dev/input/by-id/<your device>; never /dev/input"
            )
    print("  enforced here:")
    for line in execution["enforced"]:
        print(f"    - {line}")
    for warning in manifest.warnings:
        print(f"  warning: {warning}")
    return EXIT_OK


def _print_params(manifest: PluginManifest) -> None:
    """The params a mapping may pass, as [plugin.params] declares them."""
    schema = manifest.params
    if schema is None:
        print("  params:       not declared (free-form: the plugin's documentation says which)")
        return
    print("  params:" + ("" if schema.params else " none declared"))
    for spec in schema.params:
        facts = [spec.expected(), "required" if spec.required else "optional"]
        if spec.default is not None:
            facts.append(f"default {shown(spec.default)}")
        print(f"    {spec.name}: {', '.join(facts)}")
        if spec.description:
            print(f"      {spec.description}")
        if spec.example is not None:
            print(f"      e.g. {spec.name} = {shown(spec.example)}")
    if schema.additional:
        print("    (other params are accepted too)")


def _print_filesystem(name: str, execution: dict[str, Any]) -> None:
    """The Filesystem paths granted, those not applied and why, and sensitive folders."""
    for key, label in (("filesystem_paths", "read+write"), ("filesystem_read_paths", "read")):
        for path in execution.get(key) or ():
            print(f"    files {label + ':':<11} {path}")
    for refused in execution.get("filesystem_refused") or ():
        print(f"    NOT applied: filesystem {refused['path']}: {refused['reason']}")
    if execution.get("filesystem_refused"):
        print(
            f"      re-grant safely: midimon plugins revoke {name} filesystem; midimon plugins "
            f"grant {name} filesystem --write ~/midimon-files (a folder of its own)"
        )
    for line in execution.get("filesystem_sensitive") or ():
        print(f"    warning: {line}")
