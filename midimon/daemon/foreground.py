"""``midimon run``: start the daemon in the foreground with MIDI ports, control socket, reload.

SIGHUP and edits of the config file (a stat poll) reload it; SIGTERM, SIGINT and the STOP
command shut it down cleanly: control socket closed, MIDI ports closed, plugin workers stopped.
``--demo`` plays a short built-in MIDI sequence into the same event path, so a newcomer sees
events turning into plugin actions with no hardware.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from midimon.daemon.command_registry import PeerCredentials
from midimon.daemon.commands import register_commands
from midimon.daemon.control_streams import StreamEnded
from midimon.daemon.server import ControlServer
from midimon.daemon.service import Daemon
from midimon.engine.config import default_config_path
from midimon.paths import socket_path, state_dir
from midimon.plugins import Capability, Grant

log = logging.getLogger(__name__)

DEMO_SEQUENCE = [  # (seconds after start, raw MIDI)
    (0.0, [0x90, 36, 100]), (0.15, [0x80, 36, 0]),
    (0.4, [0x90, 38, 80]), (0.55, [0x80, 38, 0]),
    (0.8, [0x90, 40, 127]), (0.95, [0x80, 40, 0]),
]  # fmt: skip
# How long a thread holding the GIL keeps it while another waits (CPython's default: 5 ms). The
# MIDI dispatcher thread waits for it with each message the C walk leaves to Python; a config
# reload holding it 5 ms at a time delayed those (and every message queued behind them) by
# several JACK periods (benchmarks/README.md, reload_jack).
GIL_SWITCH_INTERVAL_S = 0.0005
DEMO_HTTP_PORT = 8080  # the default config's http_request pad posts here
DEMO_NEXT = """demo: done; the daemon keeps running on the demo config. Try, in another terminal:
  midimon status            # what it is doing
  midimon monitor           # MIDI, triggers and actions live (play into MIDI port "midimon")
  midimon plugins list      # the plugins it can run
