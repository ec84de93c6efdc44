"""PreparedCall against ``PluginManager.execute``: the same outcome, message, stats and audit
for every way a call ends (ok, plugin failure, rate limit, busy past the timeout, disabled,
capability not granted, plugin unloaded meanwhile), on two managers over real plugins."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers import MakePlugin

from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.integrity.minisign_keys import generate_keypair
from midimon.plugins.integrity.pins import PinStore
from midimon.plugins.integrity.rollback import RollbackStore
from midimon.plugins.integrity.signing import sign_plugin
from midimon.plugins.integrity.trust import TrustStore
from midimon.plugins.integrity.verify import IntegrityChecker
from midimon.plugins.loading.context import TriggerContext, TriggerKind
from midimon.plugins.loading.loader import encode_params
from midimon.plugins.manager.audit import AuditLog
from midimon.plugins.manager.grants import PluginStateStore
from midimon.plugins.manager.plugin_manager import PluginManager
from midimon.plugins.manager.prepared import PreparedCall
from midimon.plugins.settings import parse_plugin_settings

CONTEXT = TriggerContext(velocity=99, channel=2, number=40, trigger_kind=TriggerKind.NOTE,
                         mode="M", timestamp_ns=123, wall_time_ms=456)  # fmt: skip


def _manager(root: Path, plugins: Path, trusted: Path, **table: object) -> PluginManager:
    state = root / "state"
    return PluginManager(
        parse_plugin_settings({"isolation": "in-process", **table}),
        extra_dirs=[plugins],
        checker=IntegrityChecker(
            TrustStore(trusted), RollbackStore(state / "rb.json"), PinStore(state / "pins.json")
        ),
        state=PluginStateStore(state / "plugin_state.json"),
        audit=AuditLog(state / "audit.jsonl"),
    )


def _audited(manager: PluginManager) -> list[tuple[str, str]]:
    path = manager.audit.path
    lines = path.read_text().splitlines() if path.exists() else []
    return [(entry["event"], entry["plugin"]) for entry in map(json.loads, lines)]


@pytest.fixture
def plugins(tmp_path: Path, make_plugin: MakePlugin) -> tuple[Path, Path]:
    """(plugins folder, trusted-keys folder): probe_ok, fails (status 3), needs_net (asks for
    the network capability), all signed by a trusted key (in-process needs it)."""
    make_plugin("probe_ok")
    make_plugin("fails", defines={"P_STATUS": "3"})
    make_plugin("needs_net", defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
                manifest={"capabilities": {"network": True}})  # fmt: skip
    public, secret = generate_keypair()
    trusted = tmp_path / "trusted"
    TrustStore(trusted).add(public, "tests")
    for folder in (tmp_path / "plugins").iterdir():
        manifest = load_manifest(folder)
        assert manifest.binary is not None
        sign_plugin(manifest, manifest.binary.read_bytes(), secret)
    return tmp_path / "plugins", trusted


Scenario = Callable[[PluginManager, Callable[[], Any]], list[Any]]


def _both(
    tmp_path: Path, plugins: tuple[Path, Path], name: str, scenario: Scenario, **table: object
) -> None:
    """Run ``scenario(manager, call)`` with execute() on one manager and a PreparedCall on
    another: the same results (outcome, message, status), stats and audit trail."""
    seen = []
    for way in ("execute", "prepared"):
        manager = _manager(tmp_path / way, *plugins, **table)
        try:
            payload = encode_params({"k": 1})
            prepared = PreparedCall(manager, name, lambda p=payload: p)
            call = (
                partial(manager.execute, name, payload, CONTEXT)
                if way == "execute"
                else partial(prepared, CONTEXT)
            )
            results = [(r.outcome, r.message, r.status) for r in scenario(manager, call)]
            stats = manager.stats(name)
            stats.pop("latency_ms")
            stats.pop("last_execution")
            seen.append((results, stats, _audited(manager)))
        finally:
            manager.shutdown()
    assert seen[1] == seen[0]


def _repeat(times: int) -> Scenario:
    return lambda manager, call: [call() for _ in range(times)]


def test_ok_and_plugin_failures(tmp_path: Path, plugins: tuple[Path, Path]) -> None:
    _both(tmp_path, plugins, "probe_ok", _repeat(3))
    _both(tmp_path, plugins, "fails", _repeat(2))


def test_rate_limit(tmp_path: Path, plugins: tuple[Path, Path]) -> None:
    _both(tmp_path, plugins, "probe_ok", _repeat(4), rate_limit=0.001, rate_burst=2)


def test_capability_not_granted(tmp_path: Path, plugins: tuple[Path, Path]) -> None:
    _both(tmp_path, plugins, "needs_net", _repeat(2))


def test_disabled_between_calls(tmp_path: Path, plugins: tuple[Path, Path]) -> None:
    def scenario(manager: PluginManager, call: Callable[[], Any]) -> list[Any]:
        first = call()
        manager.disable("probe_ok", "tests")
        second = call()
        manager.enable("probe_ok")
        return [first, second, call()]

    _both(tmp_path, plugins, "probe_ok", scenario)


def test_unloaded_between_calls(tmp_path: Path, plugins: tuple[Path, Path]) -> None:
    def scenario(manager: PluginManager, call: Callable[[], Any]) -> list[Any]:
        first = call()
        manager.unload("probe_ok")
        return [first, call(), call()]

    _both(tmp_path, plugins, "probe_ok", scenario)


def test_busy_past_the_timeout(tmp_path: Path, plugins: tuple[Path, Path]) -> None:
    def scenario(manager: PluginManager, call: Callable[[], Any]) -> list[Any]:
        first = call()  # loads it
        loaded = manager._loaded["probe_ok"]
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with loaded.lock:
                holding.set()
                release.wait(10)

        thread = threading.Thread(target=hold)
        thread.start()
        holding.wait(10)
        try:
            busy = call()
        finally:
            release.set()
            thread.join()
        return [first, busy, call()]

    _both(tmp_path, plugins, "probe_ok", scenario, timeout=0.05)


def test_it_runs_inline_exactly_when_the_manager_says(
    tmp_path: Path, plugins: tuple[Path, Path]
) -> None:
    for table, inline in (({"inline": True}, True), ({"inline": False}, False),
                          ({"inline": True, "isolation": "isolated"}, False)):  # fmt: skip
        manager = _manager(tmp_path / f"m{len(table)}{inline}", *plugins, **table)
        try:
            prepared = PreparedCall(manager, "probe_ok", lambda: encode_params({}))
            assert not prepared.runs_inline() and prepared.inline_loaded() is None  # not loaded
            assert prepared(CONTEXT).ok
            assert prepared.runs_inline() is manager.runs_inline("probe_ok") is inline
            assert (prepared.inline_loaded() is not None) is inline
            manager.unload("probe_ok")
            assert not prepared.runs_inline()
        finally:
            manager.shutdown()
