"""The plugins the benchmarks drive: built from C here with the system compiler, then signed.

``bench_stamp`` reads CLOCK_MONOTONIC at the entry of ``execute`` and answers
``entry=<ns> lat=<ns>``, where ``lat`` is entry minus the trigger context's ``timestamp_ns``: the
time the MIDI input callback stamped the message. So ``lat`` is exactly the host overhead from
callback to plugin entry, measured by the plugin itself (the same clock in every process).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from benchmarks.harness import REPO

STAMP_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include "midimon_plugin.h"
#include <stdio.h>
#include <time.h>

#ifndef P_NAME
#define P_NAME "bench_stamp"
#endif

static int32_t ex(const midimon_plugin_t *s, const char *p, size_t n,
                  const midimon_trigger_context_t *c, char *m, size_t cap) {
    struct timespec t;
    long long now;
    clock_gettime(CLOCK_MONOTONIC, &t);
    now = (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
    (void)s; (void)p; (void)n;
    snprintf(m, cap, "entry=%lld lat=%lld", now, c ? now - (long long)c->timestamp_ns : -1LL);
    return MIDIMON_OK;
}
static const midimon_plugin_t plugin = { MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR,
    sizeof(midimon_plugin_t), 0, P_NAME, "1.0.0", "stamps execute() entry", 0, 0, ex, 0, 0, 0 };
MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


def parse_stamp(event: dict) -> tuple[int, int] | None:
    """(entry_ns, callback_to_entry_ns) from a daemon ``action`` event of ``bench_stamp``;
    None when the action failed or is not one of its answers."""
    detail = event.get("detail", "")
    if not event.get("ok") or " lat=" not in detail:
        return None
    entry, lat = detail.rsplit("entry=", 1)[1].split(" lat=")
    return int(entry), int(lat)


def compiler() -> str:
    """The C compiler to use (cc, else gcc); RuntimeError when there is none."""
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("the benchmarks build their plugins with a C compiler: install gcc")


def build_plugin(folder: Path, name: str = "bench_stamp", source: str = STAMP_SOURCE) -> Path:
    """Compile ``source`` as plugin ``name`` into ``folder``, with its plugin.toml."""
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / f"{name}.c"
    src.write_text(source)
    binary = folder / f"{name}.so"
    subprocess.run(
        [compiler(), "-std=c99", "-O2", "-shared", "-fPIC", f"-DP_NAME=\"{name}\"",
         f"-I{REPO / 'abi'}", str(src), "-o", str(binary)],
        check=True,
    )  # fmt: skip
    (folder / "plugin.toml").write_text(
        f'[plugin]\nname = "{name}"\nversion = "1.0.0"\ntype = "action"\nabi = "1.0"\n'
        f'binary = "{binary.name}"\n'
    )
    return folder


class Signer:
    """A throwaway minisign key, trusted in the current XDG config dir, that signs plugins."""

    def __init__(self) -> None:
        from midimon.paths import config_dir
        from midimon.plugins.integrity.minisign_keys import generate_keypair
        from midimon.plugins.integrity.trust import TrustStore

        self.public, self.secret = generate_keypair()
        TrustStore(config_dir() / "trusted_keys").add(self.public, "benchmarks")

    def sign(self, folder: Path) -> None:
        """Sign the plugin in ``folder`` exactly as ``midimon sign`` does."""
        from midimon.plugins.description.manifest import load_manifest
        from midimon.plugins.integrity.signing import sign_plugin

        manifest = load_manifest(folder)
        assert manifest.binary is not None, manifest.binary_error
        sign_plugin(manifest, manifest.binary.read_bytes(), self.secret)
