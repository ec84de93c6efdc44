"""Find or build mididings, the peer the ``peer`` benchmark compares midimon with.

mididings (a MIDI router/processor: C++ engine, Python callbacks) is built from its PyPI source
release, never vendored: ``pip install --no-deps --no-build-isolation mididings==VERSION``.
``--no-deps`` because its declared dependency ``boost`` on PyPI is an unrelated package (the
real one is the system's Boost.Python); ``--no-build-isolation`` because its build runs against
those system libraries with meson-python installed next to it. It goes into a venv of its own
in a cache folder (``$MIDIMON_BENCH_CACHE``, else ``$XDG_CACHE_HOME/midimon-bench``, else
``~/.cache/midimon-bench``), made from this interpreter's base Python, so the benchmark venv
stays as ``ci/setup.sh`` made it and the build happens once per machine.

Order: this interpreter if it imports mididings VERSION already, else the cache, else a build.
A build needs the Debian packages in ``BUILD_PACKAGES``; when mididings can be neither found nor
built, ``PeerMissing`` says why (the benchmark then reports its figures missing, never faked).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

VERSION = "20260601"
BUILD_PACKAGES = (
    "build-essential meson ninja-build patchelf pkg-config libboost-dev libboost-python-dev "
    "libboost-thread-dev libasound2-dev libjack-jackd2-dev libglib2.0-dev"
)
# What the build itself needs from PyPI next to mididings (no build isolation), and decorator,
# mididings' one real run-time dependency.
HELPERS = ("meson-python>=0.13", "meson>=0.64", "ninja", "decorator")
COMPLETE = "COMPLETE"  # written last by build(): the cache venv is whole
_CHECK = "import mididings, _mididings; print(mididings.__version__)"


class PeerMissing(RuntimeError):
    """mididings could be neither found nor built; the message says why."""


def cache_dir() -> Path:
    """Where the mididings venv is kept between runs."""
    if os.environ.get("MIDIMON_BENCH_CACHE"):
        return Path(os.environ["MIDIMON_BENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "midimon-bench"


def venv_dir() -> Path:
    """The cache venv for this mididings version and this Python (ABI tag)."""
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return cache_dir() / f"mididings-{VERSION}-{tag}"


def _version_in(python: str) -> str | None:
    """The mididings version ``python`` imports, None when it imports none."""
    done = subprocess.run([python, "-c", _CHECK], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else None


def find_or_build(say: Callable[[str], object] = print) -> tuple[str, str]:
    """(python that imports mididings VERSION, how it was found: 'installed', 'cache' or
    'built in N s'). PeerMissing when it cannot be found or built."""
    if _version_in(sys.executable) == VERSION:
        return sys.executable, "installed"
    python = venv_dir() / "bin" / "python"
    if (venv_dir() / COMPLETE).exists() and _version_in(str(python)) == VERSION:
        return str(python), "cache"
    missing = missing_build_tools()
    if missing:
        raise PeerMissing(
            f"mididings {VERSION} is not installed and cannot be built here: {missing} "
            f"(apt install {BUILD_PACKAGES})"
        )
    say(f"peer: building mididings {VERSION} from PyPI into {venv_dir()}")
    started = time.monotonic()
    build(venv_dir())
    seconds = time.monotonic() - started
    if _version_in(str(python)) != VERSION:
        raise PeerMissing(f"mididings {VERSION} was built into {venv_dir()} but does not import")
    return str(python), f"built in {seconds:.0f} s"


def missing_build_tools() -> str:
    """What the build lacks on this machine, in words ('' when nothing)."""
    lacking = [tool for tool in ("c++", "pkg-config", "ninja") if shutil.which(tool) is None]
    for header in ("boost/python.hpp", "boost/thread.hpp"):
        if not (Path("/usr/include") / header).exists():
            lacking.append(f"/usr/include/{header}")
    if shutil.which("pkg-config"):
        for module in ("jack", "alsa", "glib-2.0"):
            done = subprocess.run(["pkg-config", "--exists", module], capture_output=True)
            if done.returncode != 0:
                lacking.append(f"pkg-config module {module}")
    return ", ".join(lacking)


def build(target: Path) -> None:
    """Make ``target``: a venv with mididings VERSION built from PyPI (PeerMissing on failure).

    A stale or half-built ``target`` is removed first; ``COMPLETE`` is written last, and only a
    venv holding it is trusted as the cache (an interrupted build is redone, not half used).
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    log = target / "build.log"
    base = getattr(sys, "_base_executable", sys.executable)
    _step([base, "-m", "venv", "--clear", str(target)], log)
    python = str(target / "bin" / "python")
    _step([python, "-m", "pip", "install", "--quiet", *HELPERS], log)
    _step([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           f"mididings=={VERSION}"], log)  # fmt: skip
    (target / COMPLETE).write_text(f"mididings {VERSION}\n")


def _step(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise PeerMissing(
            f"building mididings {VERSION} failed at `{' '.join(command[-3:])}` "
            f"(exit {done.returncode}):\n" + "\n".join(tail)
        )
