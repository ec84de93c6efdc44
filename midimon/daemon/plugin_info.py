"""PLUGIN_INFO: everything the CLI's ``plugins info`` and the control panel show of a plugin.

The manifest (name, version, author, description, ABI, pinned SHA-256), the binary's actual
SHA-256, its signer key id and trust state (checked now when it is not loaded), each capability
with its risk and whether it is granted, the grants with their paths, the isolation mode with
what the kernel enforces (the worker's own report when loaded, else a preview), enabled and
why not, loaded, worker pid and RSS, crash count, and the denials and requests on record.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from midimon.daemon.service import Daemon
from midimon.plugins.description.capabilities import from_name, sorted_caps
from midimon.plugins.errors import LoadError
from midimon.plugins.integrity.pins import claimed_signer
from midimon.plugins.loading.loader import read_binary
from midimon.plugins.sandbox.sandbox_support import enforcement_preview, kernel_support


def _trust(daemon: Daemon, name: str, loaded_trust: str | None) -> dict[str, Any]:
    """The trust state: the load's verdict when loaded, else the integrity check run now (it
    reads and hashes the binary; nothing is recorded)."""
    if loaded_trust is not None:
        return {"trust": loaded_trust, "trust_problems": []}
    manager = daemon.manager
    manifest = manager.get_metadata(name)
    try:
        data, _ = read_binary(manifest)
    except LoadError as exc:
        return {"trust": "refused", "trust_problems": [str(exc)]}
    report = manager.checker.check(manifest, data, manager.settings.policy_for(name))
    return {
        "trust": report.trust if report.ok else "refused",
        "trust_problems": [f.message for f in report.failures],
    }


def plugin_info(daemon: Daemon, name: str) -> dict[str, Any]:
    """The PLUGIN_INFO answer (PluginNotFound for an unknown name)."""
    manager = daemon.manager
    manifest = manager.get_metadata(name)
    described = manager.describe(name)
    stats = manager.stats(name)
    info: dict[str, Any] = {**manifest.as_dict(), **described}
    try:
        sha256, signer = manager.grants.current_binary(name)
    except LoadError:
        sha256, signer = None, claimed_signer(manifest)
    info["sha256_actual"] = sha256
    info["signer_key_id"] = signer
    info.update(_trust(daemon, name, described["trust"]))
    granted = set(described["granted"])
    info["capability_details"] = [
        {
            "name": cap.value,
            "display_name": cap.info.display_name,
            "risk": cap.risk.value,
            "description": cap.info.description,
            "granted": cap.value in granted,
            "auto_granted": cap in manager.settings.auto_grant,
        }
        for cap in sorted_caps(manifest.capabilities)
    ]
    if not described["enforced"]:  # not running: what a worker would enforce here
        info["enforced"] = enforcement_preview(
            manager.settings.execution_for(name), frozenset(from_name(c) for c in granted)
        )
        info["enforced_by"] = "preview"
    else:
        info["enforced_by"] = "worker"
    info["kernel"] = dataclasses.asdict(kernel_support())
    info["worker_pid"] = stats.get("worker_pid")
    info["worker_rss_bytes"] = stats.get("rss_bytes")
    info["crashes"] = stats["crashes"]
    info["crashes_recent"] = stats.get("crashes_recent", 0)
    info["denied"] = daemon.requests.denied(name)
    info["requests"] = [r for r in daemon.requests.listing() if r["plugin"] == name]
    return info
