"""Load a plugin in a child process and report what its binary says about itself.

Two ways, one result (:class:`ProbeResult`):

* :func:`probe_image` (Linux, the usual one): hand the already-verified sealed memfd to a
  ``midimon-worker`` (sandboxed, no capabilities granted), which loads exactly those bytes and
  reports the plugin struct in its handshake. No second Python, no second integrity pass.
* :func:`probe` (fallback where there is no worker): ``python -m midimon.plugins.sandbox.probe
  [--allow-unsigned] PLUGIN_TOML`` prints one JSON object and exits 0 when the binary passes
  the integrity check, loads, and passes the ABI and manifest checks, 1 when it is refused.
  The child checks the bytes it loads itself.

Either way a crashing ``_create_plugin`` cannot take the caller down.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.description.manifest import PluginManifest, load_manifest
from midimon.plugins.errors import LoadError, ManifestError, SettingsError
from midimon.plugins.settings import ExecutionSettings, load_plugin_settings


@dataclass(frozen=True)
class ProbeResult:
    """What the probe child reported."""

    ok: bool
    info: dict[str, Any] | None
    error: str | None
    message: str


class _QuietHost:
    """Host services for a probe: initialize() is never called, so nothing should arrive."""

    def log(self, plugin: str, level: int, message: str) -> None:
        """Drop it."""

    def send_midi(self, plugin: str, data: bytes) -> int:
        """Refuse: a probe has no MIDI output."""
        return 3  # MIDIMON_ERR_DENIED


def probe_image(
    manifest: PluginManifest,
    image_fd: int,
    execution: ExecutionSettings,
    sha256: str,
    timeout: float = 10.0,
) -> ProbeResult | None:
    """Load the verified sealed memfd ``image_fd`` in a sandboxed worker and check its struct.

    The worker gets no capabilities (a probe only runs constructors and ``_create_plugin``) and
    the limits of ``execution``. Returns None when no worker can be started here (not Linux,
    not built), so the caller can fall back to :func:`probe`.
    """
    from midimon.plugins.errors import WorkerCrashed, WorkerError, WorkerTimeout
    from midimon.plugins.sandbox.grant_paths import FilesystemAccess
    from midimon.plugins.sandbox.runners import sandbox_spec, start_worker
    from midimon.plugins.sandbox.worker import worker_executable

    try:
        worker_executable()
    except WorkerError:
        return None
    spec = sandbox_spec(manifest, frozenset(), FilesystemAccess(), execution)
    try:
        worker, info = start_worker(manifest, image_fd, spec, _QuietHost(), timeout)
    except LoadError as exc:
        return ProbeResult(False, None, type(exc).__name__, str(exc))
    except WorkerTimeout:
        return ProbeResult(False, None, "Timeout", f"loading the plugin took over {timeout:g} s")
    except WorkerCrashed as exc:
        if exc.denial is not None:
            message = (
                f"the plugin {exc.denial.detail} while loading, and the sandbox stopped it "
                "(a verify probe grants no capabilities); it is refused"
            )
        elif exc.signal is not None:
            name = signal.Signals(exc.signal).name if exc.signal in _SIGNALS else exc.signal
            message = f"the plugin crashed while loading ({name}); it is refused"
        else:
            message = f"the plugin could not be loaded: {exc}"
        return ProbeResult(False, None, "Crash", message)
    except WorkerError as exc:
        return ProbeResult(False, None, "ProbeFailed", str(exc))
    worker.shutdown(timeout=1.0)
    return ProbeResult(True, _info_dict(info, sha256), None, "loaded")


_SIGNALS = {int(s) for s in signal.Signals}


def _info_dict(info: Any, sha256: str) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "abi": f"{info.abi_major}.{info.abi_minor}",
        "struct_size": info.struct_size,
        "capabilities": [c.value for c in sorted_caps(info.capabilities)],
        "sha256": sha256,
    }


def probe(manifest_path: Path, allow_unsigned: bool = False, timeout: float = 10.0) -> ProbeResult:
    """Run the probe child on ``manifest_path`` and collect its verdict."""
    flags = ["--allow-unsigned"] if allow_unsigned else []
    command = [sys.executable, "-m", "midimon.plugins.sandbox.probe", *flags, str(manifest_path)]
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
            "usage: python -m midimon.plugins.sandbox.probe [--allow-unsigned] PLUGIN_TOML",
            file=sys.stderr,
        )
        return 2
    try:
        manifest = load_manifest(Path(argv[0]))
        settings = load_plugin_settings()
        if allow_unsigned:
            settings = settings.with_policy(require_signatures=False)
        from midimon.plugins.integrity.verify import IntegrityChecker, load_verified

        checker = IntegrityChecker.for_user()
        checker.rollback = None  # probing is looking, not accepting: no anti-rollback record
        plugin = load_verified(manifest, settings.policy_for(manifest.name), checker)
    except (ManifestError, LoadError, SettingsError) as exc:
        report = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    else:
        report = {"ok": True, "message": "loaded", "info": _info_dict(plugin.info, plugin.sha256)}
    sys.stdout.write("\n" + json.dumps(report) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
