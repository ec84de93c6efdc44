"""The bundled C plugin http_request, run through `midimon plugins exec` against local servers.

Every server here listens on 127.0.0.1 only, on a port the OS picks.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers import RunMidimon

PLUGIN = "http_request"
USER_AGENT = "midimon-http_request/1.0"
RESPONSE_BODY = b"hello"


@dataclass(frozen=True)
class Request:
    """One request as the test server received it."""

    method: str
    path: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the one header called ``name`` (any case), or None."""
        values = self.header_values(name)
        assert len(values) <= 1, f"{name} sent {len(values)} times: {values}"
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value sent for ``name`` (any case), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


class RecordingServer(ThreadingHTTPServer):
    """An HTTP/1.1 server on 127.0.0.1 that keeps every request it gets."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def hostport(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.server_address[1]}"

    def only_request(self) -> Request:
        """The single request received so far."""
        with self.lock:
            assert len(self.requests) == 1, self.requests
            return self.requests[0]


class _Handler(BaseHTTPRequestHandler):
    """/missing... -> 404; /chunked -> 200 chunked; DELETE -> 204; anything else -> 200 hello."""

    protocol_version = "HTTP/1.1"
    server: RecordingServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests.append(
                Request(self.command, self.path, self.request_version, self.headers.items(), body)
            )
        if self.path.startswith("/missing"):
            self.send_error(404)
        elif self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (b"chunk", b"ed body"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.command == "DELETE":
            self.send_response(204)
            self.send_header("Connection", "close")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(RESPONSE_BODY)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(RESPONSE_BODY)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    """A recording HTTP server on 127.0.0.1, port chosen by the OS."""
    srv = RecordingServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def run_plugin(run_midimon: RunMidimon, params: dict[str, Any] | str, *options: str) -> dict:
    """`plugins exec http_request --json` with a default trigger; ``options`` override it.

    Returns the printed result object, after checking the exit code agrees with ``ok``.
    """
    text = params if isinstance(params, str) else json.dumps(params)
    done = run_midimon(
        "plugins", "exec", PLUGIN, "--params", text,
        "--velocity", "100", "--note", "36", "--channel", "0", "--mode", "Default",
        "--grant", "network", "--json", *options,
    )  # fmt: skip
    assert done.returncode in (0, 1), f"exit {done.returncode}: {done.stderr}"
    result = json.loads(done.stdout)
    assert result["plugin"] == PLUGIN
    assert done.returncode == (0 if result["ok"] else 1), result
    return result


def test_get_substitutes_placeholders_in_the_query(
    run_midimon: RunMidimon, server: RecordingServer
) -> None:
    """GET: {velocity} {note} {channel} {value} {mode} fill the URL, the mode percent-encoded."""
    url = server.base + "/hook?v={velocity}&n={note}&c={channel}&x={value}&m={mode}"
    result = run_plugin(
        run_midimon, {"url": url}, "--channel", "9", "--value", "64", "--mode", "Live Set/2"
    )
    assert result["ok"] is True
    assert (result["status"], result["status_name"]) == (0, "OK")
    assert result["message"] == f"HTTP 200 OK ({len(RESPONSE_BODY)} bytes)"
    request = server.only_request()
    assert request.method == "GET"
    assert request.version == "HTTP/1.1"
    assert request.path == "/hook?v=100&n=36&c=9&x=64&m=Live%20Set%2F2"
    assert request.header("Host") == server.hostport
    assert request.header("User-Agent") == USER_AGENT
    assert request.header("Connection") == "close"
    assert request.header("Content-Length") is None  # no body, and GET does not expect one
    assert request.body == b""
    assert result["midi_sent"] == []
    assert [entry["level"] for entry in result["logs"]] == ["debug", "debug"]
    assert result["logs"][0]["message"].startswith("http_request 1.0.0 initialized")
    assert result["logs"][1]["message"] == f"GET {server.base}{request.path}"


def test_post_json_body_is_substituted_and_typed(
    run_midimon: RunMidimon, server: RecordingServer
) -> None:
    """POST: a JSON body object has placeholders filled in its strings, goes out compact JSON."""
    body = {
        "event": "pad {note}",
        "velocity": "{velocity}",
        "mode": "{mode}",
        "nested": {"list": [1, 2.5, True, None, "ch{channel}"], "{value}": "key too"},
    }
    result = run_plugin(
        run_midimon, {"url": server.base + "/post", "method": "POST", "body": body},
        "--mode", 'Say "hi"', "--value", "-3",
    )  # fmt: skip
    assert result["ok"] is True, result
    request = server.only_request()
    assert request.method == "POST"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Content-Length") == str(len(request.body))
    expected = {
        "event": "pad 36",
        "velocity": "100",
        "mode": 'Say "hi"',
        "nested": {"list": [1, 2.5, True, None, "ch0"], "-3": "key too"},
    }
    assert request.body == json.dumps(expected, separators=(",", ":")).encode()


def test_string_body_is_sent_as_is_and_user_content_type_wins(
    run_midimon: RunMidimon, server: RecordingServer
) -> None:
    """A string body is sent verbatim (placeholders filled); a user Content-Type is kept."""
    params = {
        "url": server.base + "/form",
        "method": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "body": "note={note}&velocity={velocity}&raw={unknown}",
    }
    result = run_plugin(run_midimon, params)
    assert result["ok"] is True, result
    request = server.only_request()
    assert request.body == b"note=36&velocity=100&raw={unknown}"
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.header("Content-Length") == str(len(request.body))


def test_json_body_respects_a_user_content_type(
    run_midimon: RunMidimon, server: RecordingServer
) -> None:
    """A JSON body with the user's own Content-Type sends theirs, and only theirs."""
    params = {
        "url": server.base + "/typed",
        "method": "PUT",
        "headers": {"content-type": "application/vnd.midimon+json"},
        "body": [1, "{velocity}"],
    }
    result = run_plugin(run_midimon, params)
    assert result["ok"] is True, result
    request = server.only_request()
    assert request.header("Content-Type") == "application/vnd.midimon+json"
    assert request.body == b'[1,"100"]'


