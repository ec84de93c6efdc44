"""Run the panel: bind loopback only (127.0.0.1 and ::1, one port), write the runtime record,
serve until stopped, remove the record. No access log: request lines could carry the token."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable

from aiohttp import web

from midimon.ui.app import make_app
from midimon.ui.daemon_link import DaemonLink
from midimon.ui.errors import PanelError
from midimon.ui.runtime_file import PanelRecord, remove_record, write_record
from midimon.ui.security import LOGIN_PATH, Guard, new_token

log = logging.getLogger("midimon.ui")

BIND_ATTEMPTS = 20


def _listen(host: str, family: socket.AddressFamily, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_loopback(port: int = 0) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 and (when this host has IPv6) ::1, on the same port;
    ``port`` 0 picks a free one. Never a wildcard or a routable address."""
    for _ in range(BIND_ATTEMPTS if port == 0 else 1):
        try:
            v4 = _listen("127.0.0.1", socket.AF_INET, port)
        except OSError as exc:
            raise PanelError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        chosen = v4.getsockname()[1]
        try:
            return [v4, _listen("::1", socket.AF_INET6, chosen)]
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE and port == 0:
                v4.close()  # that port is taken on ::1: pick another for both
                continue
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                log.info("no IPv6 loopback here: the panel listens on 127.0.0.1 only")
                return [v4]
            v4.close()
            raise PanelError(f"cannot listen on [::1]:{chosen}: {exc.strerror}") from None
    raise PanelError("no port was free on both 127.0.0.1 and ::1")


def panel_url(port: int, token: str) -> str:
    """The URL that logs a browser in (its token is exchanged for a cookie at once)."""
    return f"http://127.0.0.1:{port}{LOGIN_PATH}?token={token}"


async def serve(
    port: int = 0,
    *,
    socket_path: str | None = None,
    on_ready: Callable[[PanelRecord], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve the panel until ``stop`` is set (or SIGINT/SIGTERM); ``on_ready`` gets the record
    once the sockets listen and the record file is written."""
    sockets = bind_loopback(port)
    chosen = sockets[0].getsockname()[1]
    token = new_token()
    guard = Guard(chosen, token)
    link = DaemonLink(socket_path)
    runner = web.AppRunner(make_app(link, guard), access_log=None, handle_signals=False)
    await runner.setup()
    for sock in sockets:
        await web.SockSite(runner, sock, shutdown_timeout=1.0).start()
    record = PanelRecord(url=panel_url(chosen, token), port=chosen, pid=os.getpid(), token=token)
    write_record(record)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        if on_ready is not None:
            on_ready(record)
        await stop.wait()
    finally:
        remove_record(record.pid)
        await runner.cleanup()
