"""Figure 5: discovery of 1,000 plugin folders; load + first execute of one plugin.

Discovery reads manifests only (no plugin code runs). Its floor is the bare I/O: listing the
same folders and reading every plugin.toml, with nothing parsed. The figure that carries the
target is the first scan in a fresh interpreter (what ``midimon plugins list`` or a daemon
start pays); the median of repeated scans in one process is reported beside it.

Load + first execute is a fresh PluginManager's first ``execute`` of a signed plugin: scan,
verify (SHA-256 + Ed25519), load from a sealed memfd, start the worker (isolated) or dlopen it
(in-process), initialize, execute. Its floor is the raw cffi path on the same file:
``dlopen`` + ``_create_plugin`` + ``initialize`` + ``execute`` with no checks at all.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import REPO, Figure, Report, isolated_home, median_time, progress
from benchmarks.plugins import Signer, build_plugin

FOLDERS = 1_000

_FIRST_SCAN = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from midimon.plugins.description.discovery import discover
imported = time.perf_counter()
result = discover([Path(sys.argv[1])])
done = time.perf_counter()
print(json.dumps({"scan_ms": (done - imported) * 1000, "plugins": len(result.plugins),
                  "problems": len(result.problems)}))
"""


def make_folders(root: Path, template: Path, count: int) -> None:
    """``count`` plugin folders under ``root``, each a copy of ``template`` renamed."""
    manifest = (template / "plugin.toml").read_text()
    binary = (template / "bench_stamp.so").read_bytes()
    for index in range(count):
        name = f"plugin_{index:04d}"
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "plugin.toml").write_text(
            manifest.replace('name = "bench_stamp"', f'name = "{name}"')
        )
        (folder / "bench_stamp.so").write_bytes(binary)


def read_all(root: Path) -> int:
    """The floor: list the folders and read every manifest; returns bytes read."""
    total = 0
    with os.scandir(root) as entries:
        for entry in entries:
            try:
                with open(os.path.join(entry.path, "plugin.toml"), "rb") as manifest:
                    total += len(manifest.read())
            except OSError:
                pass
    return total


def first_scan(root: Path, repeat: int) -> float:
    """Median ms of discover() as the first call in a fresh interpreter (imports excluded)."""
    times = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_SCAN, str(root)],
            capture_output=True, text=True, check=True, cwd=REPO,
        )  # fmt: skip
        answer = json.loads(done.stdout)
        if answer["plugins"] != FOLDERS:
            raise RuntimeError(f"discovered {answer} of {FOLDERS} folders")
        times.append(answer["scan_ms"])
    return statistics.median(times)


def first_execute(plugins_dir: Path, name: str, isolation: str) -> float:
    """ms from a new PluginManager to the answer of its first execute()."""
    from midimon.plugins.loading.context import TriggerContext
    from midimon.plugins.manager.plugin_manager import PluginManager
    from midimon.plugins.settings import parse_plugin_settings

    settings = parse_plugin_settings({"isolation": isolation})
    started = time.perf_counter()
    manager = PluginManager(settings, extra_dirs=[plugins_dir])
    result = manager.execute(name, {}, TriggerContext())
    elapsed = (time.perf_counter() - started) * 1000
    manager.shutdown()
    if not result.ok:
        raise RuntimeError(f"{name} ({isolation}): {result}")
    return elapsed


def raw_first_execute(binary: Path) -> float:
    """ms for dlopen + create + initialize + execute with plain cffi (the floor)."""
    from midimon.plugins.loading import abi

    ffi = abi.ffi()
    started = time.perf_counter()
    lib = ffi.dlopen(str(binary))
    plugin = lib._create_plugin()
    message = ffi.new("char[]", 256)
    ctx = ffi.new("midimon_trigger_context_t *")
    ctx.struct_size = ffi.sizeof("midimon_trigger_context_t")
    plugin.execute(plugin, b"{}", 2, ctx, message, 256)
    return (time.perf_counter() - started) * 1000


def run(report: Report, quick: bool) -> None:
    """Measure figure 5 into ``report``."""
    repeat = 3 if quick else 7
    with isolated_home("discovery") as tmp:
        template = build_plugin(tmp / "template" / "bench_stamp")
        root = tmp / "many"
        progress(f"discovery: making {FOLDERS} plugin folders")
        make_folders(root, template, FOLDERS)
        from midimon.plugins.description.discovery import discover

        progress("discovery: scanning")
        floor = median_time(lambda: read_all(root), repeat)
        cold = first_scan(root, repeat)
        warm = median_time(lambda: discover([root]), repeat)
        report.add(Figure(
            "discovery.1000_folders.first_scan", cold, "ms", floor=floor,
            floor_name="list + read 1,000 manifests", target=150,
            note="first discover() in a fresh interpreter, imports excluded",
        ))  # fmt: skip
        report.add(Figure(
            "discovery.1000_folders.repeat", warm, "ms", floor=floor,
            floor_name="list + read 1,000 manifests", target=150,
            note="median of later scans in one process",
        ))  # fmt: skip
        shutil.rmtree(root)

        progress("discovery: load + first execute")
        signer = Signer()
        names = []
        for index in range(repeat):
            name = f"first_{index}"
            signer.sign(build_plugin(tmp / "one" / name / name, name))
            names.append(name)
        # The floor dlopens copies: a library path dlopen'ed once is not loaded again.
        raw_copies = []
        for name in names:
            copy = tmp / "raw" / f"{name}.so"
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(tmp / "one" / name / name / f"{name}.so", copy)
            raw_copies.append(copy)
        raw = statistics.median(raw_first_execute(copy) for copy in raw_copies)
        for isolation in ("isolated", "in-process"):
            times = [first_execute(tmp / "one" / n, n, isolation) for n in names]
            report.add(Figure(
                f"discovery.load_first_execute.{isolation.replace('-', '_')}",
                statistics.median(times), "ms", floor=raw,
                floor_name="dlopen + create + execute, no checks",
                note="new PluginManager -> first execute() answered (scan, verify, load, init)",
            ))  # fmt: skip
