"""Helpers for tests: paths, external tools, compiling test plugins, writing manifests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from midimon.plugins.integrity.minisign_keys import PublicKey, SecretKey

REPO = Path(__file__).resolve().parent.parent
ABI_DIR = REPO / "abi"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: The plugins bundled with midimon -> the one capability each asks for.
BUNDLED = {
    "http_request": "network",
    "file_log": "filesystem",
    "midi_transpose": "midi",
    "osc_in": "network",
    "gamepad": "filesystem",
}
#: (plugin.toml type, abi) of each bundled plugin: osc_in and gamepad are trigger plugins (1.1)
BUNDLED_KIND = {name: ("action", "1.0") for name in BUNDLED} | {
    "osc_in": ("trigger", "1.1"),
    "gamepad": ("trigger", "1.1"),
}


#: The ``run_midimon`` fixture: ``run_midimon(*args, timeout=, input=, cwd=)`` runs the CLI.
RunMidimon = Callable[..., subprocess.CompletedProcess]
#: The ``make_plugin`` fixture: ``make_plugin(name, defines=, manifest=, root=)`` -> its folder.
MakePlugin = Callable[..., Path]
#: The ``start_daemon`` fixture: ``start_daemon(config_text, env=None)`` -> (process, config).
StartDaemon = Callable[..., tuple[subprocess.Popen[str], Path]]


def require_tool(name: str) -> str:
    """Path of an external tool; a missing one fails under CI=true and skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


# A configurable C plugin; the tests break it one way at a time through -D defines.
TEST_PLUGIN_SOURCE = r"""
#ifdef P_SLEEP_MS
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#endif
#include "midimon_plugin.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifndef P_NAME
#define P_NAME "probe_ok"
#endif
#ifndef P_VERSION
#define P_VERSION "1.0.0"
#endif
#ifndef P_MAJOR
#define P_MAJOR MIDIMON_ABI_MAJOR
#endif
#ifndef P_MINOR
#define P_MINOR MIDIMON_ABI_MINOR
#endif
#ifndef P_SIZE
#define P_SIZE sizeof(midimon_plugin_t)
#endif
#ifndef P_CAPS
#define P_CAPS 0
#endif
#ifndef P_STATUS
#define P_STATUS MIDIMON_OK
#endif
#ifndef P_ENTRY
#define P_ENTRY _create_plugin
#endif
#ifndef P_MARK
#define P_MARK "original"
#endif

static const midimon_host_t *g_host;

static int32_t p_init(const midimon_plugin_t *self, const midimon_host_t *host) {
    (void)self;
    g_host = host;
    host->log(host, MIDIMON_LOG_INFO, "initialized " P_MARK);
    return MIDIMON_OK;
}

static int32_t p_exec(const midimon_plugin_t *self, const char *params, size_t len,
                      const midimon_trigger_context_t *ctx, char *msg, size_t cap) {
    (void)self;
#ifdef P_SLEEP_MS
    {
        const struct timespec pause = {P_SLEEP_MS / 1000, (P_SLEEP_MS % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
#endif
    snprintf(msg, cap, "%s params=%.*s vel=%u ch=%u num=%u val=%d kind=%u mode=%s",
             P_MARK, (int)len, params, ctx->velocity, ctx->channel, ctx->number,
             (int)ctx->value, (unsigned)ctx->trigger_kind, ctx->mode);
#ifdef P_CONTEXT_NAMES
    if (ctx->struct_size >= MIDIMON_TRIGGER_CONTEXT_V1_1_SIZE) {
        size_t used = strlen(msg);
        snprintf(msg + used, cap - used, " src=%s ev=%s ev_val=%g", ctx->source,
                 ctx->event_name, ctx->event_value);
    }
#endif
#ifdef P_SEND_MIDI
    {
        const uint8_t bytes[3] = {0x90, ctx->number, ctx->velocity};
        int32_t rc = g_host->send_midi(g_host, bytes, sizeof bytes);
        if (rc != MIDIMON_OK) {
            snprintf(msg, cap, "send_midi refused: %d", (int)rc);
            return rc;
        }
    }
#endif
#ifdef P_SET_LED
    {
        const midimon_host_leds_t *leds =
            (const midimon_host_leds_t *)g_host->get_extension(g_host, MIDIMON_EXT_LEDS);
        int32_t rc;
        if (!leds) {
            snprintf(msg, cap, "no leds extension");
            return MIDIMON_ERR_UNSUPPORTED;
        }
        rc = leds->set_pad(g_host, ctx->number, P_SET_LED);
        if (rc != MIDIMON_OK) {
            snprintf(msg, cap, "set_pad refused: %d", (int)rc);
            return rc;
        }
    }
#endif
    return P_STATUS;
}

static const midimon_plugin_t plugin = {
    P_MAJOR, P_MINOR, (uint32_t)(P_SIZE), P_CAPS,
    P_NAME, P_VERSION, "a test plugin", NULL,
    p_init, p_exec, NULL, NULL, NULL, NULL, NULL,
};

MIDIMON_EXPORT const midimon_plugin_t *P_ENTRY(void) {
#ifdef P_RETURN_NULL
    (void)&plugin;
    return NULL;
#else
    return &plugin;
#endif
}
"""


