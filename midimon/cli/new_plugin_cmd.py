"""``midimon new-plugin NAME --lang c|rust|zig``: scaffold a working plugin folder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from midimon.cli.common import EXIT_OK, add_json_option, print_json
from midimon.scaffold import LANGUAGES, PLUGIN_TYPES, create_plugin


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``new-plugin``."""
    parser = commands.add_parser(
        "new-plugin",
        help="create a plugin folder (C, Rust or Zig) that builds with one command",
        description=(
            "Create DIR (default ./NAME) with a working action plugin (or, with --type "
            "trigger, a trigger plugin that emits /tick): plugin.toml, README.md and sources "
            "for the chosen language. Prints the command that builds it and the one that runs "
            "it (or the trigger that maps its events). Refuses an existing non-empty DIR "
            "(exit 2)."
        ),
    )
    parser.add_argument("name", help="plugin name: lowercase letters, digits, underscores")
    parser.add_argument("dir", nargs="?", type=Path, help="folder to create (default ./NAME)")
    parser.add_argument(
        "--lang", required=True, choices=sorted(LANGUAGES), help="the plugin's language"
    )
    parser.add_argument(
        "--capability",
        action="append",
        default=[],
        metavar="CAP",
        help="a capability the plugin asks for (network, filesystem, audio, midi, subprocess, "
        "system_control; repeatable)",
    )
    parser.add_argument(
        "--type",
        dest="plugin_type",
        choices=PLUGIN_TYPES,
        default="action",
        help="action (runs when a mapping fires; the default) or trigger (feeds events in, "
        "like a controller)",
    )
    add_json_option(parser)
    parser.set_defaults(handler=cmd_new_plugin)
    _accept_dir_after_options(parser)


def _accept_dir_after_options(parser: argparse.ArgumentParser) -> None:
    """Let DIR come after the options too (``new-plugin NAME --lang c DIR``).

    Plain argparse fills both positionals from the first run of them (NAME, DIR = nothing) and
    then rejects a later DIR. The subcommand's parser is called through parse_known_args, so
    that call is routed to parse_known_intermixed_args, which itself calls parse_known_args
    (hence the guard against re-entering).
    """
    plain = parser.parse_known_args
    busy = False

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        nonlocal busy
        if busy:
            return plain(args, namespace)
        busy = True
        try:
            return parser.parse_known_intermixed_args(args, namespace)
        finally:
            busy = False

    # Replacing a bound method is the point here (argparse has no hook for it).
    parser.parse_known_args = parse_known_args  # type: ignore[method-assign, assignment]


def cmd_new_plugin(args: argparse.Namespace) -> int:
    made = create_plugin(args.name, args.lang, args.capability, args.dir, args.plugin_type)
    if args.json:
        print_json(made.as_dict())
        return EXIT_OK
    print(f"created {made.path} ({made.language} plugin {made.name!r})")
    for rel in made.files:
        print(f"  {rel}")
    print("build it (in that folder):")
    print(f"  cd {made.path} && {made.build}")
    if args.plugin_type == "trigger":
        print("use it: map its events in your config (README.md shows how):")
        print(f'  trigger = {{ type = "Plugin", plugin = "{made.name}", event = "/tick" }}')
        return EXIT_OK
    print("run it:")
    print(f'  {made.exec} --params \'{{"message": "hi"}}\'')
    return EXIT_OK
