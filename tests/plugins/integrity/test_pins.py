"""A plugin name belongs to its signer: takeovers refused, re-pin on purpose, key rotation,
scoped trust, duplicate copies, nothing inherited across signers. Real keys (midimon keygen),
real signatures (midimon sign), real packages, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import MakePlugin, RunMidimon, require_tool

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.integrity.minisign_keys import PublicKey
from midimon.plugins.integrity.rollback import Accepted, RollbackRefused, RollbackStore
from midimon.plugins.manager.grants import Grant, PluginStateStore


@dataclass(frozen=True)
class Author:
    """A key pair made by midimon keygen."""

    pub: Path
    key: Path
    key_id: str


Authors = Callable[[str], Author]
Build = Callable[..., Path]


@pytest.fixture
def author(run_midimon: RunMidimon, tmp_path: Path) -> Authors:
    """author("alice") -> a fresh unencrypted key pair in tmp_path/keys."""
    keys = tmp_path / "keys"
    keys.mkdir(exist_ok=True)

    def make(name: str) -> Author:
        pub, key = keys / f"{name}.pub", keys / f"{name}.key"
        done = run_midimon("keygen", "-W", "-p", pub, "-s", key)
        assert done.returncode == 0, done.stderr
        return Author(pub, key, PublicKey.load(pub).key_id_hex)

    return make


@pytest.fixture
def build(make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path) -> Build:
    """build(name, version, signer, caps=(), root=None) -> a plugin folder signed by signer."""

    def make(
        name: str,
        version: str,
        signer: Author,
        caps: tuple[str, ...] = (),
        root: Path | None = None,
    ) -> Path:
        defines = {"P_CAPS": "|".join(f"MIDIMON_CAP_{c.upper()}" for c in caps)} if caps else {}
        folder = make_plugin(
            name,
            root=root or tmp_path / "src" / f"{signer.key_id}-{version}",
            defines=defines,
            manifest={"version": version, "capabilities": {c: True for c in caps}},
        )
        done = run_midimon("sign", folder, "-s", signer.key)
        assert done.returncode == 0, done.stderr
        return folder

    return make


def trust(run_midimon: RunMidimon, who: Author, *scope: str) -> None:
    done = run_midimon("trust", "add", who.pub, *_scope_args(scope))
    assert done.returncode == 0, done.stderr


def _scope_args(scope: tuple[str, ...]) -> list[str]:
    return ["--any"] if not scope else [arg for s in scope for arg in ("--plugins", s)]


def pack(run_midimon: RunMidimon, folder: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    done = run_midimon("pack", folder, "-o", out, "--json")
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["file"])


def verify_codes(run_midimon: RunMidimon, folder: Path) -> list[str]:
    done = run_midimon("verify", folder, "--json")
    report = json.loads(done.stdout)
    return [c["name"] for c in report["checks"] if not c["ok"]]


def audit_events(run_midimon: RunMidimon, event: str) -> list[dict]:
    done = run_midimon("audit", "--event", event, "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    return data["events"]


def test_second_author_cannot_take_over_a_bundled_name(
    author: Authors, build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """A package named file_log by another key is refused at install and verify (both key ids
    and the re-pin command shown), even with the key trusted for that very name; after
    `trust pin file_log KEYID` (audited) it installs and runs instead of the bundled copy."""
    mallory = author("mallory")
    trust(run_midimon, mallory, "file_log")
    folder = build("file_log", "9.0.0", mallory)
    package = pack(run_midimon, folder, tmp_path / "out")

    done = run_midimon("install", package, "--yes")
    assert done.returncode == 1
    assert "file_log belongs to this midimon installation (bundled)" in done.stderr
    assert f"signed by key {mallory.key_id}" in done.stderr
    assert f"midimon trust pin file_log {mallory.key_id}" in done.stderr
    assert "integrity (signer_changed)" in verify_codes(run_midimon, folder)
    listed = json.loads(run_midimon("plugins", "list", "--json").stdout)["plugins"]
    assert "bundled_plugins" in next(p["path"] for p in listed if p["name"] == "file_log")

    done = run_midimon("trust", "pin", "file_log", mallory.key_id)
    assert done.returncode == 0, done.stderr
    assert f"pinned file_log to key {mallory.key_id} (was bundled" in done.stdout
    [event] = audit_events(run_midimon, "repin")
    assert (event["old"], event["new"]) == ("bundled", mallory.key_id)
    done = run_midimon("install", package, "--yes")
    assert done.returncode == 0, done.stderr
    listed = run_midimon("plugins", "list", "--json")
    data = json.loads(listed.stdout)
    row = next(p for p in data["plugins"] if p["name"] == "file_log")
    assert row["version"] == "9.0.0"
    assert f"pinned to signed by key {mallory.key_id}" in row["copy"]
    assert any(
        p["kind"] == "duplicate"
        and "bundled_plugins" in p["message"]
        and "is not used" in p["message"]
        for p in data["problems"]
    )

    # And back: the bundled copy again, the installed one reported as not used.
    assert run_midimon("trust", "pin", "file_log", "bundled").returncode == 0
    info = json.loads(run_midimon("plugins", "info", "file_log", "--json").stdout)
    assert "bundled_plugins" in info["search_dir"]
    assert info["signing"]["pinned_to"] == "bundled"


def test_second_author_cannot_take_over_a_user_installed_name(
    author: Authors, build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """alice's `shared` is installed (its name pinned to alice on first use); mallory's
    `shared` is refused, naming both keys; after the re-pin it installs, and none of alice's
    grants carry over to mallory's binary."""
    alice, mallory = author("alice"), author("mallory")
    trust(run_midimon, alice, "shared")
    trust(run_midimon, mallory, "shared")
    first = pack(run_midimon, build("shared", "1.0.0", alice, ("network",)), tmp_path / "a")
    done = run_midimon("install", first, "--grant", "network")
    assert done.returncode == 0, done.stderr
    pins = json.loads(run_midimon("trust", "pins", "--json").stdout)["pins"]
    assert {"plugin": "shared", "signer": alice.key_id, "how": "first use"} in pins

    second = pack(run_midimon, build("shared", "2.0.0", mallory, ("network",)), tmp_path / "m")
    done = run_midimon("install", second, "--yes")
    assert done.returncode == 1
    assert f"shared belongs to key {alice.key_id} (pinned: first use)" in done.stderr
    assert f"this copy is signed by key {mallory.key_id}" in done.stderr
    assert f"midimon trust pin shared {mallory.key_id}" in done.stderr
    info = json.loads(run_midimon("plugins", "info", "shared", "--json").stdout)
    assert info["version"] == "1.0.0" and info["execution"]["granted"] == ["network"]

    assert run_midimon("trust", "pin", "shared", mallory.key_id).returncode == 0
    done = run_midimon("install", second)
    assert done.returncode == 0, done.stderr
    info = json.loads(run_midimon("plugins", "info", "shared", "--json").stdout)
    assert info["version"] == "2.0.0"
    assert info["execution"]["granted"] == []  # alice's grant is not inherited
    # alice's 1.0.0 is now the other signer: refused, not a downgrade question
    done = run_midimon("install", first)
    assert done.returncode == 1 and f"shared belongs to key {mallory.key_id}" in done.stderr
    assert f"midimon trust pin shared {alice.key_id}" in done.stderr


