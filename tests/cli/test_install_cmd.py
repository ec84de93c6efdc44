"""midimon pack, install and uninstall with real signed plugins; hostile packages refused."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import MakePlugin, RunMidimon, trusted_key

Build = Callable[..., Path]


@pytest.fixture
def user_plugins(midimon_env: dict[str, str]) -> Path:
    """The user plugins dir of the isolated environment."""
    return Path(midimon_env["XDG_DATA_HOME"]) / "midimon" / "plugins"


@pytest.fixture
def build(make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path) -> Build:
    """Build, sign (with a trusted key) and return a plugin folder: build(name, version, caps)."""
    key = trusted_key(run_midimon, tmp_path / "keys")

    def make(name: str = "packed", version: str = "1.0.0", caps: tuple[str, ...] = ()) -> Path:
        defines = {}
        if caps:
            defines["P_CAPS"] = "|".join(f"MIDIMON_CAP_{c.upper()}" for c in caps)
        folder = make_plugin(
            name,
            root=tmp_path / "src" / version,
            defines=defines,
            manifest={"version": version, "capabilities": {c: True for c in caps}},
        )
        (folder / "README.md").write_text("hello\n")
        (folder / "notes.txt").write_text("not packed\n")
        done = run_midimon("sign", folder, "-s", key)
        assert done.returncode == 0, done.stderr
        return folder

    return make


def pack(run_midimon: RunMidimon, folder: Path, out: Path) -> Path:
    done = run_midimon("pack", folder, "-o", out, "--json")
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["file"])


def leftovers(user_plugins: Path) -> list[str]:
    parent = user_plugins.parent
    return sorted(p.name for p in parent.iterdir()) if parent.is_dir() else []


def test_pack_install_list_exec(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path
) -> None:
    """pack -> install -> plugins list shows it in the user dir -> plugins exec works."""
    folder = build()
    done = run_midimon("pack", folder, "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    package = tmp_path / next(p.name for p in tmp_path.glob("*.midimon-plugin"))
    assert package.name.startswith("packed-1.0.0-linux-")
    assert "sha256 " in done.stdout
    with tarfile.open(package) as tar:
        names = tar.getnames()
    assert names == [
        "plugin.toml",
        "plugin.toml.minisig",
        "plugin.so",
        "plugin.so.minisig",
        "README.md",
    ]
    again = run_midimon("pack", folder, "-o", tmp_path / "again.midimon-plugin", "--json")
    assert json.loads(again.stdout)["sha256"] in done.stdout  # reproducible
    done = run_midimon("install", package, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["installed"], out["version"], out["signer"]) == ("packed", "1.0.0", "Alice")
    assert sorted(p.name for p in (user_plugins / "packed").iterdir()) == sorted(names)
    listed = json.loads(run_midimon("plugins", "list", "--json").stdout)["plugins"]
    row = next(r for r in listed if r["name"] == "packed")
    assert row["path"] == str(user_plugins / "packed") and row["status"] == "ok"
    done = run_midimon("plugins", "exec", "packed", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["trust"] == "signed"
    assert leftovers(user_plugins) == ["plugins"]


def test_pack_refuses_bad_folders(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """pack refuses an invalid manifest and a missing binary, naming the problem."""
    folder = make_plugin("nobin")
    (folder / "plugin.so").unlink()
    done = run_midimon("pack", folder)
    assert done.returncode != 0 and "missing" in done.stderr
    bad = make_plugin("badman")
    (bad / "plugin.toml").write_text("[plugin]\nname = 'Bad Name'\n")
    done = run_midimon("pack", bad)
    assert done.returncode != 0 and "plugin.name" in done.stderr


def test_pack_sign_verify_install_relative_paths(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path
) -> None:
    """`pack .` in the plugin folder, `pack src/...`, `sign .`, `verify .`, `install ./FILE`
    and `install .` all work (a relative folder once crashed pack with a ValueError)."""
    folder = build()
    names = ["plugin.toml", "plugin.toml.minisig", "plugin.so", "plugin.so.minisig", "README.md"]
    done = run_midimon("sign", ".", "-s", tmp_path / "keys" / "a.key", cwd=folder)
    assert done.returncode == 0, done.stderr
    done = run_midimon("verify", ".", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_midimon("pack", ".", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    in_folder = Path(json.loads(done.stdout)["file"])
    assert in_folder.parent == folder
    with tarfile.open(in_folder) as tar:
        assert tar.getnames() == names
    relative = folder.relative_to(tmp_path)  # run_midimon runs in tmp_path by default
    done = run_midimon("pack", relative, "--json")
    assert done.returncode == 0, done.stderr
    package = Path(json.loads(done.stdout)["file"])
    assert package.parent == tmp_path
    assert package.read_bytes() == in_folder.read_bytes()  # same package either way
    done = run_midimon("install", f"./{package.name}", "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (user_plugins / "packed").iterdir()) == sorted(names)
    done = run_midimon("install", ".", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["installed"] == "packed"
    assert leftovers(user_plugins) == ["plugins"]


def test_pack_refuses_a_symlinked_binary(make_plugin: MakePlugin, run_midimon: RunMidimon) -> None:
    """A binary that is a symlink (even inside the folder) is refused by name, from `pack .`."""
    folder = make_plugin("linked", manifest={})
    (folder / "plugin.so").rename(folder / "real.so")
    (folder / "plugin.so").symlink_to("real.so")
    done = run_midimon("pack", ".", cwd=folder)
    assert done.returncode != 0
    assert "plugin.so: is a symlink" in done.stderr and "Traceback" not in done.stderr


def test_upgrade_then_rollback_refused(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path
) -> None:
    """A newer version replaces the older; the older after it is refused and the newer stays."""
    old = pack(run_midimon, build(version="1.0.0"), tmp_path)
    new = pack(run_midimon, build(version="1.1.0"), tmp_path)
    assert run_midimon("install", old).returncode == 0
    done = run_midimon("install", new, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["replaced"] == "1.0.0"
    done = run_midimon("install", old)
    assert done.returncode != 0 and "rollback" in done.stderr.lower() + done.stdout.lower()
    assert 'version = "1.1.0"' in (user_plugins / "packed" / "plugin.toml").read_text()
    assert leftovers(user_plugins) == ["plugins"]


def test_install_from_folder(build: Build, run_midimon: RunMidimon, user_plugins: Path) -> None:
    """A plugin folder installs like a package: only the package files are copied."""
    done = run_midimon("install", build())
    assert done.returncode == 0, done.stderr
    assert not (user_plugins / "packed" / "notes.txt").exists()
    assert (user_plugins / "packed" / "plugin.so.minisig").is_file()


def _members(folder: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    result = []
    for name in ("plugin.toml", "plugin.toml.minisig", "plugin.so", "plugin.so.minisig"):
        data = (folder / name).read_bytes()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        result.append((info, data))
    return result


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _extra(kind: str) -> tuple[tarfile.TarInfo, bytes | None]:
    if kind == "traversal":
        info = tarfile.TarInfo("../x")
    elif kind == "absolute":
        info = tarfile.TarInfo("/tmp/evil")
    elif kind == "symlink":
        info = tarfile.TarInfo("README")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return info, None
    elif kind == "hardlink":
        info = tarfile.TarInfo("README")
        info.type, info.linkname = tarfile.LNKTYPE, "plugin.so"
        return info, None
    elif kind in ("fifo", "device"):
        info = tarfile.TarInfo("README")
        info.type = tarfile.FIFOTYPE if kind == "fifo" else tarfile.CHRTYPE
        return info, None
    else:
        info = tarfile.TarInfo("extra.sh")
    info.size = 3
    return info, b"bad"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("traversal", "'../x' contains '..'"),
        ("absolute", "'/tmp/evil' is an absolute path"),
        ("symlink", "'README' is a symlink"),
        ("hardlink", "'README' is a hardlink"),
        ("fifo", "'README' is a fifo"),
        ("device", "'README' is a device file"),
        ("extra", "'extra.sh' is not part of a plugin package"),
    ],
)
def test_malicious_members_refused(
    build: Build,
    run_midimon: RunMidimon,
    tmp_path: Path,
    user_plugins: Path,
    kind: str,
    message: str,
) -> None:
    """Each hostile member is refused by name and nothing is left behind."""
    package = _write(tmp_path / "evil.midimon-plugin", [*_members(build()), _extra(kind)])
    done = run_midimon("install", package)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert leftovers(user_plugins) in ([], ["plugins"])
    assert not (user_plugins / "packed").exists()
    assert not (tmp_path / "x").exists()


def test_missing_binary_tampered_and_garbage_refused(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path
) -> None:
    """Missing binary, tampered binary, truncated and garbage archives: refused, nothing left."""
    folder = build()
    members = _members(folder)
    no_binary = _write(
        tmp_path / "nobin.midimon-plugin", [m for m in members if m[0].name != "plugin.so"]
    )
    info, data = members[2]
    assert data is not None
    tampered_data = data[:-1] + bytes([data[-1] ^ 0xFF])
    tampered = _write(
        tmp_path / "tampered.midimon-plugin",
        [*members[:2], (info, tampered_data), members[3]],
    )
    good = pack(run_midimon, folder, tmp_path)
    truncated = tmp_path / "truncated.midimon-plugin"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.midimon-plugin"
    garbage.write_bytes(b"this is not a tar file at all" * 20)
    expected = {
        no_binary: "is missing",
        tampered: "modified",
        truncated: "not a readable plugin package",
        garbage: "not a readable plugin package",
    }
    for package, message in expected.items():
        for extra in ((), ("--allow-unsigned",)):
            done = run_midimon("install", package, *extra)
            assert done.returncode != 0, package
            assert message in done.stderr, (package, done.stderr)
            assert leftovers(user_plugins) in ([], ["plugins"])
            assert not (user_plugins / "packed").exists()


def test_failed_upgrade_keeps_old_version(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path
) -> None:
    """A refused newer package leaves the installed version byte for byte as it was."""
    assert (
        run_midimon("install", pack(run_midimon, build(version="1.0.0"), tmp_path)).returncode == 0
    )
    before = {p.name: p.read_bytes() for p in (user_plugins / "packed").iterdir()}
    newer = build(version="2.0.0")
    members = _members(newer)
    info, data = members[2]
    assert data is not None
    changed = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
    bad = _write(tmp_path / "bad.midimon-plugin", [*members[:2], (info, changed), members[3]])
    done = run_midimon("install", bad)
    assert done.returncode != 0
    after = {p.name: p.read_bytes() for p in (user_plugins / "packed").iterdir()}
    assert after == before
    assert leftovers(user_plugins) == ["plugins"]


def test_noninteractive_grants_only_what_is_asked(
    build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """Without a tty only --grant grants; the rest stay ungranted with a hint how to grant."""
    package = pack(run_midimon, build(caps=("network", "subprocess")), tmp_path)
    done = run_midimon("install", package, "--grant", "network")
    assert done.returncode == 0, done.stderr
    assert "not granted: subprocess" in done.stdout
    assert "grant it with: midimon plugins grant packed subprocess" in done.stdout
    assert " CAP" not in done.stdout  # a command that runs as printed, not a placeholder
    info = json.loads(run_midimon("plugins", "info", "packed", "--json").stdout)
    assert info["execution"]["granted"] == ["network"]
    done = run_midimon("install", package, "--grant", "midi")
    assert done.returncode != 0 and "does not request" in done.stderr


def test_yes_grants_nothing_high_risk(
    build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """--yes answers the questions (medium risk: network) but grants no high-risk capability:
    filesystem and subprocess stay ungranted unless named with --grant; --grant filesystem is
    refused (it needs paths) with the command that grants it."""
    caps = ("network", "filesystem", "subprocess")
    package = pack(run_midimon, build(caps=caps), tmp_path)
    done = run_midimon("install", package, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    granted = {c["name"]: c["granted"] for c in json.loads(done.stdout)["capabilities"]}
    assert granted == {"network": True, "filesystem": False, "subprocess": False}
    info = json.loads(run_midimon("plugins", "info", "packed", "--json").stdout)
    assert info["execution"]["granted"] == ["network"]
    help_text = run_midimon("install", "--help").stdout
    assert "nothing high-risk" in " ".join(help_text.split())

    done = run_midimon("install", package, "--yes", "--grant", "filesystem")
    assert done.returncode == 2
    assert "plugins grant NAME filesystem --write DIR" in done.stderr
    done = run_midimon("install", package, "--yes", "--grant", "subprocess", "--json")
    assert done.returncode == 0, done.stderr
    granted = {c["name"]: c["granted"] for c in json.loads(done.stdout)["capabilities"]}
    assert granted == {"network": True, "filesystem": False, "subprocess": True}


def test_install_never_grants_filesystem(
    build: Build, run_midimon: RunMidimon, tmp_path: Path
) -> None:
    """--yes grants the rest but never filesystem, which needs its folders named: install
    prints the command that grants it, and nothing is saved for it; --grant filesystem is
    refused with that command."""
    package = pack(run_midimon, build(caps=("network", "filesystem")), tmp_path)
    done = run_midimon("install", package, "--yes")
    assert done.returncode == 0, done.stderr
    assert (
        "not granted: filesystem; grant it with: "
        "midimon plugins grant packed filesystem --write DIR"
    ) in done.stdout
    info = json.loads(run_midimon("plugins", "info", "packed", "--json").stdout)
    assert info["execution"]["granted"] == ["network"]
    assert info["execution"]["missing"] == ["filesystem"]
    done = run_midimon("install", package, "--grant", "filesystem", "--grant", "network")
    assert done.returncode == 2
    assert "midimon plugins grant NAME filesystem --write DIR" in done.stderr


def test_uninstall(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path, midimon_env
) -> None:
    """uninstall removes the folder and its grants; bundled plugins are refused."""
    package = pack(run_midimon, build(caps=("network",)), tmp_path)
    assert run_midimon("install", package, "--yes").returncode == 0
    done = run_midimon("uninstall", "packed")
    assert done.returncode != 0 and "--yes" in done.stderr
    done = run_midimon("uninstall", "packed", "--yes")
    assert done.returncode == 0, done.stderr
    assert not (user_plugins / "packed").exists()
    assert leftovers(user_plugins) == ["plugins"]
    state = Path(midimon_env["XDG_STATE_HOME"]) / "midimon" / "plugin_state.json"
    assert "packed" not in json.loads(state.read_text())
    listed = json.loads(run_midimon("plugins", "list", "--json").stdout)["plugins"]
    assert "packed" not in {r["name"] for r in listed}
    # Both ends are in the audit log, with what was installed and what was removed.
    audit = json.loads(run_midimon("audit", "--plugin", "packed", "--json").stdout)["events"]
    events = [e["event"] for e in audit]
    assert events.index("install") < events.index("grant") < events.index("uninstall")
    installed = next(e for e in audit if e["event"] == "install")
    assert (installed["version"], installed["trust"]) == ("1.0.0", "signed")
    assert installed["path"] == str(user_plugins / "packed") and len(installed["sha256"]) == 64
    removed = next(e for e in audit if e["event"] == "uninstall")
    assert removed["state_removed"] is True
    done = run_midimon("uninstall", "file_log", "--yes")
    assert done.returncode != 0 and "bundled or system-wide" in done.stderr
    done = run_midimon("uninstall", "nothing_here", "--yes")
    assert done.returncode != 0 and "no plugin" in done.stderr


def test_unsigned_needs_allow_unsigned(
    make_plugin: MakePlugin, run_midimon: RunMidimon, tmp_path: Path, user_plugins: Path
) -> None:
    """An unsigned package is refused, and installs with --allow-unsigned."""
    folder = make_plugin("unsigned_one")
    package = pack(run_midimon, folder, tmp_path)
    done = run_midimon("install", package)
    assert done.returncode != 0 and "no signature" in done.stderr
    assert leftovers(user_plugins) in ([], ["plugins"])
    done = run_midimon("install", package, "--allow-unsigned")
    assert done.returncode == 0, done.stderr
    assert "allowed_unsigned" in done.stdout
    assert (user_plugins / "unsigned_one" / "plugin.so").is_file()


def test_terminal_prompt_grants_each_answer_yes(
    build: Build, run_midimon: RunMidimon, tmp_path: Path, midimon_env: dict[str, str]
) -> None:
    """On a terminal each medium/high risk capability is asked for; only 'y' grants."""
    import os
    import pty
    import subprocess
    import sys

    package = pack(run_midimon, build(caps=("network", "subprocess")), tmp_path)
    master, slave = pty.openpty()
    try:
        os.write(master, b"y\nn\n")
        done = subprocess.run(
            [sys.executable, "-m", "midimon", "install", str(package)],
            env=midimon_env,
            cwd=tmp_path,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stderr
    assert "Grant network" in done.stderr and "Grant subprocess" in done.stderr
    assert "not granted: subprocess" in done.stdout
    info = json.loads(run_midimon("plugins", "info", "packed", "--json").stdout)
    assert info["execution"]["granted"] == ["network"]
