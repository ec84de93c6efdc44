"""ci/wheel_payload.py refuses a repaired wheel whose bytes differ from the built one.

The wheels here are made from the installed package's real bundled plugin binary; the
"repaired" copies are what auditwheel would produce if it patched a plugin, grafted a library
or wrote a RECORD that does not match (ci/wheel_test.sh runs the real auditwheel).
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

from midimon.paths import bundled_plugins_dir

SCRIPT = REPO / "ci" / "wheel_payload.py"
PLUGIN = "midimon/bundled_plugins/http_request/http_request.so"
DIST_INFO = "midimon-0.1.0.dist-info"


def record_line(name: str, data: bytes) -> str:
    """One RECORD row for ``name`` holding ``data``."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(path: Path, files: dict[str, bytes], tag: str, record: str | None = None) -> Path:
    """A wheel at ``path`` shipping ``files``, with a WHEEL tag and a RECORD (correct unless
    ``record`` is given)."""
    lines = [record_line(name, data) for name, data in files.items()]
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{DIST_INFO}/WHEEL", f"Wheel-Version: 1.0\nTag: {tag}\n")
        wheel.writestr(
            f"{DIST_INFO}/RECORD", record or "\n".join([*lines, f"{DIST_INFO}/RECORD,,"])
        )
    return path


@pytest.fixture
def files() -> dict[str, bytes]:
    """A bundled plugin's real ELF bytes and its manifest, as the wheel ships them."""
    folder = bundled_plugins_dir() / "http_request"
    return {
        PLUGIN: (folder / "http_request.so").read_bytes(),
        "midimon/bundled_plugins/http_request/plugin.toml": (folder / "plugin.toml").read_bytes(),
    }


@pytest.fixture
def built(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """The wheel as scikit-build-core writes it."""
    return make_wheel(tmp_path / "built.whl", files, "py3-none-linux_x86_64")


def check(built: Path, repaired: Path) -> subprocess.CompletedProcess[str]:
    """Run ci/wheel_payload.py on the two wheels."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(built), str(repaired)], capture_output=True, text=True
    )


def test_a_retagged_wheel_with_the_same_bytes_passes(
    tmp_path: Path, built: Path, files: dict[str, bytes]
) -> None:
    """Only the tag changed: accepted, and the plugin is named among the ELF files."""
    repaired = make_wheel(tmp_path / "repaired.whl", files, "py3-none-manylinux_2_34_x86_64")
    done = check(built, repaired)
    assert done.returncode == 0, done.stderr
    assert PLUGIN in done.stdout


def test_a_patched_plugin_fails(tmp_path: Path, built: Path, files: dict[str, bytes]) -> None:
    """A plugin whose bytes changed (as patchelf would change them) is named and refused, even
    though the repaired wheel's RECORD matches the new bytes."""
    patched = {**files, PLUGIN: files[PLUGIN] + b"\0" * 16}
    repaired = make_wheel(tmp_path / "repaired.whl", patched, "py3-none-manylinux_2_34_x86_64")
    done = check(built, repaired)
    assert done.returncode == 1
    assert f"{PLUGIN}: auditwheel rewrote this ELF file" in done.stderr


def test_a_grafted_library_fails(tmp_path: Path, built: Path, files: dict[str, bytes]) -> None:
    """A library added by the repair is named and refused."""
    grafted = {**files, "midimon.libs/libfoo-1a2b3c4d.so.1": files[PLUGIN]}
    repaired = make_wheel(tmp_path / "repaired.whl", grafted, "py3-none-manylinux_2_34_x86_64")
    done = check(built, repaired)
    assert done.returncode == 1
    assert "midimon.libs/libfoo-1a2b3c4d.so.1: added by auditwheel" in done.stderr


def test_a_record_that_does_not_match_fails(
    tmp_path: Path, built: Path, files: dict[str, bytes]
) -> None:
    """Same bytes but a RECORD hash of other bytes: the installed plugin would be refused."""
    rows = [record_line(name, b"other" if name == PLUGIN else data) for name, data in files.items()]
    repaired = make_wheel(
        tmp_path / "repaired.whl", files, "py3-none-manylinux_2_34_x86_64", "\n".join(rows)
    )
    done = check(built, repaired)
    assert done.returncode == 1
    assert f"{PLUGIN}: RECORD says" in done.stderr
