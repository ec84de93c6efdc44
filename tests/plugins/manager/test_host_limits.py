"""The per-plugin caps on host services (log, send_midi), with an injected clock."""

from __future__ import annotations

import logging

import pytest
from helpers import RecordingHost

from midimon.plugins.loading import abi as abi_mod
from midimon.plugins.manager.host_limits import LimitedHost, ServiceLimit
from midimon.plugins.settings import SettingsError, parse_plugin_settings


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limited(
    host: RecordingHost, clock: Clock, reports: list | None = None, rate: float = 10, burst: int = 5
) -> LimitedHost:
    def on_report(*args: object) -> None:
        if reports is not None:
            reports.append(args)

    return LimitedHost(
        host, lambda plugin, service: ServiceLimit(rate, burst), on_report=on_report, clock=clock
    )


def test_log_past_the_burst_is_dropped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    """A burst passes, the rest is dropped; one report at the first drop, then once a second."""
    host, clock, reports = RecordingHost(), Clock(), []
    services = limited(host, clock, reports)
    with caplog.at_level(logging.WARNING, "midimon.plugins"):
        for _ in range(1000):
            services.log("chatty", 1, "line")
    assert len(host.logs) == 5
    assert services.dropped("chatty") == {"log": 995, "send_midi": 0}
    assert reports == [("chatty", "log", 1, 0.0, 1)]  # the rest waits for the next second
    clock.now += 0.5  # 5 tokens back
    for _ in range(10):
        services.log("chatty", 1, "line")
    assert len(host.logs) == 10 and len(reports) == 1
    clock.now += 0.6
    services.log("chatty", 1, "line")  # allowed, and the report of what was dropped meanwhile
    assert len(host.logs) == 11
    assert reports[1][:3] == ("chatty", "log", 999) and reports[1][4] == 1000
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert lines[0] == (
        "chatty: 1 log lines dropped in 0.0 s (cap 10/s, bursts of 5; 1 dropped in all)"
    )
    assert len(lines) == 2


def test_send_midi_past_the_cap_is_refused() -> None:
    """Past the cap send_midi answers MIDIMON_ERR_DENIED and nothing reaches the output."""
    host, clock = RecordingHost(), Clock()
    services = limited(host, clock, rate=1000, burst=20)
    codes = [services.send_midi("arp", b"\x90\x3c\x40") for _ in range(50)]
    assert codes.count(0) == 20 and len(host.midi) == 20
    assert set(codes[20:]) == {abi_mod.constant("MIDIMON_ERR_DENIED")}
    assert services.dropped("arp") == {"log": 0, "send_midi": 30}


def test_one_plugin_flooding_leaves_another_alone() -> None:
    """Buckets are per plugin and per service."""
    host, clock = RecordingHost(), Clock()
    services = limited(host, clock)
    for _ in range(100):
        services.log("flood", 1, "x")
    services.log("quiet", 1, "hello")
    assert services.send_midi("flood", b"\xf8") == 0
    assert host.logs[-1] == ("quiet", 1, "hello")
    assert services.dropped("quiet") == {"log": 0, "send_midi": 0}


def test_new_settings_take_effect_and_keep_the_count() -> None:
    """A reload with other limits builds a new bucket; the dropped count carries over."""
    host, clock = RecordingHost(), Clock()
    limits = {"rate": 10.0, "burst": 1}
    services = LimitedHost(
        host, lambda plugin, service: ServiceLimit(limits["rate"], limits["burst"]), clock=clock
    )
    services.log("p", 1, "a")
    services.log("p", 1, "b")
    assert services.dropped("p")["log"] == 1
    limits["burst"] = 3
    for _ in range(3):
        services.log("p", 1, "c")
    assert len(host.logs) == 4 and services.dropped("p")["log"] == 1


def test_settings_keys_defaults_and_errors() -> None:
    """Defaults 100 lines/s (200 burst) and 1000 messages/s (2000); per plugin overrides;
    a bad value names the key."""
    settings = parse_plugin_settings({"overrides": {"arp": {"send_midi_rate_limit": 4000.0}}})
    default = settings.execution_for("other")
    assert (default.log_rate_limit, default.log_rate_burst) == (100.0, 200)
    assert (default.send_midi_rate_limit, default.send_midi_rate_burst) == (1000.0, 2000)
    assert settings.execution_for("arp").send_midi_rate_limit == 4000.0
    with pytest.raises(SettingsError, match=r"plugins\.log_rate_burst: must be greater than 0"):
        parse_plugin_settings({"log_rate_burst": 0})
