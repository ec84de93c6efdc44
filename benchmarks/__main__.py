"""Run midimon's benchmarks: ``python -m benchmarks [--quick] [--json] [--only NAME ...]``.

Every figure is printed next to its floor (measured in the same run), the ratio and the
design target. Progress goes to stderr, one line per step; ``--json`` prints one JSON object on
stdout (and ``--output FILE`` writes it to a file as well). ``--quick`` is the CI smoke run: it
finishes in about a minute with fewer samples, so its values are rough.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback

from benchmarks.harness import (
    Report,
    progress,
    render_markdown,
    render_table,
    report_from_json,
)

# name -> module under benchmarks/ with run(report, quick); in the order they run.
BENCHMARKS = {
    "dispatch": "benchmarks.dispatch",
    "discovery": "benchmarks.discovery",
    "reload": "benchmarks.reload",
    "reload_jack": "benchmarks.reload_jack",
    "verify": "benchmarks.verify",
    "memory": "benchmarks.memory",
    "jack": "benchmarks.end_to_end",
    "throughput": "benchmarks.throughput",
    "triggers": "benchmarks.triggers",
    "rt_cycles": "benchmarks.rt_cycles",
    "costs": "benchmarks.costs",
    "peer": "benchmarks.peer",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples; about a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--output", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME",
        help=f"run only these ({', '.join(BENCHMARKS)})",
    )  # fmt: skip
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--from-json", metavar="FILE",
        help="render figures saved with --output instead of measuring (with --markdown)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as saved:
            report = report_from_json(json.load(saved))
        print(render_markdown(report) if args.markdown else render_table(report))
        _print_peer_table(report)
        return 0
    report = Report(quick=args.quick)
    selected = [name for name in BENCHMARKS if not args.only or name in args.only]
    for number, name in enumerate(selected, 1):
        progress(f"({number}/{len(selected)}) {name}")
        started = time.perf_counter()
        try:
            importlib.import_module(BENCHMARKS[name]).run(report, args.quick)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # one failing benchmark must not hide the others' figures
            # (BaseException: a benchmark's own checks may raise anything, as tests would)
            report.errors[name] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        report.seconds[name] = time.perf_counter() - started
        progress(f"({number}/{len(selected)}) {name} done in {report.seconds[name]:.1f} s")
    data = report.to_json()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        print()
    elif args.markdown:
        print(render_markdown(report))
    else:
        print(render_table(report))
    if not args.json:
        _print_peer_table(report)
    return 1 if report.errors else 0


def _print_peer_table(report: Report) -> None:
    """Issue 14's peer table after the figures, when the run has the peer's figures."""
    from benchmarks.peer import render_peer_table

    table = render_peer_table(report)
    if table:
        print(f"\nmidimon next to mididings (same JACK server, same run):\n\n{table}")


if __name__ == "__main__":
    raise SystemExit(main())
