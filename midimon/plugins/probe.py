"""Load a plugin in a child process and report what its binary says about itself.

``python -m midimon.plugins.probe [--allow-unsigned] PLUGIN_TOML`` prints one JSON object and
exits 0 when the binary passes the integrity check, loads, and passes the ABI and manifest
checks, 1 when it is refused. Running it in a child keeps a crashing ``_create_plugin`` from
taking the caller down; the child checks the bytes it loads itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.plugins.capabilities import sorted_caps
from midimon.plugins.errors import LoadError, ManifestError
from midimon.plugins.integrity import IntegrityChecker, load_verified
from midimon.plugins.manifest import load_manifest
from midimon.plugins.settings import SettingsError, load_plugin_settings


@dataclass(frozen=True)
class ProbeResult:
    """What the probe child reported."""

    ok: bool
    info: dict[str, Any] | None
    error: str | None
    message: str


def probe(manifest_path: Path, allow_unsigned: bool = False, timeout: float = 10.0) -> ProbeResult:
    """Run the probe child on ``manifest_path`` and collect its verdict."""
    flags = ["--allow-unsigned"] if allow_unsigned else []
    command = [sys.executable, "-m", "midimon.plugins.probe", *flags, str(manifest_path)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, None, "Timeout", f"loading the plugin took over {timeout:g} s")
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return ProbeResult(
            False, None, "Crash", f"the plugin crashed while loading ({name}); it is refused"
        )
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        detail = (done.stderr or done.stdout).strip()[-500:]
        return ProbeResult(
            False, None, "ProbeFailed", f"probe exited {done.returncode}: {detail or 'no output'}"
        )
    return ProbeResult(report["ok"], report.get("info"), report.get("error"), report["message"])


def _main(argv: list[str]) -> int:
    allow_unsigned = "--allow-unsigned" in argv
    argv = [a for a in argv if a != "--allow-unsigned"]
    if len(argv) != 1:
        print(
            "usage: python -m midimon.plugins.probe [--allow-unsigned] PLUGIN_TOML", file=sys.stderr
        )
        return 2
    try:
        manifest = load_manifest(Path(argv[0]))
        settings = load_plugin_settings()
        if allow_unsigned:
            settings = settings.with_policy(require_signatures=False)
        checker = IntegrityChecker.for_user()
        checker.rollback = None  # probing is looking, not accepting: no anti-rollback record
        plugin = load_verified(manifest, settings.policy_for(manifest.name), checker)
    except (ManifestError, LoadError, SettingsError) as exc:
        report = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    else:
        info = plugin.info
        report = {
            "ok": True,
            "message": "loaded",
            "info": {
                "name": info.name,
                "version": info.version,
                "description": info.description,
                "abi": f"{info.abi_major}.{info.abi_minor}",
                "struct_size": info.struct_size,
                "capabilities": [c.value for c in sorted_caps(info.capabilities)],
                "sha256": plugin.sha256,
            },
        }
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