def test_custom_headers_arrive(run_midimon: RunMidimon, server: RecordingServer) -> None:
    """User headers are sent, with placeholders filled in their values; Host/User-Agent win."""
    params = {
        "url": server.base + "/h",
        "headers": {
            "Authorization": "Bearer s3cret",
            "X-Midi-Note": "{note}",
            "X-Mode": "{mode} mode",
            "User-Agent": "my-agent/2",
        },
    }
    result = run_plugin(run_midimon, params, "--mode", "Edit")
    assert result["ok"] is True, result
    request = server.only_request()
    assert request.header("Authorization") == "Bearer s3cret"
    assert request.header("X-Midi-Note") == "36"
    assert request.header("X-Mode") == "Edit mode"
    assert request.header("User-Agent") == "my-agent/2"
    assert request.header("Host") == server.hostport


@pytest.mark.parametrize(
    ("method", "expected_message"),
    [("PUT", "HTTP 200 OK (5 bytes)"), ("DELETE", "HTTP 204 No Content (0 bytes)")],
)
def test_put_and_delete(
    run_midimon: RunMidimon, server: RecordingServer, method: str, expected_message: str
) -> None:
    """PUT and DELETE (any case) are sent as such; a 204 counts as success with 0 bytes."""
    params = {"url": server.base + "/item/{note}", "method": method.lower(), "body": "x"}
    result = run_plugin(run_midimon, params)
    assert result["ok"] is True, result
    assert result["message"] == expected_message
    request = server.only_request()
    assert (request.method, request.path, request.body) == (method, "/item/36", b"x")
    assert request.header("Content-Length") == "1"


def test_chunked_response_body_is_counted(run_midimon: RunMidimon, server: RecordingServer) -> None:
    """A chunked response is read to its last chunk; the message counts the decoded bytes."""
    result = run_plugin(run_midimon, {"url": server.base + "/chunked"})
    assert result["ok"] is True, result
    assert result["message"] == "HTTP 200 OK (12 bytes)"


def test_404_is_a_failure_naming_the_status(
    run_midimon: RunMidimon, server: RecordingServer
) -> None:
    """A non-2xx answer exits 1 with ERR_FAILED, the status and the URL in the message."""
    result = run_plugin(run_midimon, {"url": server.base + "/missing?n={note}"})
    assert result["ok"] is False
    assert result["status_name"] == "ERR_FAILED"
    assert result["message"] == f"HTTP 404 Not Found from {server.base}/missing?n=36"


