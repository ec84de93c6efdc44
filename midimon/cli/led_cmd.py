"""``midimon led PAD COLOR``: light a pad of the controller through the running daemon's LED
feedback (state from outside midimon: a script, OBS, a build light), until the next frame."""

from __future__ import annotations

import argparse

from midimon.cli.common import EXIT_OK


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``led``."""
    parser = commands.add_parser(
        "led",
        help="light a controller pad (LED feedback must be on)",
        description="Set one pad's LED through the running daemon: a colour name of the "
        "device template (midimon templates show NAME) or a raw value 0..127. It stays until "
        "the next full LED frame (mode change, reload, reconnect).",
    )
    parser.add_argument("pad", type=int, help="the pad's note number (as the template lists it)")
    parser.add_argument("color", help="colour name, or a value 0..127")
    parser.set_defaults(handler=cmd_led)


def cmd_led(args: argparse.Namespace) -> int:
    """``led PAD COLOR``."""
    from midimon.daemon.client import ControlClient

    color: str | int = int(args.color) if args.color.isdigit() else args.color
    with ControlClient() as client:
        client.request("SET_LED", {"pad": args.pad, "color": color})
    print(f"pad {args.pad}: {color}")
    return EXIT_OK
