"""A Filesystem grant never reaches / or midimon's own state: every path form is refused (API,
`plugins grant`, `plugins exec --grant-write`) and audited, a hostile plugin holding a good grant
cannot touch the grants, the trust store, the anti-rollback records, the audit log or secret
keys, a symlink swapped in after the grant is caught when the worker starts, and an old grant
of / is not applied. Real worker, real Landlock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.loading.context import TriggerContext
from midimon.plugins.manager.results import Outcome
from midimon.plugins.sandbox.grant_paths import FilesystemPathMissing, UnsafeGrantPath

CTX = TriggerContext(velocity=100, number=36)

# Reads or writes the file its params name: {"read": "/p"} or {"write": "/p"}.
PROBE_SOURCE = r"""
#include "midimon_plugin.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int value(const char *params, size_t len, const char *key, char *out, size_t cap) {
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = strstr(params, pattern);
    if (!start || start >= params + len) return 0;
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (!end || (size_t)(end - start) >= cap) return 0;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = 0;
    return 1;
}

static int32_t p_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self; (void)host;
    return MIDIMON_OK;
}

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self; (void)ctx;
    char path[4096];
    int fd;
    if (value(params, len, "write", path, sizeof path)) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) { (void)!write(fd, "pwned\n", 6); close(fd); }
    } else if (value(params, len, "read", path, sizeof path)) {
        fd = open(path, O_RDONLY);
        if (fd >= 0) close(fd);
    } else {
        snprintf(msg, cap, "no read or write param");
        return MIDIMON_ERR_INVALID_PARAMS;
    }
    if (fd < 0) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return MIDIMON_ERR_FAILED;
    }
    snprintf(msg, cap, "done %s", path);
    return MIDIMON_OK;
}

static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, sizeof(midimon_plugin_t), MIDIMON_CAP_FILESYSTEM,
    "fs_probe", "1.0.0", "tries to reach midimon's state", NULL,
    p_init, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


@pytest.fixture
def env(midimon_env: dict[str, str], isolated_dirs, monkeypatch: pytest.MonkeyPatch):
    """This process and the CLI share the test's XDG dirs and HOME."""
    monkeypatch.setenv("HOME", midimon_env["HOME"])
    return midimon_env


@pytest.fixture
def probe(make_plugin: MakePlugin, env) -> Path:
    """The hostile plugin's folder (declares filesystem)."""
    return make_plugin(
        "fs_probe", source=PROBE_SOURCE, manifest={"capabilities": {"filesystem": True}}
    )


@pytest.fixture
def manager(probe: Path):
    """A manager over the user's own (test) state: grants, audit, trust store, rollback."""
    from midimon.plugins.manager.plugin_manager import PluginManager
    from midimon.plugins.settings import parse_plugin_settings

    made = PluginManager(parse_plugin_settings({"dev_mode": True}), extra_dirs=[probe.parent])
    yield made
    made.shutdown()


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A folder of its own: what a user should grant."""
    folder = tmp_path / "midimon-files"
    folder.mkdir()
    return folder


def midimon_dirs() -> dict[str, Path]:
    """midimon's own folders in this test's environment."""
    from midimon import paths
    from midimon.plugins.sandbox.grant_paths import _cache_dir

    return {
        "config": paths.config_dir(),
        "data": paths.data_dir(),
        "state": paths.state_dir(),
        "cache": _cache_dir(),
        "runtime": paths.runtime_dir(),
        "trusted_keys": paths.config_dir() / "trusted_keys",
        "signing": paths.config_dir() / "signing",
    }


def path_forms(tmp_path: Path, probe: Path) -> dict[str, str]:
    """Every form of a path reaching midimon's state a user (or a script) could type, made to
    exist. Relative forms are relative to ``tmp_path / "cwd"``, the CLI's working directory."""
    dirs = midimon_dirs()
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    link = tmp_path / "innocent-looking"
    if not link.is_symlink():
        link.symlink_to(dirs["state"])
    home = Path.home()
    (home / ".minisign").mkdir(exist_ok=True)
    state_file = dirs["state"] / "plugin_state.json"
    if not state_file.exists():
        state_file.write_text("{}\n")
    forms = {"/": "/", "~": "~", "~/": "~/", "~/.minisign": "~/.minisign"}
    forms.update({f"xdg {name}": str(path) for name, path in dirs.items()})
    forms.update(
        {
            "parent of the XDG dirs": str(dirs["state"].parent.parent),
            "XDG_STATE_HOME itself": str(dirs["state"].parent),
            "a file in the state dir": str(state_file),
            "symlink to the state dir": str(link),
            "a file through that symlink": str(link / "plugin_state.json"),
            "relative": os.path.relpath(dirs["state"], cwd),
            "dot-dot": str(cwd / ".." / dirs["state"].relative_to(tmp_path)),
            "tmp_path (holds everything)": str(tmp_path),
            "plugin search dir": str(probe.parent),
            "the plugin's own folder": str(probe),
            "inside the plugin's own folder": str(probe / "plugin.toml"),
        }
    )
    return forms