def compile_plugin(
    out: Path, defines: dict[str, str] | None = None, source: str = TEST_PLUGIN_SOURCE
) -> Path:
    """Compile ``source`` into the shared library ``out`` with gcc."""
    cc = require_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(source)
    flags = [f"-D{k}={v}" for k, v in (defines or {}).items()]
    command = [
        cc,
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-shared",
        "-fPIC",
        "-O1",
        f"-I{ABI_DIR}",
        *flags,
        str(src),
        "-o",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"compiling the test plugin failed:\n{done.stderr}")
    src.unlink()
    return out


def write_manifest(folder: Path, name: str, binary: str = "plugin.so", **fields: object) -> Path:
    """Write a plugin.toml in ``folder``; ``capabilities={"network": True}`` etc."""
    caps = fields.pop("capabilities", {})
    lines = [
        "[plugin]",
        f'name = "{name}"',
        f'version = "{fields.pop("version", "1.0.0")}"',
        f'description = "{fields.pop("description", "a test plugin")}"',
        f'type = "{fields.pop("type", "action")}"',
        f'abi = "{fields.pop("abi", "1.0")}"',
        f'binary = "{binary}"',
    ]
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in fields.items()]
    lines.append("[plugin.capabilities]")
    lines += [f"{key} = {'true' if value else 'false'}" for key, value in caps.items()]
    path = folder / "plugin.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class RecordingHost:
    """Host services that remember the log lines and MIDI a plugin sent."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, int, str]] = []
        self.midi: list[tuple[str, bytes]] = []
        self.leds: list[tuple[str, int, str]] = []

    def log(self, plugin: str, level: int, message: str) -> None:
        self.logs.append((plugin, level, message))

    def send_midi(self, plugin: str, data: bytes) -> int:
        self.midi.append((plugin, data))
        return 0

    def set_led(self, plugin: str, pad: int, color: str) -> int:
        """The "midimon.leds/1" host extension's set_pad(); "nope" is refused as a daemon
        refuses a colour its device lacks."""
        self.leds.append((plugin, pad, color))
        return 2 if color == "nope" else 0  # MIDIMON_ERR_INVALID_PARAMS


@dataclass
class Keys:
    """A minisign key pair made in-process, and where it was saved (the secret unencrypted)."""

    public: PublicKey
    secret: SecretKey
    pub_path: Path
    key_path: Path


def new_keys(folder: Path, name: str = "author") -> Keys:
    """A fresh key pair saved as ``folder/name.pub`` and ``folder/name.key``."""
    from midimon.plugins.integrity.minisign_keys import generate_keypair

    public, secret = generate_keypair()
    folder.mkdir(parents=True, exist_ok=True)
    pub_path, key_path = folder / f"{name}.pub", folder / f"{name}.key"
    public.save(pub_path)
    secret.save(key_path, None)
    return Keys(public, secret, pub_path, key_path)


def trusted_key(run: Callable[..., subprocess.CompletedProcess], folder: Path) -> Path:
    """A key pair made by ``midimon keygen`` as ``folder/a.pub`` and ``folder/a.key`` and
    trusted as "Alice" for any plugin by ``midimon trust add``, each run through ``run`` (the
    ``run_midimon`` fixture, or a runner of one's own); the secret key's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for args in (("keygen", "-W", "-p", folder / "a.pub", "-s", folder / "a.key"),
                 ("trust", "add", folder / "a.pub", "--name", "Alice", "--any")):  # fmt: skip
        done = run(*args)
        assert done.returncode == 0, done.stderr
    return folder / "a.key"


class TcpListener:
    """A TCP server on 127.0.0.1 (a port the OS picks) that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        """Stop listening."""
        self.sock.close()


def signed_plugin(make_plugin: MakePlugin, name: str, source: str) -> Path:
    """Build plugin ``name`` from ``source`` with make_plugin, sign it with a new key trusted in
    this test's config dir (what in-process mode needs); returns its plugins folder."""
    from midimon.paths import config_dir
    from midimon.plugins.description.manifest import load_manifest
    from midimon.plugins.integrity.minisign_keys import generate_keypair
    from midimon.plugins.integrity.signing import sign_plugin
    from midimon.plugins.integrity.trust import TrustStore

    folder = make_plugin(name, source=source)
    public, secret = generate_keypair()
    TrustStore(config_dir() / "trusted_keys").add(public, "tests")
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    sign_plugin(manifest, manifest.binary.read_bytes(), secret)
    return folder.parent


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def drain(stream: Any) -> list[Any]:
    """Every item a daemon event stream holds now (``subscribe``'s), without waiting."""
    from midimon.daemon.control_streams import EMPTY

    items = []
    while (item := stream.next_item(0)) is not EMPTY:
        items.append(item)
    return items


def open_jack_output(port_substring: str, client: str = "controller"):
    """A JACK rtmidi output connected to the first input port containing ``port_substring``."""
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
    assert wait_for(lambda: any(port_substring in p for p in out.get_ports()), 30), out.get_ports()
    out.open_port(next(i for i, p in enumerate(out.get_ports()) if port_substring in p))
    time.sleep(0.2)  # JACK drops what is sent while it is still making the connection
    return out


# -- MIDI ports on the jack_server fixture's JACK server (tests/test_midi*.py, tests/cli) -------

#: Seconds for JACK to settle after a client, port or connection appears.
SETTLE = 0.1


def device_out(cleanup: list[Callable[[], object]], port: str, client: str = "device"):
    """A test "device": a JACK client with a MIDI output port ``client:port``."""
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
    out.open_virtual_port(port)
    cleanup.append(out.delete)
    return out


def recorder() -> tuple[list[tuple[bytes, int]], threading.Event, Callable[[bytes, int], None]]:
    """A list a MIDI input callback appends (data, timestamp) to, and an event set on each."""
    got: list[tuple[bytes, int]] = []
    arrived = threading.Event()

    def callback(data: bytes, stamp: int) -> None:
        got.append((data, stamp))
        arrived.set()

    return got, arrived, callback


def open_input(cleanup: list[Callable[[], object]], *args, **kwargs):
    """A midimon MidiInput on JACK, closed after the test."""
    from midimon.midi import MidiInput

    port = MidiInput(*args, api="jack", **kwargs)
    cleanup.append(port.close)
    return port


def osc_packet(address: str, *args: int | float | str) -> bytes:
    """One OSC 1.0 message: ``address``, then int32 ('i'), float32 ('f') or string ('s') args."""
    import struct as _struct

    def padded(raw: bytes) -> bytes:
        raw += b"\0"
        return raw + b"\0" * (-len(raw) % 4)

    tags = "," + "".join("i" if isinstance(a, int) else "f" if isinstance(a, float) else "s"
                         for a in args)
    body = b""
    for arg in args:
        if isinstance(arg, int):
            body += _struct.pack(">i", arg)
        elif isinstance(arg, float):
            body += _struct.pack(">f", arg)
        else:
            body += padded(arg.encode())
    return padded(address.encode()) + padded(tags.encode()) + body


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    import socket as _socket

    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
