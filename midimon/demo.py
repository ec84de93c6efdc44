"""A no-hardware demonstration: a short built-in MIDI sequence drives the bundled plugins.

``python -m midimon.demo`` plays raw MIDI messages through decoding, a small note -> plugin
mapping and the PluginManager (verified plugins in sandboxed workers), and prints what each
event turned into. It starts its own
HTTP server on 127.0.0.1 for the http_request plugin and writes file_log's lines to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import mido

from midimon.plugins.capabilities import Capability
from midimon.plugins.context import TriggerContext, TriggerKind
from midimon.plugins.grants import Grant
from midimon.plugins.manager import PluginManager
from midimon.plugins.settings import load_plugin_settings

SEQUENCE = [  # (seconds after start, raw MIDI bytes)
    (0.0, [0x90, 36, 100]),
    (0.2, [0x80, 36, 0]),
    (0.4, [0x90, 38, 80]),
    (0.6, [0x80, 38, 0]),
    (0.8, [0x91, 40, 127]),
    (1.0, [0x81, 40, 0]),
]


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        self.received.append(f"{self.command} {self.path} {body}".strip())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:  # keep the demo output clean
        return


class _PrintingHost:
    def log(self, plugin: str, level: int, message: str) -> None:
        if level >= 1:
            print(f"      [{plugin}] {message}")

    def send_midi(self, plugin: str, data: bytes) -> int:
        print(f"      [{plugin}] send_midi -> {mido.Message.from_bytes(data)}")
        return 0


def _mapping(http_url: str, log_path: Path) -> dict[int, tuple[str, dict[str, Any]]]:
    return {
        36: (
            "http_request",
            {
                "url": http_url + "?note={note}&vel={velocity}",
                "method": "POST",
                "body": {"mode": "{mode}", "velocity": "{velocity}"},
            },
        ),
        38: ("file_log", {"path": str(log_path), "pad": "snare"}),
        40: ("midi_transpose", {"semitones": 7}),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns an exit status."""
    parser = argparse.ArgumentParser(prog="midimon.demo", description=__doc__)
    parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workdir = Path(tempfile.mkdtemp(prefix="midimon-demo-"))
    log_path = workdir / "pads.jsonl"
    mapping = _mapping(f"http://127.0.0.1:{server.server_address[1]}/pad", log_path)
    # The demo grants what its pads need for this run only; nothing is saved.
    grants = {
        "http_request": [Grant(Capability.NETWORK)],
        "file_log": [Grant(Capability.FILESYSTEM, (str(workdir),))],
    }
    manager = PluginManager(load_plugin_settings(), host=_PrintingHost(), session_grants=grants)
    installed = {p.name for p in manager.list_available()}
    for name, _ in mapping.values():
        if name not in installed:
            print(f"(plugin {name} is not installed; its pad will be skipped)")
    print(f"midimon demo: playing {len(SEQUENCE)} MIDI messages into the event path")
    print("each plugin runs in its own sandboxed worker process\n")
    start = time.monotonic()
    failures = 0
    for at, raw in SEQUENCE:
        time.sleep(max(0.0, start + at - time.monotonic()))
        message = mido.Message.from_bytes(raw)
        print(f"  MIDI in: {message}")
        if message.type != "note_on" or message.note not in mapping:
            continue
        name, params = mapping[message.note]
        if name not in installed:
            continue
        context = TriggerContext(
            velocity=message.velocity,
            channel=message.channel,
            number=message.note,
            trigger_kind=TriggerKind.NOTE,
        )
        result = manager.execute(name, params, context)
        if result.ok:
            print(f"    -> plugin {name}: OK ({result.elapsed_ms:.1f} ms): {result.message}")
        else:
            failures += 1
            print(f"    -> plugin {name}: {result.outcome.value.upper()}: {result.message}")
    manager.shutdown()
    server.shutdown()
    print("\nwhat the actions did:")
    for line in _Recorder.received:
        print(f"  HTTP server received: {line}")
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            print(f"  file_log wrote: {json.loads(line)['params']}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
