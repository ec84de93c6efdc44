"""Grants as the manager administers them, on real plugins in real workers: auto grants, grants
bound to the binary, revoke applied at the next call, refusals that say how to grant."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import MakePlugin
from hostile import audit

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.grants import Grant
from midimon.plugins.manager.results import Outcome
from midimon.plugins.sandbox.grant_paths import FilesystemPathMissing

CTX = TriggerContext(velocity=100, number=36)


def test_ungranted_capability_is_refused_with_how_to(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """A plugin asking for Network is refused until granted; the message says how."""
    make_plugin(
        "wants_net",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    manager = make_manager()
    result = manager.execute("wants_net", {}, CTX)
    assert result.outcome is Outcome.DENIED
    assert "midimon plugins grant wants_net network" in result.message
    assert any(e["event"] == "deny" for e in audit(tmp_path, "wants_net"))
    manager.grant("wants_net", Capability.NETWORK)
    assert manager.execute("wants_net", {}, CTX).ok
    assert manager.stats("wants_net")["denials"] == 1


def test_auto_grant_low_risk_and_setting(make_plugin: MakePlugin, make_manager) -> None:
    """Midi is granted automatically by default, and not when auto_grant is emptied."""
    make_plugin(
        "midi_user",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SEND_MIDI": "1"},
        manifest={"capabilities": {"midi": True}},
    )
    assert make_manager().execute("midi_user", {}, CTX).ok
    result = make_manager(auto_grant=[]).execute("midi_user", {}, CTX)
    assert result.outcome is Outcome.DENIED


def test_grants_persist_and_follow_the_binary(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """A grant survives a new manager (restart) but not a changed binary."""
    folder = make_plugin(
        "persist",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    make_manager().grant("persist", Capability.NETWORK)
    assert make_manager().execute("persist", {}, CTX).ok  # a "restarted daemon"
    make_plugin(
        "persist",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK", "P_MARK": '"v2"'},
        manifest={"capabilities": {"network": True}},
    )
    assert (folder / "plugin.so").exists()
    result = make_manager().execute("persist", {}, CTX)
    assert result.outcome is Outcome.DENIED  # new SHA-256: grant again


def test_revoke_takes_effect_on_the_next_call(make_plugin: MakePlugin, make_manager) -> None:
    """Revoking a grant restarts the worker without it; the next call is refused."""
    make_plugin(
        "revokable",
        defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
        manifest={"capabilities": {"network": True}},
    )
    manager = make_manager()
    manager.grant("revokable", Capability.NETWORK)
    assert manager.execute("revokable", {}, CTX).ok
    assert manager.revoke("revokable", Capability.NETWORK)
    assert manager.execute("revokable", {}, CTX).outcome is Outcome.DENIED


def test_grant_of_undeclared_capability_is_an_error(make_plugin: MakePlugin, make_manager) -> None:
    """Granting something the manifest does not ask for is refused with what it declares."""
    make_plugin("modest")
    with pytest.raises(ValueError, match="does not ask for subprocess"):
        make_manager().grant("modest", Capability.SUBPROCESS)


def test_what_a_binary_would_run_with(make_plugin: MakePlugin, make_manager, tmp_path) -> None:
    """granted_to: saved grants, this run's session grants and auto grants together; a
    Filesystem grant whose every path is refused now is not applied at all."""
    make_plugin("several", defines={"P_CAPS": "MIDIMON_CAP_NETWORK|MIDIMON_CAP_MIDI|"
                                              "MIDIMON_CAP_FILESYSTEM"},
                manifest={"capabilities": {"network": True, "midi": True,
                                           "filesystem": True}})  # fmt: skip
    data = tmp_path / "data"
    data.mkdir()
    manager = make_manager()
    manifest = manager.get_metadata("several")
    sha256 = hashlib.sha256((manifest.directory / "plugin.so").read_bytes()).hexdigest()
    assert manager.grants.granted_to(manifest, sha256, None)[0] == {Capability.MIDI}
    manager.grant("several", Capability.FILESYSTEM, [data])
    granted, access = manager.grants.granted_to(manifest, sha256, None)
    assert granted == {Capability.MIDI, Capability.FILESYSTEM} and access.write_paths == (data,)
    manager.grants.session_grants["several"] = (Grant(Capability.NETWORK),)
    assert Capability.NETWORK in manager.grants.granted_to(manifest, sha256, None)[0]
    data.rmdir()
    data.symlink_to(tmp_path / "state")  # the grants file's folder: protected
    granted, access = manager.grants.granted_to(manifest, sha256, None)
    assert Capability.FILESYSTEM not in granted and access.refused


def test_paths_belong_to_filesystem_only(make_plugin: MakePlugin, make_manager) -> None:
    """Paths with another capability are an error; Filesystem without a path is refused."""
    make_plugin("pathy", defines={"P_CAPS": "MIDIMON_CAP_NETWORK|MIDIMON_CAP_FILESYSTEM"},
                manifest={"capabilities": {"network": True, "filesystem": True}})  # fmt: skip
    manager = make_manager()
    with pytest.raises(ValueError, match="paths can only be given with the filesystem"):
        manager.grant("pathy", Capability.NETWORK, ["/tmp"])
    with pytest.raises(FilesystemPathMissing):
        manager.grant("pathy", Capability.FILESYSTEM)
    assert manager.state.all_grants() == {}


def test_a_one_off_hint_adds_the_options_for_this_run(
    make_plugin: MakePlugin, make_manager, tmp_path: Path
) -> None:
    """A denial hint names the grant command, with --plugins-dir when the plugin came from
    one; for `plugins exec` it adds the --grant options for this run only."""
    make_plugin("hinted", defines={"P_CAPS": "MIDIMON_CAP_NETWORK"},
                manifest={"capabilities": {"network": True}})  # fmt: skip
    manager = make_manager()
    manifest = manager.get_metadata("hinted")
    hint = manager.grants.denial_hint(manifest, {Capability.NETWORK})
    assert "midimon plugins grant hinted network" in hint
    assert f"--plugins-dir {tmp_path / 'plugins'}" in hint and "this run only" not in hint
    manager.one_off_hints = True
    assert "; or for this run only: " in manager.grants.denial_hint(manifest, {Capability.NETWORK})
