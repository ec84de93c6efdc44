"""What every benchmark shares: figures, their floors and targets, the table and the JSON.

A *figure* is one measured value next to the *floor* (or peer) it is compared with, measured in
the same run, so the ratio means something on a noisy machine. A *target* is the bound the
design guide sets, either on the value itself (``target_of="value"``) or on the ratio
(``target_of="ratio"``, e.g. verify within 1.5x of minisign).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One measured figure of one benchmark."""

    name: str  # e.g. "dispatch.isolated.p50"
    value: float
    unit: str  # "us", "ms", "MiB", "events/s", "count"
    floor: float | None = None  # the floor or peer measured in the same run, same unit
    floor_name: str | None = None  # what the floor is
    target: float | None = None  # upper bound (lower bound when ``higher_is_better``)
    target_of: Literal["value", "ratio"] = "value"
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value / floor (None without a usable floor)."""
        if self.floor is None or self.floor <= 0:
            return None
        return self.value / self.floor

    @property
    def met(self) -> bool | None:
        """Whether the target holds (None without a target, or a ratio target without a floor)."""
        if self.target is None:
            return None
        measured = self.ratio if self.target_of == "ratio" else self.value
        if measured is None:
            return None
        return measured >= self.target if self.higher_is_better else measured <= self.target

    def to_json(self) -> dict[str, Any]:
        """The figure as one JSON object (with ratio and met worked out)."""
        data = asdict(self)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        data["met"] = self.met
        return data

    def target_text(self) -> str:
        """The target as people write it: '<= 30 us', '<= 1.5x', '>= 10000 events/s'."""
        if self.target is None:
            return ""
        sign = ">=" if self.higher_is_better else "<="
        if self.target_of == "ratio":
            return f"{sign} {self.target:g}x"
        return f"{sign} {self.target:g} {self.unit}"


@dataclass
class Report:
    """Every figure of one run, plus the machine it ran on."""

    quick: bool
    figures: list[Figure] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # benchmark -> why it failed
    # figures (or a prefix of them) that could not be measured -> why, e.g. the peer benchmark
    # without mididings; reported, never made up
    missing: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # benchmark -> wall time
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def add(self, figure: Figure) -> Figure:
        """Record a figure and return it."""
        self.figures.append(figure)
        return figure

    def to_json(self) -> dict[str, Any]:
        """The whole run as one JSON object."""
        return {
            "started": self.started,
            "quick": self.quick,
            "machine": machine(),
            "figures": {f.name: f.to_json() for f in self.figures},
            "errors": self.errors,
            "missing": self.missing,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    return {
        "system": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "ci": os.environ.get("CI") == "true",
    }


def render_table(report: Report) -> str:
    """The figures as an aligned text table."""
    rows = [("figure", "value", "floor (same run)", "ratio", "target", "met")]
    for f in report.figures:
        floor = "" if f.floor is None else f"{_num(f.floor)} {f.unit} ({f.floor_name})"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
        met = {True: "yes", False: "NO", None: ""}[f.met]
        rows.append((f.name, f"{_num(f.value)} {f.unit}", floor, ratio, f.target_text(), met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, error in report.errors.items():
        lines.append(f"FAILED {name}: {error}")
    for name, why in report.missing.items():
        lines.append(f"MISSING {name}: {why}")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """The figures as a Markdown table (for benchmarks/README.md)."""
    lines = [
        "| figure | value | floor (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in report.figures:
        floor = "" if f.floor is None else f"{_num(f.floor)} {f.unit} ({f.floor_name})"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        value = f"{_num(f.value)} {f.unit}"
        lines.append(f"| `{f.name}` | {value} | {floor} | {ratio} | {f.target_text()} | {met} |")
    return "\n".join(lines)


def report_from_json(data: dict[str, Any]) -> Report:
    """A Report rebuilt from what ``--json`` wrote (to render it again)."""
    report = Report(quick=data["quick"], errors=data["errors"], started=data["started"],
                    missing=data.get("missing", {}))
    for name, f in data["figures"].items():
        report.add(Figure(
            name, f["value"], f["unit"], f["floor"], f["floor_name"], f["target"],
            f["target_of"], f["higher_is_better"], f["note"],
        ))  # fmt: skip
    return report


def _num(value: float) -> str:
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The value at ``fraction`` (0..1) of already sorted values (nearest rank)."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of samples (same unit as given)."""
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 0.5), "p99": percentile(ordered, 0.99), "max": ordered[-1]}


def median_time(run: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``run()`` in ms over ``repeat`` runs, after ``warmup`` runs."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def progress(message: str) -> None:
    """One progress line on stderr (stdout stays clean for --json)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextmanager
def isolated_home(prefix: str) -> Iterator[Path]:
    """A temp dir holding this benchmark's XDG dirs, set in os.environ for the duration."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f"midimon-bench-{prefix}-"))
    names = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        path = tmp / name.lower()
        path.mkdir(mode=0o700)
        os.environ[name] = str(path)
    try:
        yield tmp
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(tmp, ignore_errors=True)