def test_timeout_when_the_server_never_answers(run_midimon: RunMidimon) -> None:
    """A server that accepts but never replies gives ERR_TIMEOUT after about timeout_ms."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        port = silent.getsockname()[1]
        result = run_plugin(
            run_midimon, {"url": f"http://127.0.0.1:{port}/slow", "timeout_ms": 500}
        )
    assert result["ok"] is False
    assert result["status_name"] == "ERR_TIMEOUT"
    assert "timed out after 500 ms" in result["message"]
    assert f"127.0.0.1:{port}" in result["message"]
    assert 450 <= result["elapsed_ms"] <= 500 + 1500


def test_connection_refused_is_readable(run_midimon: RunMidimon) -> None:
    """Nothing listening: exit 1, ERR_FAILED, a message with host:port and the OS reason."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_plugin(run_midimon, {"url": f"http://127.0.0.1:{port}/"})
    assert result["ok"] is False
    assert result["status_name"] == "ERR_FAILED"
    assert result["message"] == f"cannot connect to 127.0.0.1:{port}: Connection refused"


def test_invalid_json_params_are_refused_by_the_cli(run_midimon: RunMidimon) -> None:
    """Invalid JSON in --params never reaches the plugin: the CLI exits 2 (usage error)."""
    done = run_midimon("plugins", "exec", PLUGIN, "--params", '{"url": ', "--json")
    assert done.returncode == 2
    assert "not valid JSON" in done.stderr


def test_missing_url_names_the_field(run_midimon: RunMidimon) -> None:
    """No url: exit 1 with ERR_INVALID_PARAMS and a message naming 'url'."""
    result = run_plugin(run_midimon, {"method": "GET"})
    assert result["status_name"] == "ERR_INVALID_PARAMS"
    assert "'url'" in result["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"url": "http://127.0.0.1:9/", "method": "PATCH"}, "'method'"),
        ({"url": "http://127.0.0.1:9/", "timeout_ms": "fast"}, "'timeout_ms'"),
        ({"url": "http://127.0.0.1:9/", "timeout_ms": 0}, "'timeout_ms'"),
        ({"url": "http://127.0.0.1:9/", "headers": {"X-N": 1}}, "'headers.X-N'"),
        ({"url": "http://127.0.0.1:9/", "headers": ["X-N: 1"]}, "'headers'"),
        ({"url": "http://127.0.0.1:9/", "headers": {"Content-Length": "9"}}, "Content-Length"),
        ({"url": "http://127.0.0.1:9/", "timout_ms": 100}, "'timout_ms'"),
        ({"url": 80}, "'url'"),
        ({"url": "ftp://127.0.0.1/"}, "'url'"),
        ({"url": "http://127.0.0.1:99999/"}, "'url'"),
    ],
)
def test_bad_params_name_the_field(
    run_midimon: RunMidimon, params: dict[str, Any], field: str
) -> None:
    """Each bad field is ERR_INVALID_PARAMS with the field named; nothing is sent."""
    result = run_plugin(run_midimon, params)
    assert result["status_name"] == "ERR_INVALID_PARAMS", result
    assert field in result["message"]


def test_header_injection_through_a_placeholder_is_refused(
    run_midimon: RunMidimon, server: RecordingServer
) -> None:
    """A mode name with CR/LF substituted into a header is refused, not sent."""
    params = {"url": server.base + "/", "headers": {"X-Mode": "{mode}"}}
    result = run_plugin(run_midimon, params, "--mode", "a\r\nX-Evil: 1")
    assert result["status_name"] == "ERR_INVALID_PARAMS"
    assert "'headers.X-Mode'" in result["message"]
    assert server.requests == []


def test_https_is_unsupported(run_midimon: RunMidimon) -> None:
    """An https:// URL is ERR_UNSUPPORTED: this example plugin has no TLS."""
    result = run_plugin(run_midimon, {"url": "https://127.0.0.1/"})
    assert result["status_name"] == "ERR_UNSUPPORTED"
    assert "TLS is not supported by this example plugin" in result["message"]


# -- Straight through the C ABI: what the CLI cannot send ------------------------------------