Stop it with Ctrl-C or `midimon stop` (`midimon run --demo --exit-after-demo` stops by itself)."""
#: The bundled config's file_log mappings: the demo points their path beside the state dir.
FILE_LOG_PATH = re.compile(r'(plugin = "file_log", params = \{ path = )"[^"]*"')


def _demo_config() -> tuple[Path, Path]:
    """(config, log folder): the bundled config with file_log writing into
    ``$XDG_STATE_HOME/midimon-demo/`` rather than the home folder, written to
    ``<state dir>/demo/config.toml``.

    The log folder sits beside midimon's state dir, not in it: a Filesystem grant never covers
    midimon's own folders, and a plugin that could write the config it runs under would give
    itself any action on the next reload.
    """
    folder = state_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    log_dir = state_dir().parent / "midimon-demo"
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log_file = log_dir / "midimon-pads.log"
    text, count = FILE_LOG_PATH.subn(
        lambda m: m.group(1) + json.dumps(str(log_file)), default_config_path().read_text()
    )
    if count == 0:  # the bundled config changed shape: fail loudly, not log into $HOME
        raise RuntimeError(f"{default_config_path()}: no file_log path for the demo to move")
    config = folder / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config, log_dir


def _demo_http_sink() -> Any:
    """A local HTTP server printing what the demo's http_request pad sends (None when the
    port is taken). Imported here: http.server pulls in ssl and email, memory a daemon that
    is not a demo does not need (see benchmarks/README.md, costs)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Sink(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            print(f"  [demo HTTP server] {self.command} {self.path} {body}".rstrip(), flush=True)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    try:
        sink = ThreadingHTTPServer(("127.0.0.1", DEMO_HTTP_PORT), Sink)
    except OSError:
        return None
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    return sink


def _open_midi(daemon: Daemon) -> Any:
    """The daemon's MIDI ports from [device] (see midimon.daemon.midi_device); None when
    python-rtmidi cannot be imported."""
    try:
        from midimon.daemon.midi_device import MidiDevice
    except ImportError as exc:  # pragma: no cover - python-rtmidi is a dependency
        log.warning("MIDI unavailable: %s", exc)
        return None
    device = MidiDevice(
        daemon.feed, daemon.config.device, publish=daemon.publish,
        on_switch=lambda port: _restart_feedback(daemon, port),
    ).open()  # fmt: skip
    daemon.midi_device = device
    daemon.input_counters = device.input_counters  # STATUS shows the ring's drops
    return device


def _restart_feedback(daemon: Daemon, midi_in: Any) -> None:
    """The input switched to another controller: LED feedback follows it (its template and
    output port are chosen again)."""
    sender = daemon.feedback
    if sender is None:
        return
    sender.stop()
    sender.template = None
    _start_feedback(daemon, midi_in)


def _start_feedback(daemon: Daemon, midi_in: Any) -> None:
    """Start LED feedback when [feedback] enables it: the template (named, or the one matching
    the input port), its output port (configured, the template's, or a virtual port
    "<virtual_port> feedback"), watched so a reconnected device gets every LED again."""
    sender = daemon.feedback
    if sender is None:
        return
    from midimon.daemon.feedback_output import FEEDBACK_CLIENT, choose_template

    port = (midi_in.port_name or midi_in.pattern) if midi_in is not None else None  # or awaited
    template = choose_template(daemon.config.feedback, port)
    if template is None:
        return
    from midimon.midi import MidiOutput
    from midimon.midi_watch import PortWatcher

    virtual = f"{daemon.config.device.virtual_port or 'midimon'} feedback"

    def open_output(pattern: str | None) -> Any:
        return MidiOutput(pattern, virtual_name=None if pattern else virtual,
                          client_name=FEEDBACK_CLIENT, missing_ok=True)  # fmt: skip

    def watch(port: Any, on_connect: Any) -> Any:
        return PortWatcher([port], interval=1.0, on_connect=on_connect,
                           client_name=f"{FEEDBACK_CLIENT}-watch").start()  # fmt: skip

    sender.start(template, daemon.config, daemon.mapper.mode, open_output, watch)
    log.info("LED feedback: %s, output %s", template.title, sender.status()["output"])


def _start_app_focus(daemon: Daemon) -> Any:
    """Follow the focused application when a mode names ``apps``: the X11 watcher, or one
    warning saying why this session cannot (see midimon.daemon.app_focus)."""
    from midimon.daemon.app_focus import X11FocusWatcher, session_support

    support = session_support()
    daemon.focus_support = {**support, "watching": False}
    if not any(mode.apps for mode in daemon.config.modes):
        return None  # nothing to follow (a reload that adds apps needs a restart)
    if not support["supported"]:
        log.warning("application profiles: %s", support["detail"])
        return None
    try:
        watcher = X11FocusWatcher(daemon.follow_app).start()
    except Exception as exc:  # python-xlib raises its own classes for a refused display
        daemon.focus_support = {**support, "supported": False, "watching": False,
                                "detail": f"X11: {exc}"}  # fmt: skip
        log.warning("application profiles: cannot watch the X11 focus: %s", exc)
        return None
    daemon.focus_support = {**support, "watching": True}
    return watcher


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def _watch_config(
    daemon: Daemon, stop: threading.Event, interval: float = 0.25
) -> threading.Thread:
    """Reload when the config file changes (editors that replace the file included).

    A stat poll rather than watchfiles/inotify: it starts watching at once (watchfiles gives no
    signal that it is ready, so an edit made while the daemon starts could be missed) and it
    follows the file through rename-and-replace saves. A change is acted on once the file has
    stayed the same for one interval, so a save in several writes reloads once.
    """
    seen = _file_signature(daemon.config_path)

    def watch() -> None:
        nonlocal seen
        while not stop.wait(interval):
            current = _file_signature(daemon.config_path)
            if current == seen:
                continue
            if stop.wait(interval) or _file_signature(daemon.config_path) != current:
                continue  # still being written: look again next round
            seen = current
            daemon.reload()

    thread = threading.Thread(target=watch, name="midimon-config-watch", daemon=True)
    thread.start()
    return thread


def run(config: Path | None, demo: bool = False, exit_after_demo: bool = False) -> int:
    """Run until stopped; returns the exit status."""
    grants: dict[str, list[Grant]] = {}
    sink = None
    if demo:
        grants = {"http_request": [Grant(Capability.NETWORK)]}
        if config is None:  # the demo shows the bundled config, not the user's own
            config, log_dir = _demo_config()
            print(f"demo: on the bundled config; file_log writes to {log_dir}", flush=True)
            grants["file_log"] = [Grant(Capability.FILESYSTEM, (str(log_dir),))]
        sink = _demo_http_sink()
    midi_out_ref: list[Any] = [None]

    named_outputs: dict[str, Any] = {}

    def send_midi(port: str | None, data: bytes) -> None:
        if port is not None:  # a SendMidi action naming its port: open it once, then reuse it
            output = named_outputs.get(port)
            if output is None:
                from midimon.midi import MidiOutput

                output = named_outputs[port] = MidiOutput(port)
            output.send(data)
            return
        if midi_out_ref[0] is None:
            if demo:  # no MIDI system here: the demo shows the bytes instead of sending them
                return
            raise RuntimeError("no MIDI output is open")
        midi_out_ref[0].send(data)

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    daemon = Daemon(config, session_grants=grants, send_midi=send_midi)
    stop = threading.Event()
    register_commands(daemon, stop.set)
    watch_thread = _watch_config(daemon, stop)

    def audit_refusal(reason: str, peer: PeerCredentials | None) -> None:
        who = {"pid": peer.pid, "uid": peer.uid} if peer else {}
        daemon.manager.audit.record("control_refused", "midimon", reason=reason, **who)

    server = ControlServer(socket_path(), daemon.registry, on_refused=audit_refusal)
    server.start()
    device = _open_midi(daemon)
    midi_in = device.input if device is not None else None
    midi_out_ref[0] = device.output if device is not None else None
    _start_feedback(daemon, midi_in)
    focus = _start_app_focus(daemon)
    daemon.start()
    daemon.heap.enable()  # start-up done: keep its objects out of the collector's walks
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=daemon.reload).start())
    port = midi_in.port_name if midi_in is not None else "none"
    print(
        f"midimon {daemon.status()['version']} running: config {daemon.config_path}, "
        f"mode {daemon.mapper.mode}, MIDI in {port}, control {server.socket_path}",
        flush=True,
    )
    try:
        if demo:
            _play_demo(daemon)
            if exit_after_demo:
                stop.set()
            else:
                print(DEMO_NEXT, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        print("midimon stopping", flush=True)
        server.stop()
        if focus is not None:
            focus.stop()
        if device is not None:
            device.close()
        for port_obj in named_outputs.values():
            port_obj.close()
        daemon.stop()
        if sink is not None:
            sink.shutdown()
        watch_thread.join(2)
    return 0


def _play_demo(daemon: Daemon) -> None:
    print("demo: playing a short MIDI sequence into the event path", flush=True)
    events = daemon.registry.events.subscribe()
    start = time.monotonic()
    for at, raw in DEMO_SEQUENCE:
        time.sleep(max(0.0, start + at - time.monotonic()))
        daemon.feed(bytes(raw))
    deadline = time.monotonic() + 10
    expected = sum(1 for _, raw in DEMO_SEQUENCE if raw[0] & 0xF0 == 0x90)
    actions = 0
    try:
        while actions < expected and time.monotonic() < deadline:
            try:
                event = events.next_item(0.2)
            except StreamEnded:
                break
            if not isinstance(event, dict):
                continue
            if event.get("type") == "midi":
                print(f"  MIDI in: {event['kind']} channel {event['channel'] + 1} "
                      f"number {event['number']} value {event['value']}", flush=True)  # fmt: skip
            elif event.get("type") == "plugin_midi":
                print(f"    [{event['plugin']}] send_midi {event['bytes']}", flush=True)
            elif event.get("type") == "action":
                actions += 1
                state = "OK" if event["ok"] else "FAILED"
                print(f"    -> {event['action']} {state}: {event['detail']}", flush=True)
    finally:
        events.release()
