"""``midimon ui``: start the browser control panel for the running daemon."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from midimon.cli.common import EXIT_OK, EXIT_USAGE, CliError, add_json_option, print_json

if TYPE_CHECKING:  # imported where used: `midimon ui --help` should not load aiohttp
    from midimon.ui.runtime_file import PanelRecord

EXIT_NO_DAEMON = 3  # as for every command that needs the daemon (control_protocol)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ui``."""
    parser = commands.add_parser(
        "ui",
        help="open the control panel (plugins, approvals, statistics) in the browser",
        description=(
            "Start the control panel for the running daemon: a web server on 127.0.0.1 and "
            "::1 only, in this process, until Ctrl-C. Prints its URL (with a one-time login "
            "token) and opens the browser. Another panel already running is reused."
        ),
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the URL, do not open a browser"
    )
    parser.add_argument(
        "--url",
        action="store_true",
        help="print the URL of the panel already running (exit 2 when none is)",
    )
    parser.add_argument(
        "--port", type=int, default=0, metavar="N", help="listen on port N (default: a free one)"
    )
    add_json_option(parser)
    parser.set_defaults(handler=cmd_ui)


def _show(record: PanelRecord, as_json: bool) -> None:
    if as_json:
        print_json(record.as_public_dict())
    else:
        print(f"midimon control panel: {record.url}")
    sys.stdout.flush()


def _open_browser(url: str) -> None:
    import webbrowser

    if not webbrowser.open(url):
        print("(no browser could be opened: open the URL above yourself)", file=sys.stderr)


def cmd_ui(args: argparse.Namespace) -> int:
    """``ui``."""
    from midimon.ui.runtime_file import read_running_panel

    running = read_running_panel()
    if args.url:
        if running is None:
            raise CliError("no control panel is running; start one with: midimon ui", EXIT_USAGE)
        _show(running, args.json)
        return EXIT_OK
    from midimon.cli.daemon_link import daemon_running

    if not daemon_running():
        raise CliError(
            "midimon is not running, and the panel needs the daemon; start it with: midimon run",
            EXIT_NO_DAEMON,
        )
    if running is not None:
        print(f"a control panel is already running (pid {running.pid}):", file=sys.stderr)
        _show(running, args.json)
        if not args.no_browser:
            _open_browser(running.url)
        return EXIT_OK
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port}: a port is 0..65535 (0: a free one)")
    import asyncio

    from midimon.ui.errors import PanelError
    from midimon.ui.server import serve

    def ready(record: PanelRecord) -> None:
        _show(record, args.json)
        if not args.no_browser:
            _open_browser(record.url)

    try:
        asyncio.run(serve(args.port, on_ready=ready))
    except PanelError as exc:
        raise CliError(str(exc)) from None
    return EXIT_OK