@pytest.fixture
def plugin_abi(run_midimon: RunMidimon) -> Iterator[Any]:
    """The installed http_request binary, loaded in this process, initialized; yields a caller.

    The caller takes raw params bytes (handed over in a buffer of exactly that size, with no
    NUL after it) and a message capacity, and returns (status, message bytes up to the NUL).
    """
    from midimon.plugins.loading import abi as abi_mod

    done = run_midimon("plugins", "info", PLUGIN, "--json")
    assert done.returncode == 0, done.stderr
    binary = Path(json.loads(done.stdout)["binary"])
    ffi = abi_mod.ffi()
    lib = ffi.dlopen(str(binary))
    plugin = lib._create_plugin()
    logs: list[str] = []

    @ffi.callback(dict(ffi.typeof("midimon_host_t").fields)["log"].type)
    def log_cb(_host: Any, _level: int, message: Any) -> None:
        logs.append(ffi.string(message).decode())

    host = ffi.new("midimon_host_t *")
    host.abi_major = abi_mod.constant("MIDIMON_ABI_MAJOR")
    host.abi_minor = abi_mod.constant("MIDIMON_ABI_MINOR")
    host.struct_size = ffi.sizeof("midimon_host_t")
    names = (ffi.new("char[]", b"midimon"), ffi.new("char[]", b"test"))
    host.host_name, host.host_version = names
    host.log = log_cb
    mode = ffi.new("char[]", b"Default")
    context = ffi.new("midimon_trigger_context_t *")
    context.struct_size = ffi.sizeof("midimon_trigger_context_t")
    context.mode = mode
    assert plugin.initialize(plugin, host) == 0
    assert len(logs) == 1

    def call(raw: bytes, message_cap: int = 512) -> tuple[int, bytes]:
        params = ffi.new("char[]", max(len(raw), 1))
        ffi.memmove(params, raw, len(raw))
        message = ffi.new("char[]", message_cap)
        ffi.memmove(message, b"\xff" * message_cap, message_cap)
        status = plugin.execute(plugin, params, len(raw), context, message, message_cap)
        text = ffi.buffer(message, message_cap)[:]
        assert b"\0" in text, "message not NUL-terminated within message_cap"
        return status, text[: text.index(b"\0")]

    keep_alive = (lib, log_cb, host, names, mode, context)
    try:
        yield call
    finally:
        plugin.shutdown(plugin)
        plugin.destroy(plugin)
        del keep_alive


@pytest.mark.parametrize(
    ("raw", "offset"),
    [
        (b'{"url": ', 8),
        (b'{"url": "http://x/",}', 20),
        (b'{"url": "http://x/" "method"}', 20),
        (b'{"url": "\\ud800"}', 9),
        (b'{"url": "\xc3("}', 9),
        (b'{"url": [' + b"[" * 100 + b"]" * 100 + b"]}", 71),  # the 65th level
        (b'{"url": "http://x/"} trailing', 21),
    ],
)
def test_plugin_reports_invalid_json_with_the_byte_offset(
    plugin_abi: Any, raw: bytes, offset: int
) -> None:
    """Invalid params JSON is ERR_INVALID_PARAMS with the byte offset; nesting is bounded."""
    status, message = plugin_abi(raw)
    assert status == 2, message
    assert message.startswith(b"invalid JSON params at byte %d: " % offset), message


def test_plugin_parses_escapes_and_truncates_messages(plugin_abi: Any) -> None:
    """\\uXXXX escapes decode (surrogate pairs too); messages are cut to fit message_cap."""
    status, message = plugin_abi(b'{"url": "\\u0068ttps://\\ud83c\\udfb9.example/"}')
    assert status == 4, message  # decoded to https://...: the TLS refusal, not a JSON error
    status, message = plugin_abi(b'{"url": "https://x/"}', message_cap=8)
    assert (status, message) == (4, b"https:/")
    status, message = plugin_abi(b'{"url": "ftp://\xf0\x9f\x8e\xb9"}', message_cap=50)
    assert status == 2  # cut on a character boundary, never inside the 4-byte emoji:
    assert message == b"field 'url' must be an http:// URL, got 'ftp://"
    assert plugin_abi(b'{"url": "https://x/"}', message_cap=1) == (4, b"")
