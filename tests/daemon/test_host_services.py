"""midimon.daemon.host_services: what the daemon gives plugins. A real plugin in its sandboxed
worker lights a pad through the "midimon.leds/1" extension and the daemon's LED feedback."""

from __future__ import annotations

import time
from pathlib import Path

from helpers import wait_for

WHITE, BLUE = 3, 45  # the APC mini mk2 template's palette values
FULL = 0x96  # Note On, channel 7: solid at 100%


class RecordingPort:
    """An output port that keeps what it is sent (real ports: the JACK tests above)."""

    port_name = "recorder"
    is_open = True

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def close(self) -> None:
        """Nothing to release."""


def test_a_plugin_lights_a_pad_through_the_leds_extension(
    isolated_dirs, make_plugin, tmp_path: Path
) -> None:
    """A real plugin in its sandboxed worker calls set_pad(its trigger's note, "blue")
    from execute(): the daemon's LED feedback sends exactly that pad's message; a colour the
    device lacks comes back to the plugin as INVALID_PARAMS and sends nothing."""
    from midimon.daemon.service import Daemon
    from midimon.engine.device_templates import find_template

    plugins = make_plugin(
        "led_state",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SET_LED": '"blue"'},
        manifest={"capabilities": {"midi": True}},
    ).parent
    make_plugin(
        "led_bad",
        defines={"P_CAPS": "MIDIMON_CAP_MIDI", "P_SET_LED": '"ultraviolet"'},
        manifest={"capabilities": {"midi": True}},
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f'[plugins]\ndirs = ["{plugins}"]\ndev_mode = true\n'
        '[feedback]\nenabled = true\ntemplate = "apc-mini-mk2"\n'
        '[[modes]]\nname = "Default"\ncolor = "red"\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 20 }\n'
        'action = { type = "Plugin", plugin = "led_state" }\n'
        '[[modes.mappings]]\ntrigger = { type = "Note", note = 21 }\n'
        'action = { type = "Plugin", plugin = "led_bad" }\n'
    )
    daemon = Daemon(config)
    port = RecordingPort()
    assert daemon.feedback is not None
    daemon.feedback.start(find_template("apc-mini-mk2"), daemon.config, "Default", lambda _: port)
    daemon.start()
    try:
        assert wait_for(lambda: len(port.sent) == 64, 10)
        daemon.feed(bytes([0x90, 20, 127]))  # the press, then the plugin's LED
        assert wait_for(lambda: daemon.counters.actions_ok == 1, 30), daemon.counters
        assert wait_for(lambda: len(port.sent) == 66, 10)
        assert port.sent[64:] == [bytes([FULL, 20, WHITE]), bytes([FULL, 20, BLUE])]
        daemon.feed(bytes([0x90, 21, 127]))
        assert wait_for(lambda: daemon.counters.actions_failed == 1, 30), daemon.counters
        time.sleep(0.2)
        assert port.sent[66:] == [bytes([FULL, 21, WHITE])]  # the press only
    finally:
        daemon.stop()
