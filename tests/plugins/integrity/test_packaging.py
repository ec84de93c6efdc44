"""Plugin packages: reproducible archives of exactly the package files, unpacked only after
every member passes its checks, and installs that never lose the old version."""

from __future__ import annotations

import io
import os
import re
import tarfile
from pathlib import Path

import pytest
from helpers import MakePlugin

from midimon.plugins.integrity import packaging
from midimon.plugins.integrity.packaging import PackagingError


def test_failed_swap_restores_the_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When renaming the new version in fails, the old folder is put back."""
    plugins = tmp_path / "data" / "plugins"
    old = plugins / "swapme"
    old.mkdir(parents=True)
    (old / "plugin.toml").write_text("old\n")
    temp = tmp_path / "data" / ".midimon-install-x"
    new = temp / "plugin"
    new.mkdir(parents=True)
    manifest = type("M", (), {"name": "swapme"})()
    stage = packaging.Staged(manifest, None, new)  # type: ignore[arg-type]
    real_rename = packaging.os.rename

    def failing_rename(src, dst):
        if Path(src) == new:
            raise OSError("disk on fire")
        real_rename(src, dst)

    monkeypatch.setattr(packaging.os, "rename", failing_rename)
    with pytest.raises(OSError, match="disk on fire"):
        packaging.commit(stage, plugins)
    assert (old / "plugin.toml").read_text() == "old\n"
    assert not (temp / "old").exists()


def tar_of(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def test_pack_takes_the_package_files_only_and_is_reproducible(
    make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """Manifest, binary, READMEs and rotation statements go in, in a fixed order with fixed
    modes; other files stay out; packing twice gives the same bytes."""
    folder = make_plugin("packme", manifest={"version": "2.1.0"})
    (folder / "README.md").write_text("hi\n")
    (folder / "notes.txt").write_text("private\n")
    (folder / "src").mkdir()
    first = packaging.pack(folder, tmp_path)
    assert first.file.name == f"packme-2.1.0-{packaging.platform_tag()}.midimon-plugin"
    assert first.members == ("plugin.toml", "plugin.so", "README.md")
    with tarfile.open(first.file) as tar:
        modes = {m.name: (m.mode, m.mtime, m.uname) for m in tar.getmembers()}
    assert modes == {"plugin.toml": (0o644, 0, ""), "plugin.so": (0o755, 0, ""),
                     "README.md": (0o644, 0, "")}  # fmt: skip
    again = packaging.pack(folder, tmp_path / "again.midimon-plugin")
    assert again.file.read_bytes() == first.file.read_bytes() and again.sha256 == first.sha256


def test_pack_refuses_what_is_not_a_plugin_folder(
    make_plugin: MakePlugin, tmp_path: Path
) -> None:
    """No folder, no plugin.toml, a missing or symlinked binary: PackagingError naming it."""
    with pytest.raises(PackagingError, match="not a folder"):
        packaging.pack(tmp_path / "none")
    with pytest.raises(PackagingError, match=re.escape("no plugin.toml; not a plugin folder")):
        packaging.pack(tmp_path)
    folder = make_plugin("linked")
    real = folder / "real.so"  # inside the folder: the manifest accepts it, pack must not
    (folder / "plugin.so").rename(real)
    with pytest.raises(PackagingError, match=re.escape("the binary plugin.toml names is missing")):
        packaging.pack(folder, tmp_path)
    (folder / "plugin.so").symlink_to(real)
    with pytest.raises(PackagingError, match="is a symlink; only regular files are packed"):
        packaging.pack(folder, tmp_path)


def test_unpack_writes_the_files(make_plugin: MakePlugin, tmp_path: Path) -> None:
    """A package unpacks into an empty folder with the same bytes and the binary executable."""
    folder = make_plugin("roundtrip")
    package = packaging.pack(folder, tmp_path).file
    root = tmp_path / "root"
    root.mkdir()
    manifest = packaging.unpack_into(package, root)
    assert manifest.name == "roundtrip"
    assert (root / "plugin.so").read_bytes() == (folder / "plugin.so").read_bytes()
    assert os.stat(root / "plugin.so").st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (member("../x"), "contains '..' (path traversal)"),
        (member("/etc/x"), "is an absolute path"),
        (member("a\\b"), "has an invalid name"),
        (member("README", kind=tarfile.SYMTYPE), "is a symlink"),
        (member("README", kind=tarfile.LNKTYPE), "is a hardlink"),
        (member("README", kind=tarfile.FIFOTYPE), "is a fifo"),
        (member("README", kind=tarfile.CHRTYPE), "is a device file"),
        (member("run.sh"), "is not part of a plugin package"),
        (member("sub/", kind=tarfile.DIRTYPE), "is an unexpected folder"),
        (member("plugin.so"), "appears twice"),
    ],
)
def test_every_bad_member_is_refused_before_anything_is_written(
    make_plugin: MakePlugin, tmp_path: Path, extra: tuple, problem: str
) -> None:
    """One hostile member refuses the whole package, naming the member; nothing is written."""
    folder = make_plugin("victim")
    good = [member(name, (folder / name).read_bytes()) for name in ("plugin.toml", "plugin.so")]
    package = tar_of(tmp_path / "evil.midimon-plugin", [*good, extra])
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(PackagingError, match=re.escape(problem)) as info:
        packaging.unpack_into(package, root)
    assert str(package) in str(info.value) and "refused" in str(info.value)
    assert list(root.iterdir()) == []


def test_unreadable_and_incomplete_packages(make_plugin: MakePlugin, tmp_path: Path) -> None:
    """Garbage, a truncated archive, no manifest, or no binary: refused with the reason."""
    folder = make_plugin("partial")
    whole = packaging.pack(folder, tmp_path).file
    cases = {
        tmp_path / "garbage": (b"not a tar" * 10, "not a readable plugin package"),
        tmp_path / "half": (whole.read_bytes()[: whole.stat().st_size // 2],
                            "not a readable plugin package"),
    }  # fmt: skip
    for path, (data, message) in cases.items():
        path.write_bytes(data)
        root = tmp_path / f"root-{path.name}"
        root.mkdir()
        with pytest.raises(PackagingError, match=message):
            packaging.unpack_into(path, root)
    no_manifest = tar_of(tmp_path / "nm", [member("plugin.so", b"\x7fELF")])
    with pytest.raises(PackagingError, match=re.escape("no plugin.toml in the package")):
        packaging.unpack_into(no_manifest, tmp_path / "root-nm")
    manifest = (folder / "plugin.toml").read_bytes()
    no_binary = tar_of(tmp_path / "nb", [member("plugin.toml", manifest)])
    missing = re.escape("the binary 'plugin.so' that plugin.toml names")
    with pytest.raises(PackagingError, match=missing):
        packaging.unpack_into(no_binary, tmp_path / "root-nb")