def test_pin_refuses_untrusted_or_out_of_scope_keys(
    author: Authors, run_midimon: RunMidimon
) -> None:
    """`trust pin` hands a name only to a trusted key whose scope covers it."""
    bob = author("bob")
    done = run_midimon("trust", "pin", "file_log", bob.key_id)
    assert done.returncode == 2 and "is not trusted" in done.stderr
    trust(run_midimon, bob, "bob_*")
    done = run_midimon("trust", "pin", "file_log", bob.key_id)
    assert done.returncode == 2 and "may only sign bob_*" in done.stderr
    done = run_midimon("trust", "pin", "nothing_bundled", "bundled")
    assert done.returncode == 2 and "not a plugin bundled" in done.stderr
    assert audit_events(run_midimon, "repin") == []


def test_key_rotation_with_and_without_the_old_keys_statement(
    author: Authors, build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """A release signed by the author's new key is refused until the old key's rotation
    statement comes with it; then it installs without re-pinning and the pin moves on. A
    tampered statement, or one for other plugin names, is refused."""
    old, new = author("old"), author("new")
    trust(run_midimon, old, "rot")
    trust(run_midimon, new, "rot")
    done = run_midimon("install", pack(run_midimon, build("rot", "1.0.0", old), tmp_path / "1"))
    assert done.returncode == 0, done.stderr

    folder = build("rot", "2.0.0", new)
    assert "integrity (signer_changed)" in verify_codes(run_midimon, folder)
    done = run_midimon("install", pack(run_midimon, folder, tmp_path / "2"))
    assert done.returncode == 1 and f"midimon trust pin rot {new.key_id}" in done.stderr

    # A statement for other names does not move this one.
    done = run_midimon(
        "trust", "rotate", folder, "--old-key", old.key, "--new-key", new.pub, "--plugins", "x_*"
    )
    assert done.returncode == 0, done.stderr
    assert "integrity (signer_changed)" in verify_codes(run_midimon, folder)
    # Widening that statement's plugins line by hand breaks its signature: refused, not ignored.
    statement = folder / f"rotate-{old.key_id}-{new.key_id}.txt"
    statement.write_text(statement.read_text().replace("plugins: x_*", "plugins: rot"))
    done = run_midimon("verify", folder)
    assert done.returncode == 1 and "integrity (rotation)" in done.stdout
    assert f"not signed by the old key {old.key_id}" in done.stdout

    done = run_midimon(
        "trust", "rotate", folder, "--old-key", old.key, "--new-key", new.pub, "--plugins", "rot"
    )
    assert done.returncode == 0, done.stderr
    assert statement.is_file() and Path(f"{statement}.minisig").is_file()
    assert verify_codes(run_midimon, folder) == []
    package = pack(run_midimon, folder, tmp_path / "3")
    done = run_midimon("install", package)
    assert done.returncode == 0, done.stderr
    pins = json.loads(run_midimon("trust", "pins", "--json").stdout)["pins"]
    assert {"plugin": "rot", "signer": new.key_id, "how": "rotation"} in pins
    assert audit_events(run_midimon, "repin") == []  # no re-pin was needed


def test_rotation_statement_verifies_with_minisign(
    author: Authors, build: Build, run_midimon: RunMidimon
) -> None:
    """The statement is a plain minisign signature by the old key: minisign -V accepts it."""
    minisign = require_tool("minisign")
    old, new = author("old"), author("new")
    folder = build("rot", "1.0.0", new)
    done = run_midimon(
        "trust", "rotate", folder, "--old-key", old.key, "--new-key", new.pub, "--plugins", "rot"
    )
    assert done.returncode == 0, done.stderr
    statement = folder / f"rotate-{old.key_id}-{new.key_id}.txt"

    checked = subprocess.run(
        [minisign, "-Vm", statement, "-p", old.pub], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert f"old:{old.key_id}" in checked.stdout and f"new:{new.key_id}" in checked.stdout


def test_scoped_key_signing_outside_its_scope_is_refused(
    author: Authors, build: Build, run_midimon: RunMidimon, midimon_env: dict[str, str]
) -> None:
    """trust add needs --plugins or --any (no terminal: an error that says so); a key scoped to
    mal_* cannot sign `other`; --any warns, and trust list points such keys out."""
    mallory = author("mallory")
    done = run_midimon("trust", "add", mallory.pub)
    assert done.returncode == 2
    assert "--plugins NAME_OR_GLOB" in done.stderr and "--any" in done.stderr
    trust(run_midimon, mallory, "mal_*")
    assert "integrity (out_of_scope)" in verify_codes(run_midimon, build("other", "1.0.0", mallory))
    assert verify_codes(run_midimon, build("mal_tool", "1.0.0", mallory)) == []

    done = run_midimon("trust", "add", mallory.pub, "--any")
    assert done.returncode == 0 and "may sign a plugin of any name" in done.stderr
    listed = run_midimon("trust", "list")
    assert f"note: {mallory.key_id} may sign any plugin name" in listed.stdout
    keys = json.loads(run_midimon("trust", "list", "--json").stdout)["keys"]
    assert keys[0]["any_plugin"] is True


@pytest.mark.parametrize("order", ["alice_first", "mallory_first"])
def test_two_folders_with_one_name_in_every_search_order(
    order: str, author: Authors, build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """Two --plugins-dir folders both hold `dup`: not pinned, the first in the search path is
    taken; once pinned, the pinned signer's copy runs whatever the order, and list, info and
    exec agree and say why. A copy in a user folder never displaces a bundled name."""
    alice, mallory = author("alice"), author("mallory")
    trust(run_midimon, alice, "*")
    trust(run_midimon, mallory, "*")
    dirs = {"alice": tmp_path / "dir_a", "mallory": tmp_path / "dir_m"}
    build("dup", "1.0.0", alice, root=dirs["alice"])
    build("dup", "2.0.0", mallory, root=dirs["mallory"])
    build("file_log", "9.0.0", mallory, root=dirs["mallory"])
    first, second = ("alice", "mallory") if order == "alice_first" else ("mallory", "alice")
    where = ["--plugins-dir", str(dirs[first]), "--plugins-dir", str(dirs[second])]
    expected_version = {"alice": "1.0.0", "mallory": "2.0.0"}

    def running() -> tuple[str, dict]:
        done = run_midimon("plugins", "list", "--json", *where)
        data = json.loads(done.stdout)
        row = next(p for p in data["plugins"] if p["name"] == "dup")
        file_log = next(p for p in data["plugins"] if p["name"] == "file_log")
        assert "bundled_plugins" in file_log["path"]  # the installation's, in every order
        return row["version"], row

    version, row = running()
    assert version == expected_version[first]
    assert "not pinned yet: the first in the search path" in row["copy"]
    for owner in ("alice", "mallory"):
        key_id = alice.key_id if owner == "alice" else mallory.key_id
        assert run_midimon("trust", "pin", "dup", key_id).returncode == 0
        version, row = running()
        assert version == expected_version[owner], (order, owner)
        assert f"pinned to signed by key {key_id}" in row["copy"]
        text = run_midimon("plugins", "list", *where)
        assert "is not used" in text.stderr and "runs because dup is pinned" in text.stderr
        info = run_midimon("plugins", "info", "dup", *where)
        assert f"name pin:     key {key_id} (re-pinned)" in info.stdout
        assert "not used:" in info.stdout
        done = run_midimon("plugins", "exec", "dup", "--json", *where)
        assert done.returncode == 0, done.stderr


def test_grants_and_rollback_records_belong_to_one_signer(tmp_path: Path) -> None:
    """The state store's grants and the anti-rollback records are per signer; entries written
    before signers were recorded keep working."""
    store = PluginStateStore(tmp_path / "state.json")
    store.grant("p", "aa", Grant(Capability.NETWORK), "KEY1")
    assert set(store.grants("p", "aa", "KEY1")) == {Capability.NETWORK}
    assert store.grants("p", "aa", "KEY2") == {}
    assert store.grants("p", "aa", None) == {}
    store.grant("p", "aa", Grant(Capability.MIDI), "KEY2")  # another signer: starts afresh
    assert set(store.grants("p", "aa", "KEY2")) == {Capability.MIDI}
    legacy = json.loads((tmp_path / "state.json").read_text())
    del legacy["p"]["signer"]
    (tmp_path / "state.json").write_text(json.dumps(legacy))
    os.utime(tmp_path / "state.json", ns=(1, 1))
    assert set(PluginStateStore(tmp_path / "state.json").grants("p", "aa", "ANY")) == {
        Capability.MIDI
    }

    rollback = RollbackStore(tmp_path / "rb.json")
    rollback.record("p", Accepted("2.0.0", 100, "KEY1"))
    with pytest.raises(RollbackRefused):
        rollback.check("p", Accepted("1.0.0", 200, "KEY1"))
    rollback.check("p", Accepted("1.0.0", 200, "KEY2"))  # another signer's record: not binding
    rollback.record("p", Accepted("1.0.0", 200, "KEY2"))
    assert rollback.newest("p") == Accepted("1.0.0", 200, "KEY2")
    with pytest.raises(RollbackRefused):  # an unsigned copy has no signer: the record binds it
        rollback.check("p", Accepted("0.9.0", 300, None))


def test_trust_add_asks_for_the_names_on_a_terminal(
    author: Authors, build: Build, run_midimon: RunMidimon, tmp_path: Path,
    midimon_env: dict[str, str],
) -> None:  # fmt: skip
    """On a terminal `trust add` without --plugins asks which names the key may sign; plugins
    info shows the signer, the name's pin, and points out a key trusted for any name."""
    import pty
    import sys

    carol = author("carol")
    master, slave = pty.openpty()
    try:
        os.write(master, b"carol_*, c2\n")
        done = subprocess.run(
            [sys.executable, "-m", "midimon", "trust", "add", str(carol.pub)],
            env=midimon_env, cwd=tmp_path, stdin=slave, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    finally:
        os.close(master)
        os.close(slave)
    assert done.returncode == 0, done.stderr
    assert "Which plugin names may key" in done.stderr
    assert f"trusted key {carol.key_id} for carol_*, c2" in done.stdout

    folder = build("carol_pad", "1.0.0", carol)
    where = ("--plugins-dir", str(folder.parent))
    info = run_midimon("plugins", "info", "carol_pad", *where)
    assert f"signer:       key {carol.key_id}" in info.stdout
    assert "name pin:     none yet" in info.stdout
    assert "ANY plugin name" not in info.stdout
    assert run_midimon("trust", "add", carol.pub, "--any").returncode == 0
    info = run_midimon("plugins", "info", "carol_pad", *where)
    assert f"note: key {carol.key_id} is trusted for ANY plugin name" in info.stdout
    assert run_midimon("plugins", "exec", "carol_pad", *where).returncode == 0
    info = run_midimon("plugins", "info", "carol_pad", *where, "--json")
    assert json.loads(info.stdout)["signing"]["pinned_to"] == carol.key_id  # pinned on load
