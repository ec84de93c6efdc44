"""``midimon learn``: press a pad or move a control, get the TOML trigger for it.

Listens on the running daemon's EVENTS stream for the next MIDI event (note_off and program
change are skipped) or trigger plugin event (an OSC message to osc_in ...) and prints the
matching trigger table, ready to paste into a mapping. A CC
is watched a moment longer: a knob that keeps sending the same few values around 0/128 or 64
(1/127, 63/65, ...) is a relative encoder, suggested as EncoderTurn.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from typing import Any

from midimon.cli.common import EXIT_FAILED, EXIT_OK, CliError, print_json
from midimon.daemon.control_protocol import EXIT_UNAVAILABLE

CC_WINDOW_S = 0.5  # after a first CC, how long further values of it are gathered

_DONE = object()


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``learn``."""
    parser = commands.add_parser(
        "learn",
        help="print the TOML trigger for the next pad, key or knob you touch",
        description="Wait for the next MIDI event the running daemon receives (note on, CC, "
        "pitch bend, aftertouch; note off is ignored), or the next event of a trigger plugin "
        "it runs (an OSC message to osc_in), and print the trigger table for it, "
        'e.g. trigger = { type = "Note", note = 36, channel = 0 }. Exit 0 after one event, '
        "1 when none comes in time, 3 when the daemon is not running.",
    )
    parser.add_argument("--json", action="store_true", help="print {trigger, toml} as JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="give up after S seconds without an event (default 30)",
    )
    parser.set_defaults(handler=cmd_learn)


# --- events -> triggers ---------------------------------------------------------------------

_TWOS = set(range(1, 9)) | set(range(120, 128))
_OFFSET = set(range(56, 64)) | set(range(65, 73))
_SIGN = set(range(1, 9)) | set(range(65, 73))


def encoder_encoding(values: list[int]) -> str | None:
    """The relative encoding a run of CC values suggests, or None when they look absolute.

    A relative encoder repeats small steps (1, 1, 127 ...) where a fader or absolute knob
    sends a run of distinct values, so at least two values with a repeat are needed.
    """
    if len(values) < 2 or len(set(values)) == len(values):
        return None
    seen = set(values)
    if seen <= _TWOS:
        return "twos_complement"
    if seen <= _OFFSET:
        return "binary_offset"
    if seen <= _SIGN:
        return "sign_magnitude"
    return None


def trigger_for(event: dict[str, Any], cc_values: list[int] | None = None) -> dict[str, Any] | None:
    """The trigger table for one daemon ``midi`` or ``plugin_event`` event, or None for kinds
    that have none."""
    if event.get("type") == "plugin_event":
        trigger = {"type": "Plugin", "plugin": event.get("plugin"), "event": event.get("event")}
        if event.get("channel") is not None:
            trigger["channel"] = event["channel"]
        return trigger
    kind, channel, number = event.get("kind"), event.get("channel"), event.get("number")
    if kind == "note_on":
        return {"type": "Note", "note": number, "channel": channel}
    if kind == "cc":
        encoding = encoder_encoding(cc_values or [])
        if encoding is not None:
            return {
                "type": "EncoderTurn",
                "controller": number,
                "encoding": encoding,
                "channel": channel,
            }
        return {"type": "CC", "controller": number, "channel": channel}
    if kind == "pitch_bend":
        return {"type": "PitchBend", "channel": channel}
    if kind == "aftertouch":
        return {"type": "Aftertouch", "source": "channel", "channel": channel}
    if kind == "poly_aftertouch":
        return {"type": "Aftertouch", "source": "poly", "note": number, "channel": channel}
    return None


def to_toml(trigger: dict[str, Any]) -> str:
    """``trigger = { type = "Note", note = 36 }``: one inline TOML table."""
    items = ", ".join(f"{key} = {json.dumps(value)}" for key, value in trigger.items())
    return f"trigger = {{ {items} }}"


# --- the command ----------------------------------------------------------------------------


def _pump(stream: Any, out: queue.Queue[object]) -> None:
    """Worker thread: move the daemon's events into ``out`` (an exception, then _DONE, at end)."""
    try:
        for item in stream:
            out.put(item)
    except BaseException as exc:  # handed to the main thread
        out.put(exc)
    out.put(_DONE)


def _next(events: queue.Queue[object], deadline: float) -> dict[str, Any] | None:
    """The next MIDI event dict before ``deadline``; None on timeout; raises stream errors."""
    from midimon.daemon.errors import IpcError

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            item = events.get(timeout=remaining)
        except queue.Empty:
            return None
        if item is _DONE:
            raise CliError("the daemon ended the event stream (is it stopping?)", EXIT_UNAVAILABLE)
        if isinstance(item, IpcError):
            raise CliError(item.message, item.exit_status)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, dict) and item.get("type") in ("midi", "plugin_event"):
            return item


def cmd_learn(args: argparse.Namespace) -> int:
    """``learn``."""
    from midimon.cli import daemon_link

    if args.timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds")
    daemon_link.request("PING")  # the usual "not running" error (exit 3) before waiting
    events: queue.Queue[object] = queue.Queue()
    stream = daemon_link.client().stream("EVENTS")
    threading.Thread(target=_pump, args=(stream, events), name="learn-events", daemon=True).start()
    print("Waiting for MIDI: press a pad or key, or move a control ...", file=sys.stderr)
    deadline = time.monotonic() + args.timeout
    while True:
        event = _next(events, deadline)
        if event is None:
            raise CliError(
                f"no MIDI event reached the daemon within {args.timeout:g} s "
                "(is the controller connected to its input? see: midimon status, midimon devices)",
                EXIT_FAILED,
            )
        if trigger_for(event) is not None:
            break
    values: list[int] = []
    if event.get("kind") == "cc":
        values.append(event["value"])
        window_end = time.monotonic() + CC_WINDOW_S
        while (more := _next(events, window_end)) is not None:
            if (more.get("kind"), more.get("channel"), more.get("number")) == (
                "cc",
                event["channel"],
                event["number"],
            ):
                values.append(more["value"])
    trigger = trigger_for(event, values)
    assert trigger is not None
    toml = to_toml(trigger)
    if args.json:
        print_json({"trigger": trigger, "toml": toml, "event": event})
    else:
        print(toml)
        if trigger["type"] == "CC" and len(values) == 1 and values[0] in _TWOS | _OFFSET:
            print(
                "note: if this is an endless (relative) encoder, turn it a few steps while "
                "learning to get an EncoderTurn trigger",
                file=sys.stderr,
            )
    return EXIT_OK
