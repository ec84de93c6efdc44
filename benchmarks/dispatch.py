"""Plugin call latency: raw cffi call (floor) vs in-process vs isolated, through the manager.

    python -m benchmarks.dispatch [--calls N] [--json]

Builds a trivial C plugin, signs it with a throwaway key (in-process mode needs a trusted
signer), and times N execute() calls each way. All state lives in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRIVIAL = r"""
#include "midimon_plugin.h"
static int32_t ex(const midimon_plugin_t *s, const char *p, size_t n,
                  const midimon_trigger_context_t *c, char *m, size_t cap) {
    (void)s; (void)p; (void)n; (void)c; (void)cap; m[0] = 0; return MIDIMON_OK;
}
static const midimon_plugin_t plugin = { MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR,
    sizeof(midimon_plugin_t), 0, "bench_trivial", "1.0.0", "no-op", 0, 0, ex, 0, 0, 0 };
MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""
MANIFEST = """[plugin]
name = "bench_trivial"
version = "1.0.0"
type = "action"
abi = "1.0"
binary = "bench_trivial.so"
"""


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p99/max in microseconds."""
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1e6

    return {
        "p50_us": round(at(0.50), 2),
        "p99_us": round(at(0.99), 2),
        "max_us": round(ordered[-1] * 1e6, 2),
        "calls": len(ordered),
    }


def build(folder: Path) -> None:
    folder.mkdir(parents=True)
    src = folder / "bench_trivial.c"
    src.write_text(TRIVIAL)
    subprocess.run(
        [
            "cc",
            "-std=c99",
            "-O2",
            "-shared",
            "-fPIC",
            f"-I{REPO / 'abi'}",
            str(src),
            "-o",
            str(folder / "bench_trivial.so"),
        ],
        check=True,
    )
    (folder / "plugin.toml").write_text(MANIFEST)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.dispatch", description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="midimon-bench-"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(tmp / var.lower())
    from midimon.paths import config_dir
    from midimon.plugins import abi as abi_mod
    from midimon.plugins.context import TriggerContext, TriggerKind
    from midimon.plugins.loader import load_unverified
    from midimon.plugins.manager import PluginManager
    from midimon.plugins.manifest import load_manifest
    from midimon.plugins.minisign import generate_keypair, sign
    from midimon.plugins.settings import parse_plugin_settings
    from midimon.plugins.trust import TrustStore

    folder = tmp / "plugins" / "bench_trivial"
    build(folder)
    manifest = load_manifest(folder)
    public, secret = generate_keypair()
    TrustStore(config_dir() / "trusted_keys").add(public, "bench")
    binary = (folder / "bench_trivial.so").read_bytes()
    sign(
        binary, secret, f"timestamp:{int(time.time())}\tmanifest_sha256:{manifest.manifest_sha256}"
    ).save(folder / "bench_trivial.so.minisig")
    ctx = TriggerContext(velocity=100, number=36, trigger_kind=TriggerKind.NOTE)
    results: dict[str, dict] = {}

    # Floor: the raw cffi call into the same plugin, nothing around it.
    plugin = load_unverified(manifest)
    plugin.initialize()
    ffi = abi_mod.ffi()
    view, raw = plugin._view, plugin._raw
    params = ffi.new("char[]", b"{}")
    cctx = ffi.new("midimon_trigger_context_t *")
    cctx.struct_size = ffi.sizeof("midimon_trigger_context_t")
    cctx.mode = mode = ffi.new("char[]", b"Default")
    message = ffi.new("char[]", 4096)
    samples = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        view.execute(raw, params, 2, cctx, message, 4096)
        samples.append(time.perf_counter() - t0)
    del mode
    results["raw_cffi"] = percentiles(samples)

    for mode_name in ("in-process", "isolated"):
        settings = parse_plugin_settings(
            {"isolation": mode_name, "rate_limit": 1e9, "rate_burst": 1_000_000_000}
        )
        manager = PluginManager(settings, extra_dirs=[tmp / "plugins"])
        assert manager.execute("bench_trivial", {}, ctx).ok
        samples = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            result = manager.execute("bench_trivial", {}, ctx)
            samples.append(time.perf_counter() - t0)
            if not result.ok:
                raise SystemExit(f"{mode_name}: {result}")
        results[mode_name] = percentiles(samples)
        if mode_name == "isolated":
            results[mode_name]["worker_rss_kib"] = (
                manager.stats("bench_trivial")["rss_bytes"] // 1024
            )
        manager.shutdown()

    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
    else:
        for name, figures in results.items():
            extra = (
                f", worker RSS {figures['worker_rss_kib']} KiB"
                if "worker_rss_kib" in figures
                else ""
            )
            print(
                f"{name:<11} p50 {figures['p50_us']:>8.1f} us  p99 {figures['p99_us']:>8.1f} us  "
                f"max {figures['max_us']:>9.1f} us ({figures['calls']} calls){extra}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
