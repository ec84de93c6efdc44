"""Figure 4: ``midimon verify`` on a 50 MB plugin binary vs ``minisign -Vm`` and ``sha256sum``.

The plugin is a real one (``bench_stamp``) with 50 MB of random bytes added as an ELF section
(``objcopy --add-section``: in the file, hashed and signed, never mapped), signed with a
trusted throwaway key. Each tool runs as its own process, as a user would run it, so start-up
is included everywhere; ``midimon --version`` is reported as midimon's start-up floor.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import Figure, Report, isolated_home, progress
from benchmarks.plugins import Signer, build_plugin

SIZE = 50 * 1024 * 1024


def tool(name: str) -> str:
    """Path of a required command; RuntimeError saying what to install."""
    found = shutil.which(name)
    if found is None:
        package = {"objcopy": "binutils", "sha256sum": "coreutils"}.get(name, name)
        raise RuntimeError(f"this benchmark needs {name} (apt install {package})")
    return found


def midimon_command() -> list[str]:
    """The installed ``midimon`` script next to this interpreter, else ``python -m midimon``."""
    script = Path(sys.executable).with_name("midimon")
    return [str(script)] if script.exists() else [sys.executable, "-m", "midimon"]


def timed(command: list[str], repeat: int) -> float:
    """Median wall ms of running ``command`` (after one warm-up run); it must exit 0."""
    times = []
    for index in range(repeat + 1):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        elapsed = (time.perf_counter() - started) * 1000
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}")
        if index:
            times.append(elapsed)
    return statistics.median(times)


def make_big_plugin(folder: Path) -> Path:
    """bench_stamp with SIZE random bytes in a non-loaded section; returns its folder."""
    build_plugin(folder)
    blob = folder / "blob.bin"
    blob.write_bytes(os.urandom(SIZE))
    binary = folder / "bench_stamp.so"
    subprocess.run(
        [tool("objcopy"), "--add-section", f".bench_blob={blob}", str(binary)], check=True
    )
    blob.unlink()
    return folder


def run(report: Report, quick: bool) -> None:
    """Measure figure 4 into ``report``."""
    repeat = 3 if quick else 7
    minisign, sha256sum = tool("minisign"), tool("sha256sum")
    with isolated_home("verify") as tmp:
        progress("verify: building a 50 MB signed plugin")
        folder = make_big_plugin(tmp / "plugins" / "bench_stamp")
        signer = Signer()
        signer.sign(folder)
        binary = folder / "bench_stamp.so"
        public = tmp / "bench.pub"
        signer.public.save(public)
        size_mb = binary.stat().st_size / 1e6
        progress(f"verify: {size_mb:.1f} MB, {repeat} runs of each tool")
        ours = timed([*midimon_command(), "verify", str(folder)], repeat)
        peer = timed([minisign, "-Vm", str(binary), "-p", str(public), "-q"], repeat)
        hashing = timed([sha256sum, str(binary)], repeat)
        startup = timed([*midimon_command(), "--version"], repeat)
    note = f"{size_mb:.1f} MB binary, median of {repeat} runs, each a new process"
    report.add(Figure(
        "verify.midimon_verify_50mb", ours, "ms", floor=peer, floor_name="minisign -Vm",
        target=1.5, target_of="ratio", note=note,
    ))  # fmt: skip
    report.add(Figure("verify.sha256sum_50mb", hashing, "ms", floor=peer,
                      floor_name="minisign -Vm", note="the same file, for scale"))  # fmt: skip
    report.add(Figure("verify.midimon_startup", startup, "ms", note="midimon --version"))
