"""The bundled Rust trigger plugin gamepad in a real sandboxed worker, fed real ``struct
input_event`` records through a FIFO standing in for the device node (these machines have no
/dev/uinput): buttons, axes with a dead zone, reconnection, and the per-device grant."""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import IN_CI, RecordingHost, wait_for

from midimon.paths import bundled_plugins_dir
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import PluginCallError, WorkerError
from midimon.plugins.loading.image import sealed_image_fd
from midimon.plugins.sandbox.spec import SandboxSpec
from midimon.plugins.sandbox.trigger_worker import PluginEvent, TriggerWorker
from midimon.plugins.sandbox.worker import WorkerProcess, worker_executable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="evdev is Linux")

GAMEPAD = bundled_plugins_dir() / "gamepad"
FILESYSTEM = frozenset({Capability.FILESYSTEM})
EV_KEY, EV_ABS, EV_SYN = 1, 3, 0
BTN_SOUTH, BTN_START, ABS_X = 0x130, 0x13B, 0


def record(kind: int, code: int, value: int) -> bytes:
    """One struct input_event (64-bit: timeval, u16 type, u16 code, s32 value)."""
    now = time.time()
    return struct.pack("=qqHHi", int(now), int(now % 1 * 1e6), kind, code, value)


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    """The worker and the gamepad plugin must be installed (a failure under CI)."""
    try:
        worker_executable()
    except WorkerError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    if not (GAMEPAD / "gamepad.so").is_file():
        if IN_CI:
            pytest.fail(f"the bundled gamepad plugin was not built ({GAMEPAD})")
        pytest.skip("gamepad not built (no cargo)")


class Rig:
    """A gamepad worker reading ``device``; its events, and the host's log."""

    def __init__(self, device: Path, readable: tuple[Path, ...], dead_zone: int = 0) -> None:
        self.host = RecordingHost()
        self.device, self.dead_zone = device, dead_zone
        self.events: list[PluginEvent] = []
        self.lock = threading.Lock()
        fd = sealed_image_fd((GAMEPAD / "gamepad.so").read_bytes(), "gamepad")
        try:
            spec = SandboxSpec(granted=FILESYSTEM, read_paths=(GAMEPAD, *readable))
            worker = WorkerProcess(fd, "gamepad", spec, self.host)
            worker.start(timeout=10)
        finally:
            os.close(fd)
        assert worker.initialize(5) == (0, "")
        self.trigger = TriggerWorker(worker, 10_000, self._on_event)

    def start(self) -> Rig:
        settings = {"device": str(self.device), "dead_zone": self.dead_zone}
        self.trigger.start(5, json.dumps(settings).encode())
        return self

    def _on_event(self, event: PluginEvent) -> None:
        with self.lock:
            self.events.append(event)

    def seen(self) -> list[tuple[str, float]]:
        with self.lock:
            return [(e.name, e.value) for e in self.events]


@pytest.fixture
def rigs() -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.trigger.stop()


def test_buttons_axes_dead_zone_and_reconnection(tmp_path: Path, rigs: list[Rig]) -> None:
    """Press/release, axis moves outside the dead zone only, autorepeat and SYN ignored; when
    the writer goes away and comes back, the events flow again."""
    device = tmp_path / "input" / "event-joystick"
    device.parent.mkdir()
    os.mkfifo(device)
    rig = Rig(device, (device,), dead_zone=1000)
    rigs.append(rig)
    rig.start()
    with open(device, "wb", buffering=0) as pad:  # the plugin holds the FIFO open for reading
        pad.write(record(EV_KEY, BTN_SOUTH, 1) + record(EV_SYN, 0, 0))
        pad.write(record(EV_KEY, BTN_SOUTH, 2))  # autorepeat: no event
        pad.write(record(EV_KEY, BTN_SOUTH, 0))
        for value in (300, -500, 20000, 20000, 900):
            pad.write(record(EV_ABS, ABS_X, value))
        assert wait_for(lambda: len(rig.seen()) == 5)
    assert rig.seen() == [
        ("BTN_SOUTH", 1.0),
        ("BTN_SOUTH", 0.0),
        ("ABS_X", 0.0),
        ("ABS_X", 20000.0),
        ("ABS_X", 0.0),
    ]
    # Unplugged (the writer closed the FIFO) and plugged back in: it reopens the device.
    with open(device, "wb", buffering=0) as pad:
        pad.write(record(EV_KEY, BTN_START, 1))
        assert wait_for(lambda: len(rig.seen()) == 6)
    assert rig.seen()[-1] == ("BTN_START", 1.0)


def test_a_device_not_granted_is_refused(tmp_path: Path, rigs: list[Rig]) -> None:
    """The sandbox lets the plugin read only the granted device: another one is refused at
    start() (MIDIMON_ERR_DENIED), with the grant command in the log."""
    granted, other = tmp_path / "granted", tmp_path / "other"
    granted.mkdir()
    other.mkdir()
    os.mkfifo(other / "event0")
    rig = Rig(other / "event0", (granted,))
    rigs.append(rig)
    with pytest.raises(PluginCallError) as caught:
        rig.start()
    assert caught.value.status == 3  # MIDIMON_ERR_DENIED
    logs = [text for _, _, text in rig.host.logs]
    assert any(f"midimon plugins grant gamepad filesystem --read {other}" in t for t in logs), logs
