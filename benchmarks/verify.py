"""Figure 4: verifying a 50 MB plugin binary, in the daemon and as ``midimon verify``, vs
``minisign -Vm`` and ``sha256sum``.

The plugin is a real one (``bench_stamp``) with 50 MB of random bytes added as an ELF section
(``objcopy --add-section``: in the file, hashed and signed, never mapped), signed with a
trusted throwaway key.

- *In the daemon*: ``PluginManager.load()`` of that plugin, isolated (the default), timed in
  this process as the daemon runs it (read, SHA-256, BLAKE2b prehash, Ed25519 signature, the
  sealed memfd, the worker started on it and the plugin initialized), then unloaded; the same
  for a plugin without the 50 MB, for the part that does not depend on the size. Compared
  with ``minisign -Vm`` on the same file as a process (its start-up is ~1 ms).
- *The CLI*: ``midimon verify`` as a process, as a user runs it; its interpreter start-up is
  reported apart (``python -c pass`` with the same interpreter, and ``midimon --version``).
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


def in_daemon_load(plugins_dir: Path, name: str, repeat: int) -> float:
    """Median ms of ``PluginManager.load(name)`` (isolated, the default) after a warm-up load;
    unloaded after each."""
    from midimon.plugins.manager.plugin_manager import PluginManager
    from midimon.plugins.settings import parse_plugin_settings

    manager = PluginManager(parse_plugin_settings({}), extra_dirs=[plugins_dir])
    try:
        times = []
        for index in range(repeat + 1):
            started = time.perf_counter()
            manager.load(name)
            elapsed = (time.perf_counter() - started) * 1000
            manager.unload(name)
            if index:
                times.append(elapsed)
        return statistics.median(times)
    finally:
        manager.shutdown()


def run(report: Report, quick: bool) -> None:
    """Measure figure 4 into ``report``."""
    repeat = 3 if quick else 7
    minisign, sha256sum = tool("minisign"), tool("sha256sum")
    with isolated_home("verify") as tmp:
        progress("verify: building a 50 MB signed plugin")
        folder = make_big_plugin(tmp / "plugins" / "bench_stamp")
        signer = Signer()
        signer.sign(folder)
        signer.sign(build_plugin(tmp / "plugins" / "bench_small", "bench_small"))
        binary = folder / "bench_stamp.so"
        public = tmp / "bench.pub"
        signer.public.save(public)
        size_mb = binary.stat().st_size / 1e6
        progress(f"verify: {size_mb:.1f} MB, {repeat} runs of each tool")
        in_daemon = in_daemon_load(tmp / "plugins", "bench_stamp", repeat)
        small = in_daemon_load(tmp / "plugins", "bench_small", repeat)
        ours = timed([*midimon_command(), "verify", str(folder)], repeat)
        peer = timed([minisign, "-Vm", str(binary), "-p", str(public), "-q"], repeat)
        hashing = timed([sha256sum, str(binary)], repeat)
        startup = timed([*midimon_command(), "--version"], repeat)
        python_startup = timed([sys.executable, "-c", "pass"], repeat)
    note = f"{size_mb:.1f} MB binary, median of {repeat} runs, each a new process"
    report.add(Figure(
        "verify.in_daemon_load_50mb", in_daemon, "ms", floor=peer, floor_name="minisign -Vm",
        target=1.5, target_of="ratio",
        note=f"PluginManager.load() of the {size_mb:.1f} MB signed plugin, isolated, in this "
        f"process as in the daemon (read, hashes, signature, memfd, worker start, init); "
        f"median of {repeat} after a warm-up; the same plugin without the 50 MB: {small:.1f} ms",
    ))  # fmt: skip
    report.add(Figure(
        "verify.in_daemon_load_small", small, "ms",
        note="PluginManager.load() of a small signed plugin: the part that does not depend on "
        "the size (mostly the worker's start)",
    ))  # fmt: skip
    report.add(Figure(
        "verify.midimon_verify_50mb", ours, "ms", floor=peer, floor_name="minisign -Vm",
        target=1.5, target_of="ratio", note=note,
    ))  # fmt: skip
    report.add(Figure("verify.sha256sum_50mb", hashing, "ms", floor=peer,
                      floor_name="minisign -Vm", note="the same file, for scale"))  # fmt: skip
    report.add(Figure("verify.midimon_startup", startup, "ms", floor=python_startup,
                      floor_name="python -c pass",
                      note="midimon --version: the CLI's start-up, part of midimon verify's "
                      "time"))  # fmt: skip
    report.add(Figure("verify.python_startup", python_startup, "ms",
                      note="the interpreter alone (python -c pass), same venv"))  # fmt: skip
