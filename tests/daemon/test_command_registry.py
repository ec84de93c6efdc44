"""The command registry: names are checked, duplicates refused, built-ins answer HELLO/PING."""

from __future__ import annotations

import os
import time

import pytest

from midimon.daemon.command_registry import CommandRegistry, RequestContext
from midimon.daemon.control_protocol import PROTOCOL_VERSION, CommandError, ErrorCode


def context(command: str) -> RequestContext:
    return RequestContext(1, command, 1, None, time.monotonic() - 5)


def test_register_checks_names_and_refuses_duplicates() -> None:
    """A lower-case name or a second registration of a name is a programming error."""
    registry = CommandRegistry(builtins=False)
    registry.register("STATUS", lambda args, ctx: {})
    with pytest.raises(ValueError, match="must match"):
        registry.register("status", lambda args, ctx: {})
    with pytest.raises(ValueError, match="already registered"):
        registry.register("STATUS", lambda args, ctx: {})
    assert registry.names() == ["STATUS"]
    assert registry.get("NOPE") is None


def test_builtins_answer_hello_and_ping() -> None:
    """HELLO checks the protocol version; PING reports pid and uptime."""
    registry = CommandRegistry(daemon_version="9.9")
    hello = registry.get("HELLO")
    assert hello is not None and hello.timeout is None
    assert hello.handler({"protocol": PROTOCOL_VERSION}, context("HELLO")) == {
        "protocol": PROTOCOL_VERSION,
        "version": "9.9",
        "pid": os.getpid(),
    }
    with pytest.raises(CommandError) as info:
        hello.handler({"protocol": PROTOCOL_VERSION + 1}, context("HELLO"))
    assert info.value.code == ErrorCode.VERSION_MISMATCH
    ping = registry.get("PING")
    assert ping is not None
    assert ping.handler({}, context("PING"))["uptime"] >= 5


def test_events_refuses_bad_type_filters() -> None:
    """EVENTS needs a list of type names, or nothing."""
    events = CommandRegistry().get("EVENTS")
    assert events is not None
    with pytest.raises(CommandError) as info:
        events.handler({"types": "midi"}, context("EVENTS"))
    assert info.value.code == ErrorCode.BAD_ARGS
