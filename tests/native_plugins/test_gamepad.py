"""The bundled Rust trigger plugin gamepad in a real sandboxed worker, fed real ``struct
input_event`` records through a FIFO standing in for the device node: buttons, axes with a dead
zone, reconnection (the same node, a node made again, one plugged in after the start), and the
per-device grant; and, where /dev/uinput exists, through a virtual gamepad the kernel makes
(ioctl UI_DEV_SETUP / UI_DEV_CREATE), read from its real /dev/input/eventN node."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import IN_CI, RecordingHost, wait_for

from midimon.paths import bundled_plugins_dir
from midimon.plugins.description.capabilities import Capability
from midimon.plugins.errors import PluginCallError, WorkerError
from midimon.plugins.loading.image import sealed_image_fd
from midimon.plugins.manager.plugin_manager import PluginManager
from midimon.plugins.manager.trigger_plugins import TriggerPlugins
from midimon.plugins.sandbox.spec import SandboxSpec
from midimon.plugins.sandbox.trigger_worker import PluginEvent, TriggerWorker
from midimon.plugins.sandbox.worker import WorkerProcess, worker_executable

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="evdev is Linux")

GAMEPAD = bundled_plugins_dir() / "gamepad"
FILESYSTEM = frozenset({Capability.FILESYSTEM})
EV_KEY, EV_ABS, EV_SYN = 1, 3, 0
BTN_SOUTH, BTN_START, ABS_X = 0x130, 0x13B, 0
SYN_REPORT = 0


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


class Supervised:
    """The gamepad as the daemon runs it: TriggerPlugins over a real PluginManager (grants,
    sandboxed worker, restarts), granted read access to one device path; its events."""

    def __init__(self, manager: PluginManager) -> None:
        self.manager = manager
        self.events: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.triggers = TriggerPlugins(manager, self._on_event, watch_interval=0.1)

    def _on_event(self, event: PluginEvent) -> None:
        with self.lock:
            self.events.append((event.name, event.value))

    def seen(self) -> list[tuple[str, float]]:
        with self.lock:
            return list(self.events)

    def stats(self) -> dict[str, Any]:
        return self.triggers.stats().get("gamepad", {})

    def pressed_until_seen(self, press: Callable[[], bool]) -> bool:
        """Press BTN_START (``press()`` False while the device cannot take it yet) until the
        plugin reports it: events sent before it (re)opened the node are not its to see."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if press() and wait_for(lambda: ("BTN_START", 1.0) in self.seen(), 0.3):
                return True
            time.sleep(0.05)
        return False


@pytest.fixture
def supervise(make_manager: Callable[..., PluginManager]) -> Iterator[Callable[..., Supervised]]:
    """``supervise(device, present=True)``: the gamepad granted ``device`` and started; with
    ``present=False`` the device is removed after the grant (not plugged in at the start)."""
    made: list[Supervised] = []

    def start(device: Path, present: bool = True) -> Supervised:
        manager = make_manager(settings={"gamepad": {"device": str(device)}})
        manager.grant("gamepad", Capability.FILESYSTEM, read_paths=[device])
        if not present:
            device.unlink()
        supervised = Supervised(manager)
        made.append(supervised)
        supervised.triggers.sync(["gamepad"])
        return supervised

    yield start
    for supervised in made:
        supervised.triggers.stop_all()


def _fifo_press(device: Path) -> Callable[[], bool]:
    """Writes a BTN_START press into the FIFO ``device`` once the plugin opens it for reading
    (it holds a FIFO without a writer open only briefly, every 200 ms: a blocking open waits
    for that); False when it does not within 2 s."""

    def press() -> bool:
        def write() -> None:
            with contextlib.suppress(FileNotFoundError):
                fd = os.open(device, os.O_WRONLY)  # blocks until a reader has it open
                try:
                    os.write(fd, record(EV_KEY, BTN_START, 1))
                finally:
                    os.close(fd)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(2)
        if not writer.is_alive():
            return True
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)  # release the waiting writer
        writer.join(2)
        os.close(fd)
        return False

    return press


