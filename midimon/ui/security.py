"""The panel's guard: loopback Host names only (DNS rebinding), a one-time exchange of the
start token for an HttpOnly SameSite=Strict session cookie, the session on every request, the
session's key in a header on every API request, the panel's own Origin on every state-changing
one, and strict headers.

A local web server is reachable from every page the user's browser opens; each check here
closes one road such a page (or another local process) would take. The key goes beyond the
usual CSRF token because cookies do not keep to a port: the browser would send the session
cookie to any other server on 127.0.0.1 the user visits (one a plugin granted Network could
run). The key reaches the page only in the login redirect's URL fragment, which is never sent
to any server; the page keeps it in sessionStorage. A cookie alone opens no API.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

COOKIE_PREFIX = "midimon_panel_"  # + the port: two panels' cookies do not overwrite each other
CSRF_HEADER = "X-CSRF-Token"
EVENTS_PATH = "/api/events"  # EventSource cannot send headers: the key comes as ?key= there
STREAM_PATHS = frozenset({EVENTS_PATH, "/api/console"})  # every EventSource the page opens
LOGIN_PATH = "/login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "[::1]", "localhost")

#: No inline script or style, nothing from another origin, no framing, no plugins.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    """A random 256-bit token, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """One browser's login: its key (sent as the CSRF header) and when it was made."""

    csrf: str
    created: float = field(default_factory=time.time)


class Guard:
    """The checks for one panel run, bound to its ``port`` and start ``token``."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self._token = token
        self._sessions: dict[str, Session] = {}
        self.allowed_hosts = frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)
        self.allowed_origins = frozenset(f"http://{host}" for host in self.allowed_hosts)
        self.cookie_name = f"{COOKIE_PREFIX}{port}"

    def login(self, offered: str) -> tuple[str, Session] | None:
        """A new session (its id and itself) when ``offered`` is the start token (compared in
        constant time), else None."""
        if not offered or not hmac.compare_digest(offered.encode(), self._token.encode()):
            return None
        sid = secrets.token_urlsafe(32)
        session = self._sessions[sid] = Session(csrf=secrets.token_urlsafe(32))
        return sid, session

    def session(self, request: web.Request) -> Session | None:
        """The request's session, from its cookie, or None."""
        sid = request.cookies.get(self.cookie_name, "")
        for known, session in self._sessions.items():
            if hmac.compare_digest(sid.encode(), known.encode()):
                return session
        return None

    def host_ok(self, request: web.Request) -> bool:
        """The Host header names loopback and this port (a rebinding attacker's name fails)."""
        return request.headers.get("Host", "").lower() in self.allowed_hosts

    def origin_ok(self, request: web.Request) -> bool:
        """The Origin header is this panel's own (browsers send it on every POST)."""
        return request.headers.get("Origin", "").lower() in self.allowed_origins

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request passes here first; every answer leaves with the security headers."""
        try:
            response = await self._checked(request, handler)
        except web.HTTPException as exc:  # raised by a handler or the router (404, 405, 413)
            response = web.Response(status=exc.status, text=exc.text, headers=exc.headers)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _checked(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_ok(request):
            return _refuse(403, "Host not allowed: open the panel by the URL `midimon ui --url` "
                           "prints")  # fmt: skip
        if request.path == LOGIN_PATH and request.method == "GET":
            return self._exchange(request)
        session = self.session(request)
        if session is None:
            return _refuse(401, "not logged in: open the URL `midimon ui --url` prints (it "
                           "carries this panel's token)")  # fmt: skip
        if request.method not in SAFE_METHODS and not self.origin_ok(request):
            return _refuse(403, "cross-origin request refused")
        if request.path.startswith("/api/"):
            offered = request.headers.get(CSRF_HEADER, "")
            if request.path in STREAM_PATHS and request.method == "GET":
                offered = offered or request.query.get("key", "")
            if not offered or not hmac.compare_digest(offered.encode(), session.csrf.encode()):
                return _refuse(403, f"missing or wrong {CSRF_HEADER} header (the session "
                               "cookie alone opens nothing)")  # fmt: skip
        request["session"] = session
        return await handler(request)

    def _exchange(self, request: web.Request) -> web.StreamResponse:
        """``/login?token=T``: the token becomes a session cookie and the session's key, then
        a redirect strips the token from the address bar (and the history). The key rides in
        the redirect's fragment, which no request carries; the page removes it at once."""
        found = self.login(request.query.get("token", ""))
        if found is None:
            return _refuse(401, "wrong or missing token: open the URL `midimon ui --url` "
                           "prints")  # fmt: skip
        sid, session = found
        response = web.Response(status=303, headers={"Location": f"/#session={session.csrf}"})
        response.set_cookie(
            self.cookie_name, sid, httponly=True, samesite="Strict", path="/", secure=False
        )
        return response


def _refuse(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")
