"""Costs the code avoids on purpose, measured so the comments that explain them need not quote
numbers that go stale:

- ``costs.http_server_import``: RSS that importing ``http.server`` (it pulls in ssl and email)
  adds to a process holding the daemon's own imports; why ``daemon/foreground.py`` imports it
  only for ``--demo``. Floor: that process without it.
- ``costs.header_parse_rss`` / ``costs.header_parse_time``: building the cffi declarations of
  ``abi/midimon_plugin.h`` by parsing it (pycparser) in a fresh process, against importing the
  precompiled ``_abi_cffi`` module; why ``plugins/loading/abi.py`` ships the latter.
- ``costs.context_checks``: what ``TriggerContext``'s range checks cost per construction, the
  floor being ``TriggerContext.from_engine`` (no checks), which the engine uses per call.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import timeit

from benchmarks.harness import Figure, Report, progress

_RSS = "\nprint(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])"
_DAEMON_IMPORTS = "import midimon.daemon.service, midimon.daemon.foreground"
_PRECOMPILED = "from midimon.plugins.loading import _abi_cffi\n_abi_cffi.ffi"
_PARSED = (
    "import cffi\n"
    "from midimon.paths import abi_header_path\n"
    "from midimon.plugins.loading.abi import parse_header\n"
    "cdef, _ = parse_header(abi_header_path().read_text(encoding='utf-8'))\n"
    "cffi.FFI().cdef(cdef)"
)


def _python(code: str) -> str:
    """stdout of a fresh interpreter running ``code`` (it fails loudly, with its stderr)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed:\n{done.stderr}")
    return done.stdout


def rss_mib(code: str, repeat: int) -> float:
    """Median RSS in MiB of a fresh interpreter after running ``code``."""
    return statistics.median(int(_python(code + _RSS).split()[-1]) / 1024 for _ in range(repeat))


def fresh_ms(code: str, repeat: int) -> float:
    """Median wall time in ms of ``code`` in a fresh interpreter (start-up not counted)."""
    timed = (
        f"import time\n_t = time.perf_counter()\n{code}\nprint((time.perf_counter() - _t) * 1e3)"
    )
    return statistics.median(float(_python(timed).split()[-1]) for _ in range(repeat))


def context_us(repeat: int) -> tuple[float, float]:
    """Best per-call time in us of a checked TriggerContext, and of ``from_engine``."""
    from midimon.plugins.loading.context import TriggerContext, TriggerKind

    kind = next(iter(TriggerKind))

    def checked() -> object:
        return TriggerContext(
            velocity=100, channel=0, number=36, value=0, trigger_kind=kind, mode="Default"
        )

    def unchecked() -> object:
        return TriggerContext.from_engine(100, 0, 36, 0, kind, "Default", 0, 0)

    number = 20_000
    best = [min(timeit.repeat(f, number=number, repeat=repeat)) / number * 1e6
            for f in (checked, unchecked)]  # fmt: skip
    return best[0], best[1]


def run(report: Report, quick: bool) -> None:
    """Measure the costs into ``report``."""
    repeat = 3 if quick else 9
    progress(f"costs: imports and header parse, {repeat} fresh interpreters each")
    daemon = rss_mib(_DAEMON_IMPORTS, repeat)
    with_http = rss_mib(_DAEMON_IMPORTS + "\nimport http.server", repeat)
    precompiled = rss_mib(_PRECOMPILED, repeat)
    parsed = rss_mib(_PARSED, repeat)
    precompiled_ms = fresh_ms(_PRECOMPILED, repeat)
    parsed_ms = fresh_ms(_PARSED, repeat)
    progress("costs: TriggerContext checks")
    checked, unchecked = context_us(repeat)
    report.add(Figure("costs.http_server_import", with_http - daemon, "MiB", floor=daemon,
                      floor_name="daemon's imports",
                      note="RSS http.server adds to the daemon's imports"))  # fmt: skip
    report.add(Figure("costs.header_parse_rss", parsed - precompiled, "MiB", floor=precompiled,
                      floor_name="precompiled _abi_cffi",
                      note="RSS of parsing the header with pycparser, above importing the "
                      "precompiled declarations"))  # fmt: skip
    report.add(Figure("costs.header_parse_time", parsed_ms, "ms", floor=precompiled_ms,
                      floor_name="import precompiled _abi_cffi",
                      note="cffi.FFI().cdef(header) in a fresh interpreter"))  # fmt: skip
    report.add(Figure("costs.context_checks", checked - unchecked, "us", floor=unchecked,
                      floor_name="TriggerContext.from_engine",
                      note=f"checked TriggerContext {checked:.2f} us per construction, "
                      f"from_engine {unchecked:.2f} us"))  # fmt: skip
