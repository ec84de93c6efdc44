"""The verify probe: a real plugin loaded in a child (a sandboxed worker, or the Python
fallback) reports its struct; one that crashes, exits or is refused while loading cannot
take the caller down and is reported as refused."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.description.manifest import load_manifest
from midimon.plugins.loading.image import sealed_image_fd
from midimon.plugins.sandbox.probe import ProbeResult, probe, probe_image
from midimon.plugins.settings import ExecutionSettings

CRASH_ON_LOAD = (
    '#include "midimon_plugin.h"\n'
    "MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) {\n"
    "    volatile int *p = (int *)0; *p = 1; return 0; }\n"
)
EXEC_ON_LOAD = (
    '#include "midimon_plugin.h"\n#include <unistd.h>\n'
    "MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) {\n"
    '    execl("/bin/true", "true", (char *)0); return 0; }\n'
)


def in_worker(folder: Path) -> ProbeResult:
    """probe_image on the folder's binary, as `midimon verify` does after its checks."""
    manifest = load_manifest(folder)
    assert manifest.binary is not None
    data = manifest.binary.read_bytes()
    fd = sealed_image_fd(data, manifest.name)
    try:
        result = probe_image(manifest, fd, ExecutionSettings(), hashlib.sha256(data).hexdigest())
    finally:
        os.close(fd)
    if result is None:
        pytest.fail("no midimon-worker here: ci/setup.sh builds it")
    return result


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux worker")


def test_a_good_plugin_reports_its_struct(make_plugin: MakePlugin) -> None:
    """Both ways give the name, version, ABI and capabilities the binary declares."""
    folder = make_plugin("probe_good", defines={"P_CAPS": "MIDIMON_CAP_MIDI"},
                         manifest={"capabilities": {"midi": True}})  # fmt: skip
    worker = in_worker(folder)
    assert worker.ok and worker.message == "loaded", worker
    assert worker.info is not None
    assert (worker.info["name"], worker.info["abi"], worker.info["capabilities"]) == (
        "probe_good", "1.1", ["midi"]
    )
    child = probe(folder / "plugin.toml", allow_unsigned=True)
    assert child.ok, child
    assert child.info is not None and child.info["name"] == "probe_good"
    assert child.info["sha256"] == worker.info["sha256"]


def test_a_crash_while_loading_is_refused(make_plugin: MakePlugin) -> None:
    """A _create_plugin that segfaults: refused, naming the signal, both ways."""
    folder = make_plugin("probe_crash", source=CRASH_ON_LOAD)
    for result in (in_worker(folder), probe(folder / "plugin.toml", allow_unsigned=True)):
        assert (result.ok, result.error) == (False, "Crash"), result
        assert "crashed while loading (SIGSEGV); it is refused" in result.message


def test_a_forbidden_syscall_while_loading_names_it(make_plugin: MakePlugin) -> None:
    """A probe grants nothing: a constructor that runs a program is stopped and named."""
    result = in_worker(make_plugin("probe_exec", source=EXEC_ON_LOAD))
    assert (result.ok, result.error) == (False, "Crash"), result
    assert "execve" in result.message and "a verify probe grants no capabilities" in (
        result.message
    )


def test_refusals_before_loading(make_plugin: MakePlugin) -> None:
    """The Python probe checks integrity itself: unsigned is refused unless allowed; an ABI
    mismatch is a load error, not a crash."""
    unsigned = make_plugin("probe_unsigned")
    result = probe(unsigned / "plugin.toml")
    assert not result.ok and "signature" in result.message, result
    major = make_plugin("probe_major", defines={"P_MAJOR": "2"})
    for result in (in_worker(major), probe(major / "plugin.toml", allow_unsigned=True)):
        assert not result.ok and result.error != "Crash", result
        assert "major version must be 1" in result.message