def test_a_device_plugged_back_in_is_read_by_a_new_worker(
    tmp_path: Path, supervise: Callable[..., Supervised]
) -> None:
    """A device plugged back in gets a new node at the same path (the kernel makes it anew),
    which the running worker's Landlock rule (it holds the old inode) does not cover: the
    plugin is restarted in a new worker that reads it; audited unload with the path, no crash."""
    device = tmp_path / "event-joystick"
    os.mkfifo(device)
    pad = supervise(device)
    pid = pad.stats()["worker_pid"]
    assert pad.stats()["running"] and pid
    with open(device, "wb", buffering=0) as fifo:
        fifo.write(record(EV_KEY, BTN_SOUTH, 1))
        assert wait_for(lambda: pad.seen() == [("BTN_SOUTH", 1.0)])
    device.unlink()
    os.mkfifo(device)  # plugged back in
    assert wait_for(lambda: pad.stats().get("worker_pid") not in (None, pid)), pad.stats()
    assert pad.pressed_until_seen(_fifo_press(device)), pad.seen()
    assert pad.stats()["crashes_recent"] == 0, pad.stats()
    unloads = list(pad.manager.audit.read(plugin="gamepad", event="unload"))
    assert unloads and unloads[-1]["made_again"] == [str(device)], unloads


def test_a_device_plugged_in_after_the_start(
    tmp_path: Path, supervise: Callable[..., Supervised]
) -> None:
    """The only granted device is absent at the start: the plugin is refused (its grant gives
    nothing yet), and started when the device appears."""
    device = tmp_path / "event-joystick"
    os.mkfifo(device)
    pad = supervise(device, present=False)
    assert not pad.stats()["running"], pad.stats()
    os.mkfifo(device)  # plugged in
    assert wait_for(lambda: pad.stats()["running"]), pad.stats()
    assert pad.pressed_until_seen(_fifo_press(device)), pad.seen()


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


# -- a real input device, made through /dev/uinput -------------------------------------------

UINPUT = Path("/dev/uinput")
needs_uinput = pytest.mark.skipif(
    not UINPUT.exists(),
    reason="/dev/uinput does not exist here (no uinput module, or a container without the "
    "host's /dev): the FIFO tests above stand in for the device; this one needs the kernel's",
)


def _ioc(direction: int, number: int, size: int) -> int:
    """Linux _IOC(direction, 'U', number, size) for uinput (direction 0 none, 1 write, 2 read)."""
    return (direction << 30) | (size << 16) | (ord("U") << 8) | number


UINPUT_SETUP = struct.Struct("=4H80sI")  # struct uinput_setup: input_id, name[80], ff_max
UINPUT_ABS_SETUP = struct.Struct("=H2x6i")  # struct uinput_abs_setup: code, input_absinfo
UI_DEV_CREATE, UI_DEV_DESTROY = _ioc(0, 1, 0), _ioc(0, 2, 0)
UI_DEV_SETUP = _ioc(1, 3, UINPUT_SETUP.size)
UI_ABS_SETUP = _ioc(1, 4, UINPUT_ABS_SETUP.size)
UI_SET_EVBIT, UI_SET_KEYBIT, UI_SET_ABSBIT = _ioc(1, 100, 4), _ioc(1, 101, 4), _ioc(1, 103, 4)
BUS_USB = 0x03


