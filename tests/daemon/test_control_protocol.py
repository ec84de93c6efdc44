"""The control protocol's framing: request lines parse or fail with a numbered error."""

from __future__ import annotations

import json

import pytest

from midimon.daemon.control_protocol import (
    CLOSES_CONNECTION,
    CommandError,
    ErrorCode,
    Request,
    describe_error,
    encode,
    error,
    ok,
    parse_request,
)


def test_request_line_parses_with_args_defaulting_to_empty() -> None:
    """A request without args gets an empty table; ids may be integers or strings."""
    assert parse_request(b'{"id": 1, "command": "PING"}') == Request(1, "PING", {})
    line = b'{"id": "a", "command": "STATUS", "args": {"x": 1}}'
    assert parse_request(line) == Request("a", "STATUS", {"x": 1})


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        (b"{not json", ErrorCode.BAD_JSON, "not UTF-8 JSON"),
        (b'{"id": 1, "command": "PING", "x": NaN}', ErrorCode.BAD_JSON, "NaN is not JSON"),
        (b"[1]", ErrorCode.BAD_REQUEST, "JSON object"),
        (b'{"id": true, "command": "PING"}', ErrorCode.BAD_REQUEST, '"id"'),
        (b'{"id": 1, "command": "ping"}', ErrorCode.BAD_REQUEST, "upper-case"),
        (b'{"id": 1, "command": "PING", "args": []}', ErrorCode.BAD_REQUEST, '"args"'),
        (b'{"id": 1, "command": "PING", "extra": 1}', ErrorCode.BAD_REQUEST, "extra"),
    ],
)
def test_bad_request_lines_name_the_fault(line: bytes, code: ErrorCode, words: str) -> None:
    """Each malformed line is refused with its error code and what is wrong."""
    with pytest.raises(CommandError) as info:
        parse_request(line)
    assert info.value.code == code
    assert words in info.value.message


def test_bad_request_after_the_id_carries_it() -> None:
    """Once the id was read, the error names it so the answer can carry it."""
    with pytest.raises(CommandError) as info:
        parse_request(b'{"id": 7, "command": "bad"}')
    assert info.value.request_id == 7


def test_encode_is_one_compact_line_and_refuses_nan() -> None:
    """Responses are compact UTF-8 JSON lines; values JSON cannot carry are refused."""
    assert encode(ok(1, "é")) == '{"id":1,"status":"ok","data":"é"}\n'.encode()
    wire = json.loads(encode(error(None, ErrorCode.BUSY, "full")))
    assert wire["error"] == {"code": int(ErrorCode.BUSY), "message": "full"}
    with pytest.raises(ValueError):
        encode(ok(1, float("nan")))


def test_describe_error_falls_back_to_the_class_name() -> None:
    """A handler's exception without a message is described by its class."""
    assert describe_error(KeyError()) == "KeyError"
    assert describe_error(ValueError("bad x")) == "bad x"


def test_version_mismatch_closes_the_connection() -> None:
    """The table says which errors end a connection."""
    assert ErrorCode.VERSION_MISMATCH in CLOSES_CONNECTION
    assert ErrorCode.BAD_JSON not in CLOSES_CONNECTION
