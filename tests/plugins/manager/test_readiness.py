"""Readiness: a plugin judged without running it, and a changed binary never judged from the
remembered report."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from helpers import MakePlugin

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.manager.readiness import ReadinessChecker


def test_a_rewritten_binary_is_judged_again(make_plugin: MakePlugin, make_manager) -> None:
    """An unsigned plugin allowed by its SHA-256 is ready; the same file rewritten with other
    bytes of the same size and its old mtime put back is refused, not taken from the cache."""
    folder = make_plugin("allowed_probe")
    binary = folder / "plugin.so"
    sha = hashlib.sha256(binary.read_bytes()).hexdigest()
    manager = make_manager(dev_mode=False, allowed_unsigned=[sha])
    checker = ReadinessChecker(manager)
    assert checker.check("allowed_probe").ok
    before = os.stat(binary)
    data = bytearray(binary.read_bytes())
    data[-1] ^= 0xFF
    with open(binary, "r+b") as f:  # in place: same inode, same size
        f.write(data)
    os.utime(binary, ns=(before.st_atime_ns, before.st_mtime_ns))
    ready = checker.check("allowed_probe")
    assert (ready.state, ready.status) == ("unsigned", "unsigned: will not run")
    assert "allowed_unsigned" in ready.fix


def test_an_unchanged_binary_is_hashed_once(make_plugin: MakePlugin, make_manager) -> None:
    """Judging an unchanged plugin again reuses its integrity report; a new trusted key (the
    trust store changed) makes it check again."""
    make_plugin("probe_ok")
    manager = make_manager()
    checks: list[str] = []
    real_check = manager.checker.check

    def counting_check(manifest, *args, **kwargs):
        checks.append(manifest.name)
        return real_check(manifest, *args, **kwargs)

    manager.checker.check = counting_check
    checker = ReadinessChecker(manager)
    for _ in range(3):
        assert checker.check("probe_ok").ok
    assert checks == ["probe_ok"]
    trusted = manager.checker.trust_store.directory
    trusted.mkdir(parents=True, exist_ok=True)
    (trusted / "placeholder.toml").write_text("")
    assert checker.check("probe_ok").ok
    assert checks == ["probe_ok", "probe_ok"]


def test_grant_verdict_follows_the_grants(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """A plugin asking for Filesystem is 'not granted' with the manager's hint naming the
    folder its params write to; once granted that folder, it is ready; revoked, not again."""
    make_plugin(
        "needs_files",
        defines={"P_CAPS": "MIDIMON_CAP_FILESYSTEM"},
        manifest={"capabilities": {"filesystem": True}},
    )
    manager = make_manager()
    checker = ReadinessChecker(manager)
    logs = tmp_path / "logs"
    params = [{"path": str(logs / "a.log")}]
    ready = checker.check("needs_files", params)
    assert ready.state == "not granted"
    assert ready.reason == "needs filesystem, not granted"
    assert ready.fix.startswith(f"mkdir -p {logs} && midimon plugins grant needs_files ")
    assert ready.fix.endswith(f"filesystem --write {logs} --plugins-dir {tmp_path / 'plugins'}")
    logs.mkdir()
    manager.grant("needs_files", Capability.FILESYSTEM, [logs])
    assert checker.check("needs_files", params).ok
    manager.revoke("needs_files", Capability.FILESYSTEM)
    assert checker.check("needs_files", params).state == "not granted"


def test_missing_and_disabled(make_plugin: MakePlugin, make_manager) -> None:
    """An unknown name is 'missing' with where it was looked for; a disabled plugin says how
    to enable it."""
    make_plugin("probe_ok")
    manager = make_manager()
    checker = ReadinessChecker(manager)
    missing = checker.check("nope")
    assert missing.state == "missing" and "no plugin named 'nope' found" in missing.reason
    manager.disable("probe_ok")
    disabled = checker.check("probe_ok")
    assert (disabled.state, disabled.fix) == ("disabled", "midimon plugins enable probe_ok")