class VirtualGamepad:
    """A gamepad the kernel makes through /dev/uinput (BTN_SOUTH, BTN_START, ABS_X in
    -32768..32767) and its /dev/input/eventN node; what :meth:`send` writes, readers of that
    node get as a real device's events."""

    def __init__(self) -> None:
        try:
            self.fd: int | None = os.open(UINPUT, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError as exc:
            pytest.fail(f"{UINPUT} exists but cannot be opened for writing ({exc}): run as root")
        try:
            fcntl.ioctl(self.fd, UI_SET_EVBIT, EV_KEY)
            for code in (BTN_SOUTH, BTN_START):
                fcntl.ioctl(self.fd, UI_SET_KEYBIT, code)
            fcntl.ioctl(self.fd, UI_SET_EVBIT, EV_ABS)
            fcntl.ioctl(self.fd, UI_SET_ABSBIT, ABS_X)
            # value, minimum, maximum, fuzz (0: the kernel passes every change), flat, resolution
            axis = UINPUT_ABS_SETUP.pack(ABS_X, 0, -32768, 32767, 0, 0, 0)
            fcntl.ioctl(self.fd, UI_ABS_SETUP, axis)
            ids = (BUS_USB, 0x1209, 0x0001, 1)  # bus, vendor, product, version
            setup = UINPUT_SETUP.pack(*ids, b"midimon test gamepad", 0)
            fcntl.ioctl(self.fd, UI_DEV_SETUP, setup)
            fcntl.ioctl(self.fd, UI_DEV_CREATE)
            sysname = bytearray(64)
            fcntl.ioctl(self.fd, _ioc(2, 44, len(sysname)), sysname)  # UI_GET_SYSNAME: inputN
            self.node = _event_node(sysname.split(b"\0", 1)[0].decode())
        except BaseException:
            self.close()
            raise

    def send(self, *events: tuple[int, int, int]) -> None:
        """Write events and a SYN_REPORT: evdev hands readers whole packets only."""
        assert self.fd is not None
        data = b"".join(record(*event) for event in events) + record(EV_SYN, SYN_REPORT, 0)
        os.write(self.fd, data)

    def close(self) -> None:
        """Unplug: the kernel removes the device and its node."""
        if self.fd is not None:
            with contextlib.suppress(OSError):  # never created
                fcntl.ioctl(self.fd, UI_DEV_DESTROY)
            os.close(self.fd)
            self.fd = None


def _event_node(sysname: str) -> Path:
    """The /dev/input/eventN node of input device ``sysname``, once devtmpfs (or udev) made it,
    checked against the device number sysfs gives (not a stale node of the same name)."""
    sys_dir = Path("/sys/class/input") / sysname
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for event_dir in sorted(sys_dir.glob("event*")):
            node = Path("/dev/input") / event_dir.name
            major, minor = (event_dir / "dev").read_text().strip().split(":")
            with contextlib.suppress(FileNotFoundError):
                if node.stat().st_rdev == os.makedev(int(major), int(minor)):
                    return node
        time.sleep(0.02)
    raise AssertionError(
        f"/dev/uinput made {sysname}, but no /dev/input/event* node for it appeared in 5 s "
        "(is /dev a devtmpfs, or does udev run here?)"
    )


@pytest.fixture
def gamepads() -> Iterator[list[VirtualGamepad]]:
    made: list[VirtualGamepad] = []
    yield made
    for pad in made:
        pad.close()


def _readable(node: Path) -> Path:
    assert os.access(node, os.R_OK), f"{node} is not readable: run as root or in group input"
    return node


@needs_uinput
def test_a_uinput_gamepad(rigs: list[Rig], gamepads: list[VirtualGamepad]) -> None:
    """A kernel-made gamepad, read from its granted /dev/input/eventN by the sandboxed plugin:
    press/release, autorepeat ignored, axis moves outside the dead zone only (the kernel itself
    drops a repeated axis value)."""
    pad = VirtualGamepad()
    gamepads.append(pad)
    rig = Rig(_readable(pad.node), (pad.node,), dead_zone=1000)
    rigs.append(rig)
    rig.start()  # the plugin opened the node when start() returned: nothing sent is missed
    pad.send((EV_KEY, BTN_SOUTH, 1))
    pad.send((EV_KEY, BTN_SOUTH, 2))  # autorepeat: no event
    pad.send((EV_KEY, BTN_SOUTH, 0))
    for value in (300, -500, 20000, 20000, 900):
        pad.send((EV_ABS, ABS_X, value))
    assert wait_for(lambda: len(rig.seen()) >= 5), rig.seen()
    time.sleep(0.2)  # and nothing more comes
    assert rig.seen() == [
        ("BTN_SOUTH", 1.0),
        ("BTN_SOUTH", 0.0),
        ("ABS_X", 0.0),
        ("ABS_X", 20000.0),
        ("ABS_X", 0.0),
    ]


@needs_uinput
def test_a_uinput_gamepad_unplugged_and_back(
    supervise: Callable[..., Supervised], gamepads: list[VirtualGamepad]
) -> None:
    """The kernel-made gamepad goes away (UI_DEV_DESTROY) and comes back at the same node (a new
    inode): the plugin, run as the daemon runs it, reads it again from a new worker."""
    pad = VirtualGamepad()
    gamepads.append(pad)
    node = _readable(pad.node)
    supervised = supervise(node)
    pid = supervised.stats()["worker_pid"]
    assert supervised.stats()["running"] and pid, supervised.stats()
    pad.send((EV_KEY, BTN_SOUTH, 1))
    assert wait_for(lambda: supervised.seen() == [("BTN_SOUTH", 1.0)]), supervised.seen()
    pad.close()
    assert wait_for(lambda: not node.exists(), 5), f"{node} is still there after UI_DEV_DESTROY"
    again = VirtualGamepad()
    gamepads.append(again)
    if again.node != node:
        pytest.skip(f"the device came back as {again.node}, not {node}: a grant names one node")
    assert wait_for(lambda: supervised.stats().get("worker_pid") not in (None, pid))

    def press() -> bool:
        again.send((EV_KEY, BTN_START, 1))
        again.send((EV_KEY, BTN_START, 0))
        return True

    assert supervised.pressed_until_seen(press), supervised.seen()
