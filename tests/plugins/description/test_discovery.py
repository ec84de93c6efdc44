"""Discovery: manifests only, bad ones reported, duplicates resolved by search order."""

from __future__ import annotations

import os
import time
from pathlib import Path

from helpers import write_manifest

from midimon.plugins.description.discovery import discover
from midimon.plugins.description.manifest import load_manifest


def make_folder(root: Path, folder: str, name: str | None = None, binary: bool = True) -> Path:
    path = root / folder
    path.mkdir(parents=True)
    write_manifest(path, name or folder)
    if binary:
        (path / "plugin.so").write_bytes(b"\x7fELF not really")
    return path


def test_finds_plugins_one_level_deep(tmp_path: Path) -> None:
    """Folders holding plugin.toml directly under a search dir are found; deeper ones are not."""
    make_folder(tmp_path, "alpha")
    make_folder(tmp_path, "beta")
    make_folder(tmp_path / "alpha", "nested")
    result = discover([tmp_path])
    assert sorted(result.plugins) == ["alpha", "beta"]
    assert result.problems == []


def test_bad_manifest_is_reported_and_scan_continues(tmp_path: Path) -> None:
    """A broken manifest becomes a problem naming its file; the other plugins are still found."""
    make_folder(tmp_path, "good")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "plugin.toml").write_text('[plugin]\nname = "Bad Name"\n')
    result = discover([tmp_path])
    assert list(result.plugins) == ["good"]
    assert len(result.problems) == 1
    assert str(bad / "plugin.toml") in result.problems[0].message
    assert "plugin.name" in result.problems[0].message


def test_duplicates_earlier_search_dir_wins(tmp_path: Path) -> None:
    """Two plugins with one name: the earlier search dir wins and both paths are reported."""
    first = make_folder(tmp_path / "one", "x", name="same")
    second = make_folder(tmp_path / "two", "y", name="same")
    result = discover([tmp_path / "one", tmp_path / "two"])
    assert result.plugins["same"].manifest.directory == first.resolve()
    (problem,) = result.problems
    assert problem.kind == "duplicate"
    assert str(first) in problem.message and str(second) in problem.message


def test_discovered_manifests_are_what_load_manifest_reads(tmp_path: Path) -> None:
    """Plain, symlinked and symlinked-search-dir folders: the same manifest as load_manifest."""
    real = tmp_path / "real"
    make_folder(real, "plain")
    target = make_folder(tmp_path / "elsewhere", "target")
    (real / "linked").symlink_to(target)
    (tmp_path / "dir_link").symlink_to(real)
    for search_dir in (real, tmp_path / "dir_link"):
        result = discover([search_dir])
        assert sorted(result.plugins) == ["plain", "target"]
        for found in result.plugins.values():
            expected = load_manifest(found.manifest.path)
            assert found.manifest == expected
            assert found.manifest.binary == expected.binary
            assert found.manifest.raw == expected.raw
            assert found.status == "ok"
    assert result.plugins["target"].manifest.binary == target.resolve() / "plugin.so"
    assert result.plugins["plain"].manifest.binary == real.resolve() / "plain" / "plugin.so"


def test_folders_without_a_manifest_file_are_skipped(tmp_path: Path) -> None:
    """plugin.toml missing, a folder, a dangling symlink or a FIFO: skipped, and nothing hangs."""
    make_folder(tmp_path, "good")
    (tmp_path / "empty").mkdir()
    (tmp_path / "dir" / "plugin.toml").mkdir(parents=True)
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "plugin.toml").symlink_to(tmp_path / "nowhere")
    if hasattr(os, "mkfifo"):
        (tmp_path / "fifo").mkdir()
        os.mkfifo(tmp_path / "fifo" / "plugin.toml")
    result = discover([tmp_path])
    assert list(result.plugins) == ["good"]
    assert result.problems == []


def test_folders_come_in_path_order(tmp_path: Path) -> None:
    """Within a search dir, folders are read in the order their paths sort (first one wins)."""
    for folder in ("b", "B", "a_2", "a", "a-1", "10", "9"):
        make_folder(tmp_path, folder, name="same")
    result = discover([tmp_path])
    order = sorted(tmp_path / f for f in ("b", "B", "a_2", "a", "a-1", "10", "9"))
    assert result.plugins["same"].manifest.directory == order[0]
    assert [p.path.parent for p in result.problems] == order[1:]


def test_empty_missing_and_file_dirs(tmp_path: Path) -> None:
    """Empty and missing search dirs are fine; a file given as a dir is reported."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    result = discover([tmp_path / "empty", tmp_path / "missing", tmp_path / "afile"])
    assert result.plugins == {}
    assert [p.path.name for p in result.problems] == ["afile"]
    assert len(result.searched) == 3


def test_status_reflects_files_without_running_code(tmp_path: Path) -> None:
    """Status says 'binary missing' or names an incompatible ABI, from files alone."""
    make_folder(tmp_path, "nobin", binary=False)
    folder = make_folder(tmp_path, "future")
    write_manifest(folder, "future", abi="2.0")
    result = discover([tmp_path])
    assert result.plugins["nobin"].status == "binary missing"
    assert result.plugins["future"].status.startswith("incompatible ABI 2.0")


def test_no_plugin_code_runs(tmp_path: Path) -> None:
    """A binary that is not even a library does not matter to discovery."""
    make_folder(tmp_path, "fake")
    assert discover([tmp_path]).plugins["fake"].status == "ok"


def test_thousand_folders(tmp_path: Path) -> None:
    """1,000 plugin folders are all discovered (the time is reported, benchmarks measure it)."""
    for i in range(1000):
        make_folder(tmp_path, f"p{i:04d}")
    started = time.perf_counter()
    result = discover([tmp_path])
    elapsed = time.perf_counter() - started
    assert len(result.plugins) == 1000
    assert result.problems == []
    print(f"discovered 1000 plugin folders in {elapsed * 1000:.1f} ms")
