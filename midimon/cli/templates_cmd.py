"""``midimon templates list|show NAME|use NAME``: the device templates midimon ships."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from midimon.cli.common import EXIT_OK, CliError, add_json_option, print_json
from midimon.engine.device_templates import find_template, shipped_templates, starter_config


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``templates`` and its subcommands."""
    parser = commands.add_parser(
        "templates",
        help="device templates: list, show, write a starter config",
        description="Device templates describe a controller: its port, pads, knobs and how its "
        "LEDs are lit, from the maker's MIDI implementation (each cites its source).",
    )
    sub = parser.add_subparsers(dest="templates_command", metavar="SUBCOMMAND", required=True)
    listing = sub.add_parser("list", help="the shipped templates")
    add_json_option(listing)
    listing.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one template in full")
    show.add_argument("name", help="template name (or a template .toml file)")
    add_json_option(show)
    show.set_defaults(handler=cmd_show)
    use = sub.add_parser(
        "use",
        help="write a starter config for a template",
        description="Write a config with every pad of the device mapped to a harmless "
        "placeholder action, and LED feedback on when the device's LEDs can be driven.",
    )
    use.add_argument("name", help="template name (or a template .toml file)")
    use.add_argument(
        "--output", "-o", type=Path, default=Path("config.toml"),
        help="where to write it (default: ./config.toml)",
    )  # fmt: skip
    use.add_argument("--force", action="store_true", help="overwrite an existing file")
    use.set_defaults(handler=cmd_use)


def cmd_list(args: argparse.Namespace) -> int:
    """``templates list``."""
    templates = shipped_templates()
    if args.json:
        print_json([t.to_dict() for t in templates])
        return EXIT_OK
    for t in templates:
        leds = t.leds.message if t.leds.drivable else "no LED control"
        print(f"{t.name:<22} {t.title}  [{len(t.pads)} pads, LEDs: {leds}]")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    """``templates show NAME``."""
    t = find_template(args.name)
    if args.json:
        print_json(t.to_dict())
        return EXIT_OK
    print(f"{t.name}: {t.title}")
    print(f"  source:      {t.source}")
    print(f"  input port:  {t.port or '(none: set [device] name)'}")
    print(f"  output port: {t.output_port or '(none)'}")
    print(f"  pads:        channel {t.pad_channel + 1}, notes {', '.join(map(str, t.pads))}")
    if t.knobs:
        print(f"  knobs:       channel {t.knob_channel + 1}, CCs {', '.join(map(str, t.knobs))}")
    if t.leds.drivable:
        colors = ", ".join(f"{k}={v}" for k, v in t.leds.colors.items())
        levels = t.leds.brightness_channels
        print(f"  LEDs:        {t.leds.message} on channel {t.leds.channel + 1}, off={t.leds.off}, "
              f"colours {colors}")  # fmt: skip
        print(f"               press shows {t.leds.press}" + (
            f", brightness by velocity over channels {', '.join(str(c + 1) for c in levels)}"
            if levels else ", no brightness levels"))  # fmt: skip
    else:
        print("  LEDs:        not driven (no documented LED messages)")
    for message in t.init:
        print(f"  init:        {message.hex(' ').upper()}")
    for note in t.unconfirmed:
        print(f"  unconfirmed: {note}")
    return EXIT_OK


def cmd_use(args: argparse.Namespace) -> int:
    """``templates use NAME``: write the starter config; refuse to overwrite without --force."""
    template = find_template(args.name)
    target: Path = args.output.expanduser()
    if target.exists() and not args.force:
        raise CliError(f"{target} exists; not overwritten (use --force to replace it)")
    text = starter_config(template)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(target)
    print(f"wrote {target}: {len(template.pads)} pads of {template.title}")
    print(f"check it with: midimon validate {target}")
    return EXIT_OK
