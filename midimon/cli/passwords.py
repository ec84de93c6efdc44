"""Reading key passwords: a prompt on a terminal, one line of stdin otherwise (for scripts)."""

from __future__ import annotations

import getpass
import sys

from midimon.cli.common import CliError


def read_password(prompt: str, confirm: bool = False) -> bytes:
    """Ask for a password; with ``confirm`` a terminal asks twice."""
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Password (one more time): ") != first:
            raise CliError("the passwords do not match")
        return first.encode("utf-8")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise CliError("a password is needed: type it on a terminal or pipe it on stdin")
    return line.rstrip("\r\n").encode("utf-8")