def audit_events(event: str, plugin: str = "fs_probe") -> list[dict]:
    from midimon.paths import state_dir

    path = state_dir() / "audit.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in lines if e["event"] == event and e["plugin"] == plugin]


def test_every_path_form_is_refused_by_the_api(
    manager, probe: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/, ~, each XDG dir, a parent, a symlink, a relative path, .. and the plugin folders:
    refused for write and for read, named and explained, each refusal audited."""
    forms = path_forms(tmp_path, probe)
    monkeypatch.chdir(tmp_path / "cwd")
    for label, form in forms.items():
        for mode in ("write_paths", "read_paths"):
            before = len(audit_events("grant_refused"))
            with pytest.raises(UnsafeGrantPath) as caught:
                manager.grant("fs_probe", Capability.FILESYSTEM, **{mode: [form]})
            message = str(caught.value)
            assert form in message, (label, message)
            assert "~/midimon-files" in message, (label, message)
            assert ": it " in message, (label, message)  # says what it would expose
            refused = audit_events("grant_refused")
            assert len(refused) == before + 1, label
            assert refused[-1]["path"] == form and refused[-1]["at"] == "grant"
    assert manager.state.grants("fs_probe", manager.grants.current_binary("fs_probe")[0]) == {}
    assert audit_events("grant") == []


def test_refusals_name_what_they_expose(manager, probe: Path, tmp_path: Path) -> None:
    """The message says what the path would expose, in words a user understands."""
    path_forms(tmp_path, probe)
    dirs = midimon_dirs()
    expect = {
        "/": "every file on this computer",
        "~": "your whole home folder",
        str(dirs["state"]): "the grants file, anti-rollback records and audit log",
        str(dirs["trusted_keys"]): "the trust store",
        str(dirs["signing"]): "secret signing keys",
        str(tmp_path / "innocent-looking"): f"resolves to {dirs['state']}",
        str(probe): "the plugin's own folder",
    }
    for form, words in expect.items():
        with pytest.raises(UnsafeGrantPath, match="refused filesystem path") as caught:
            manager.grant("fs_probe", Capability.FILESYSTEM, [form])
        assert words in str(caught.value), (form, str(caught.value))


def test_a_grant_needs_a_path_that_exists(manager, good: Path) -> None:
    """No path at all: refused with both options shown; a missing path: create it first."""
    with pytest.raises(FilesystemPathMissing) as caught:
        manager.grant("fs_probe", Capability.FILESYSTEM)
    assert "--write DIR" in str(caught.value) and "--read DIR" in str(caught.value)
    with pytest.raises(FilesystemPathMissing, match="mkdir -p"):
        manager.grant("fs_probe", Capability.FILESYSTEM, [good / "not-yet"])
    manager.grant("fs_probe", Capability.FILESYSTEM, [good])


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "midimon", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_every_path_form_is_refused_by_the_cli(
    env: dict[str, str], probe: Path, tmp_path: Path
) -> None:
    """`plugins grant --write/--read/--path` and `plugins exec --grant-write/--grant-read`:
    every form refused with exit 2 and the reason, nothing saved, each refusal audited."""
    forms = path_forms(tmp_path, probe)
    cwd = tmp_path / "cwd"
    plugins = ("--plugins-dir", str(probe.parent))
    for label, form in forms.items():
        for option in ("--write", "--read", "--path"):
            done = run_cli(env, cwd, "plugins", "grant", "fs_probe", "filesystem", option, form,
                           *plugins)  # fmt: skip
            assert done.returncode == 2, (label, option, done.stdout, done.stderr)
            assert "refused filesystem path" in done.stderr, (label, done.stderr)
        done = run_cli(env, cwd, "plugins", "exec", "fs_probe", "--grant", "filesystem",
                       "--grant-write", form, "--params", json.dumps({"write": "/dev/null"}),
                       "--allow-unsigned", *plugins)  # fmt: skip
        assert done.returncode == 2, (label, done.stdout, done.stderr)
        assert "refused filesystem path" in done.stderr, (label, done.stderr)
    refused = audit_events("grant_refused")
    assert len(refused) == 4 * len(forms)
    assert {e["at"] for e in refused} == {"grant", "plugins exec"}
    assert audit_events("grant") == []


def test_hostile_plugin_with_a_good_grant_reaches_nothing_else(
    manager, env: dict[str, str], good: Path, tmp_path: Path
) -> None:
    """Granted ~/midimon-files only: writing the grants, the trust store, the anti-rollback
    records or the audit log, and reading a minisign secret key or ~/.ssh/id_ed25519, all
    fail; writing into the granted folder works."""
    from midimon.paths import config_dir, state_dir

    keygen = run_cli(env, tmp_path, "keygen", "-W", "-p", str(tmp_path / "k.pub"))
    assert keygen.returncode == 0, keygen.stderr
    secret_key = config_dir() / "signing" / "midimon.key"
    assert secret_key.is_file()
    ssh = Path.home() / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    manager.grant("fs_probe", Capability.FILESYSTEM, [good])
    assert manager.execute("fs_probe", {"write": str(good / "ok.txt")}, CTX).ok
    assert (good / "ok.txt").read_text() == "pwned\n"
    (config_dir() / "trusted_keys").mkdir(parents=True, exist_ok=True)
    state_files = {
        "write": [
            state_dir() / "plugin_state.json",
            config_dir() / "trusted_keys" / "EVIL.pub",
            state_dir() / "rollback.json",
            state_dir() / "audit.jsonl",
            config_dir() / "config.toml",
        ],
        "read": [secret_key, ssh / "id_ed25519", state_dir() / "plugin_state.json"],
    }
    for op, targets in state_files.items():
        for target in targets:
            before = target.read_bytes() if target.exists() else None
            result = manager.execute("fs_probe", {op: str(target)}, CTX)
            assert result.outcome is Outcome.FAILED, (op, target, result)
            assert "Permission denied" in result.message, (op, target, result)
            after = target.read_bytes() if target.exists() else None
            assert after == before or (target.name == "audit.jsonl" and b"pwned" not in after)
    info = manager.describe("fs_probe")
    assert info["filesystem_paths"] == [str(good)] and info["filesystem_refused"] == []


def test_symlink_swapped_in_after_the_grant_is_caught_at_worker_start(
    manager, good: Path, tmp_path: Path
) -> None:
    """A granted folder replaced by a symlink to the state dir is not applied when the worker
    starts (audited); the plugin runs with its other, still safe, folder."""
    from midimon.paths import state_dir

    swapped = tmp_path / "swapped"
    swapped.mkdir()
    manager.grant("fs_probe", Capability.FILESYSTEM, [swapped, good])
    swapped.rmdir()
    state_dir().mkdir(parents=True, exist_ok=True)
    swapped.symlink_to(state_dir())
    result = manager.execute("fs_probe", {"write": str(swapped / "plugin_state.json")}, CTX)
    assert result.outcome is Outcome.FAILED and "Permission denied" in result.message, result
    assert b"pwned" not in (state_dir() / "plugin_state.json").read_bytes()
    assert manager.execute("fs_probe", {"write": str(good / "still.txt")}, CTX).ok
    (refused,) = audit_events("grant_refused")
    assert refused["at"] == "worker start" and refused["path"] == str(swapped)
    assert f"now resolves to {state_dir()}" in refused["reason"]
    info = manager.describe("fs_probe")
    assert [r["path"] for r in info["filesystem_refused"]] == [str(swapped)]


@pytest.mark.parametrize(
    ("stored", "reason"),
    [({"paths": ["/"]}, "it is /"), ({"paths": []}, "granted without a path under older rules")],
)
def test_old_grant_is_not_applied_and_reported(
    manager, env: dict[str, str], probe: Path, tmp_path: Path, stored: dict, reason: str
) -> None:
    """A grant saved under the old rules (/, or no path: the whole home folder) is not applied:
    the call is denied with the reason and a hint, audited, and `plugins info` says how to
    re-grant safely."""
    from midimon.paths import state_dir

    sha256 = manager.grants.current_binary("fs_probe")[0]
    state = state_dir() / "plugin_state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    grant = {"filesystem": {**stored, "granted_at": 1.0}}
    state.write_text(json.dumps({"fs_probe": {"sha256": sha256, "grants": grant}}))
    result = manager.execute("fs_probe", {"read": "/etc/hostname"}, CTX)
    assert result.outcome is Outcome.DENIED, result
    assert "was not applied" in result.message and reason in result.message
    assert "midimon plugins grant fs_probe filesystem --write DIR" in result.message
    (refused,) = audit_events("grant_refused")
    assert refused["at"] == "worker start" and reason in refused["reason"]
    assert [(p, r.path) for p, r in manager.grants.unsafe_stored_grants()] == [
        ("fs_probe", stored["paths"][0] if stored["paths"] else "(no path)")
    ]
    done = run_cli(env, tmp_path, "plugins", "info", "fs_probe", "--plugins-dir", str(probe.parent))
    assert done.returncode == 0, done.stderr
    assert "NOT applied: filesystem" in done.stdout and reason in done.stdout
    assert "re-grant safely: midimon plugins revoke fs_probe filesystem" in done.stdout
    assert "Filesystem      risk high    NOT granted" in done.stdout


def test_old_safe_grant_still_works_as_write(manager, good: Path) -> None:
    """A saved grant in the old format ("paths": read-write then) of a safe folder keeps
    working, as a write path; a new grant is saved with separate read and write lists, and a
    --read path can be read but not written."""
    from midimon.paths import state_dir

    sha256 = manager.grants.current_binary("fs_probe")[0]
    state = state_dir() / "plugin_state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    grant = {"filesystem": {"paths": [str(good)], "granted_at": 1.0}}
    state.write_text(json.dumps({"fs_probe": {"sha256": sha256, "grants": grant}}))
    assert manager.execute("fs_probe", {"write": str(good / "old.txt")}, CTX).ok
    docs = good.parent / "docs"
    docs.mkdir()
    manager.grant("fs_probe", Capability.FILESYSTEM, [good], read_paths=[docs])
    saved = json.loads(state.read_text())["fs_probe"]["grants"]["filesystem"]
    assert saved["write"] == [str(good)] and saved["read"] == [str(docs)]
    assert "paths" not in saved
    (docs / "notes.txt").write_text("notes\n")
    assert manager.execute("fs_probe", {"read": str(docs / "notes.txt")}, CTX).ok
    result = manager.execute("fs_probe", {"write": str(docs / "notes.txt")}, CTX)
    assert result.outcome is Outcome.FAILED and "Permission denied" in result.message, result
    assert (docs / "notes.txt").read_text() == "notes\n"


def test_info_warns_about_sensitive_folders(
    manager, env: dict[str, str], probe: Path, tmp_path: Path
) -> None:
    """A grant covering ~/.ssh is allowed; `plugins grant` and `plugins info` say plainly what
    it exposes."""
    ssh = Path.home() / ".ssh"
    ssh.mkdir()
    done = run_cli(env, tmp_path, "plugins", "grant", "fs_probe", "filesystem", "--read", "~/.ssh",
                   "--plugins-dir", str(probe.parent))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(read: ~/.ssh)" in done.stdout and "warning: " in done.stdout
    assert "covers ~/.ssh, your SSH keys" in done.stdout
    (line,) = manager.describe("fs_probe")["filesystem_sensitive"]
    assert "~/.ssh" in line and "SSH keys" in line
    done = run_cli(env, probe.parent, "plugins", "info", "fs_probe", "--plugins-dir", ".")
    assert "warning: " in done.stdout and "log in to every server" in done.stdout
    assert f"files read:       {ssh}" in done.stdout


def test_a_granted_path_absent_now_is_listed_as_missing(tmp_path: Path) -> None:
    """A granted path that is gone when a worker starts is not applied (Landlock would skip it)
    but listed in ``missing``: a trigger plugin is started again when it appears."""
    from midimon.plugins.sandbox.grant_paths import apply_filesystem_grants

    here, gone = tmp_path / "event-here", tmp_path / "event-gone"
    here.touch()
    access = apply_filesystem_grants([str(here), str(gone)], [str(gone)], [])
    assert (access.read_paths, access.write_paths, access.missing) == ((here,), (), (gone,))
    assert access.any_path
