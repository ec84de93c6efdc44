"""The control socket's secret: a random cookie file every client presents in HELLO.

The peer-UID check alone lets in every process of the user, and a plugin's sandboxed worker is
one: with local sockets (Audio, System control, Subprocess) it could connect to the control
socket and grant itself anything. The cookie is 32 random bytes (hex) the daemon writes at each
start, 0600, beside the socket in the runtime dir, which no worker may read (Landlock grants
only the plugin's read paths, and a grant of the runtime dir is refused). A client that cannot
read it cannot drive the daemon.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from midimon.daemon.errors import CookieError  # defined there; importable here as before

COOKIE_BYTES = 32
COOKIE_SUFFIX = ".cookie"


def cookie_path(socket_path: os.PathLike[str] | str) -> Path:
    """The cookie file that goes with a control socket (``midimon.sock`` -> ``midimon.cookie``)."""
    path = Path(socket_path)
    return path.with_name(path.stem + COOKIE_SUFFIX)


def write_cookie(path: Path) -> str:
    """Write a new random cookie to ``path`` (0600, atomically replacing any old one)."""
    cookie = secrets.token_hex(COOKIE_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("x", encoding="ascii") as handle:  # created 0600 below before any byte
            os.fchmod(handle.fileno(), 0o600)
            handle.write(cookie + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except FileExistsError:
        raise CookieError(tmp, "a temporary cookie file is in the way; remove it") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CookieError(path, f"cannot write the control cookie: {exc.strerror}") from None
    return cookie


def read_cookie(path: Path) -> str:
    """The cookie in ``path``; raises CookieError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise CookieError(
            path, "no control cookie (the daemon writes it at start; restart it)"
        ) from None
    except PermissionError:
        raise CookieError(
            path, "cannot read the control cookie: only the user running the daemon may"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CookieError(path, f"cannot read the control cookie: {exc}") from None
    if len(text) != 2 * COOKIE_BYTES:
        raise CookieError(path, "the control cookie is damaged (restart the daemon)")
    return text


def cookie_matches(expected: str, given: object) -> bool:
    """Constant-time comparison of the presented cookie with the daemon's."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def remove_cookie(path: Path, expected: str) -> None:
    """Remove ``path`` if it still holds ``expected`` (a newer daemon's cookie stays)."""
    try:
        found = path.read_text(encoding="ascii").strip()
        if hmac.compare_digest(found.encode("ascii"), expected.encode("ascii")):
            path.unlink()
    except (OSError, UnicodeDecodeError):
        pass  # gone already, or rewritten by another daemon: nothing of ours to remove
