"""``midimon devices``: list the MIDI input and output ports each MIDI API sees, and which
shipped device template matches each port."""

from __future__ import annotations

import argparse
from typing import Any

from midimon.cli.common import EXIT_FAILED, EXIT_OK, add_json_option, print_json
from midimon.engine.device_templates import DeviceTemplate, shipped_templates
from midimon.errors import MidiError
from midimon.midi import API_NAMES, compiled_apis, list_ports


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``devices``."""
    parser = commands.add_parser(
        "devices",
        help="list MIDI input and output ports",
        description="List the MIDI ports every compiled MIDI API (JACK, ALSA, ...) can see, or "
        "only --api's. Exit status 0 when at least one API answered, 1 when none did.",
    )
    parser.add_argument(
        "--api",
        type=str.lower,
        choices=API_NAMES,
        help=f"only this MIDI API (compiled here: {', '.join(compiled_apis()) or 'none'})",
    )
    add_json_option(parser)
    parser.set_defaults(handler=cmd_devices)


def template_for(port: str, templates: list[DeviceTemplate]) -> str | None:
    """The name of the first template whose port pattern matches ``port``, or None."""
    return next((t.name for t in templates if t.matches(port)), None)


def collect(api: str | None) -> list[dict[str, Any]]:
    """One entry per API: its ports (each with the template that matches it, or None), or the
    error that kept it from starting."""
    results: list[dict[str, Any]] = []
    templates = shipped_templates()
    for name in [api] if api else list(compiled_apis()):
        try:
            ports = list_ports(name).to_dict()
            del ports["compiled_apis"]
            for direction in ("inputs", "outputs"):
                for port in ports[direction]:
                    port["template"] = template_for(port["name"], templates)
            results.append(ports)
        except MidiError as exc:
            results.append({"api": name, "error": str(exc)})
    return results


def cmd_devices(args: argparse.Namespace) -> int:
    """``devices``."""
    results = collect(args.api)
    ok = any("error" not in entry for entry in results)
    if args.json:
        print_json({"compiled_apis": list(compiled_apis()), "apis": results})
        return EXIT_OK if ok else EXIT_FAILED
    print(f"compiled MIDI APIs: {', '.join(compiled_apis()) or 'none'}")
    for entry in results:
        print(f"\n{entry['api']}:")
        if "error" in entry:
            print(f"  unavailable: {entry['error']}")
            continue
        for direction in ("inputs", "outputs"):
            ports = entry[direction]
            print(f"  {direction}:" + ("" if ports else " none"))
            for port in ports:
                match = f"  [template: {port['template']}]" if port["template"] else ""
                print(f"    {port['index']:>3}  {port['name']}{match}")
    return EXIT_OK if ok else EXIT_FAILED
