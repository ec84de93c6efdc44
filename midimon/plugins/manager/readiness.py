"""Readiness: will a plugin load and run when called? Judged without running any plugin code.

For each plugin name: is it found, is its folder usable (binary, ABI), is it enabled, does
the integrity check accept it (signature, allowed unsigned, signer pin, anti-rollback), does
its isolation mode accept that trust, and is every capability its manifest asks for granted.
Each problem comes with the command that fixes it (the grant hint is the manager's own, the
one a denied call prints). The daemon runs this at start-up and on reload, ``plugins list``
for its STATUS column.

The integrity report of a binary is remembered under a fingerprint of everything the check
reads (the binary's and signatures' stat, the manifest's hash, the policy, the trust store,
pins and anti-rollback records), so a reload does not hash an unchanged binary again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import sorted_caps
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import LoadError, PluginNotFound
from midimon.plugins.integrity.verify import IntegrityReport, signature_path
from midimon.plugins.loading.image import read_manifest_binary
from midimon.plugins.manager.grant_hints import params_paths
from midimon.plugins.manager.plugin_manager import PluginManager
from midimon.plugins.settings import SignaturePolicy

READY = "ok"
#: Every state a plugin can be judged in; all but READY mean a call will not run it.
STATES = (READY, "missing", "broken", "disabled", "unsigned", "refused", "not granted")

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Readiness:
    """Whether one plugin will run; if not, why (``reason``) and the command to fix it."""

    plugin: str
    state: str  # one of STATES
    reason: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        """Whether a call would load and run the plugin."""
        return self.state == READY

    @property
    def status(self) -> str:
        """For a STATUS column: ``ok``, or the state and that the plugin will not run."""
        return READY if self.ok else f"{self.state}: will not run"

    def line(self) -> str:
        """``NAME: reason; fix: command`` (one line, for logs and warnings)."""
        text = f"{self.plugin}: {self.reason}"
        return f"{text}; fix: {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, str]:
        """JSON-friendly form."""
        return {"plugin": self.plugin, "state": self.state, "reason": self.reason, "fix": self.fix}


def _stat_key(path: Path) -> tuple[int, ...] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    # ctime too: a same-size rewrite with its mtime set back still changes the ctime
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class ReadinessChecker:
    """Judges plugins through one PluginManager (its search path, settings, grants, trust)."""

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self._reports: dict[str, tuple[tuple[Any, ...], IntegrityReport]] = {}
        self._grant_checks: dict[str, tuple[tuple[Any, ...], Readiness]] = {}

    def check_all(self, uses: Mapping[str, Sequence[Params]]) -> list[Readiness]:
        """Judge each plugin in ``uses`` (name -> the params of its actions) once, in order."""
        return [self.check(name, params) for name, params in uses.items()]

    def check(self, name: str, params: Sequence[Params] = ()) -> Readiness:
        """Judge one plugin; ``params`` (of the actions calling it) make the grant hint name
        the paths they use."""
        manager = self.manager
        try:
            manifest = manager.get_metadata(name)
        except PluginNotFound as exc:
            return Readiness(
                name,
                "missing",
                str(exc),
                "install it (midimon plugins install FOLDER), or correct the plugin name in the "
                "config (midimon plugins list shows the plugins found)",
            )
        found = next((p for p in manager.list_available() if p.name == name), None)
        status = found.status if found is not None else READY
        if status != READY:
            return Readiness(
                name,
                "broken",
                f"{status} ({manifest.directory})",
                "build the plugin (or reinstall it), then reload",
            )
        disabled = manager.state.disabled_reason(name)
        if disabled is not None:
            return Readiness(
                name, "disabled", f"disabled: {disabled}", f"midimon plugins enable {name}"
            )
        try:
            report = self._report(manifest)
        except (LoadError, OSError) as exc:
            return Readiness(name, "broken", str(exc), "build the plugin (or reinstall it)")
        if not report.ok:
            failures = report.failures
            state = "unsigned" if failures and failures[0].code == "unsigned" else "refused"
            reason = "; ".join(f.message for f in failures) or "refused by the integrity check"
            fix = "; ".join(dict.fromkeys(f.fix for f in failures if f.fix))
            return Readiness(name, state, f"{state}: {reason}", fix or f"midimon verify {name}")
        isolation = manager.settings.execution_for(name).isolation
        if isolation == "in-process" and report.trust not in ("signed", "bundled"):
            return Readiness(
                name,
                "refused",
                f"in-process mode is only for plugins signed by a trusted key; it is "
                f"{report.trust}",
                f'set isolation = "isolated" under [plugins.overrides.{name}]',
            )
        first = params[0] if params else {}
        key = self._grants_fingerprint(manifest, report, first)
        cached = self._grant_checks.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        granted, access = manager.grants.granted_to(manifest, report.sha256, report.signer_id)
        missing = manifest.capabilities - granted
        result = Readiness(name, READY)
        if missing:
            names = ", ".join(c.value for c in sorted_caps(missing))
            not_applied = "".join(
                f"; its filesystem grant {r.path} is not applied: {r.reason}"
                for r in access.refused
            )
            why = f"needs {names}, not granted{not_applied}"
            hint = manager.grants.denial_hint(manifest, missing, first)
            result = Readiness(name, "not granted", why, hint)
        self._grant_checks[name] = (key, result)
        return result

    def _grants_fingerprint(
        self, manifest: PluginManifest, report: IntegrityReport, params: Params
    ) -> tuple[Any, ...]:
        """Everything the grant check and its hint read: the saved grants (their file and the
        paths they name), auto grants, the params' paths (a hint says mkdir or touch when
        they do not exist yet). Computing the hint resolves a dozen protected folders: a
        reload of an unchanged setup reuses it."""
        manager = self.manager
        saved = manager.state.grants(manifest.name, report.sha256, report.signer_id)
        granted_paths = [Path(p) for g in saved.values() for p in g.all_paths]
        wanted = [Path(p).expanduser() for p in params_paths(params)]
        return (
            report,
            _stat_key(manager.state.path),
            manager.settings.auto_grant,
            json.dumps(params, sort_keys=True, default=str),
            *(_stat_key(p) for p in granted_paths),
            *((_stat_key(p), _stat_key(p.parent)) for p in wanted),
        )

    def _report(self, manifest: PluginManifest) -> IntegrityReport:
        """The integrity report of the binary as it is now: remembered while nothing the check
        reads has changed, so an unchanged binary is hashed once."""
        policy = self.manager.settings.policy_for(manifest.name)
        key = self._fingerprint(manifest, policy)
        cached = self._reports.get(manifest.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        with read_manifest_binary(manifest) as image:  # read and hashed once, in parallel
            report = self.manager.checker.check(manifest, image.data, policy, image.digests)
        self._reports[manifest.name] = (key, report)
        return report

    def _fingerprint(self, manifest: PluginManifest, policy: SignaturePolicy) -> tuple[Any, ...]:
        assert manifest.binary is not None
        checker = self.manager.checker
        stores: Iterable[Path | None] = (
            checker.trust_store.directory,
            getattr(checker.pins, "path", None),
            getattr(checker.rollback, "path", None),
        )
        return (
            manifest.binary,
            _stat_key(manifest.binary),
            _stat_key(signature_path(manifest.binary)),
            manifest.manifest_sha256,
            _stat_key(signature_path(manifest.path)),
            policy,
            *(_stat_key(p) if p is not None else None for p in stores),
        )
