"""plugin.toml validation: precise errors naming the field, warnings for unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from midimon.plugins.description.capabilities import Capability
from midimon.plugins.description.manifest import current_platform, load_manifest
from midimon.plugins.errors import ManifestError

GOOD = """
[plugin]
name = "demo_plugin"
version = "1.2.3"
description = "d"
author = "a"
homepage = "https://example.invalid"
license = "MIT"
type = "action"
abi = "1.0"
binary = "demo.so"

[plugin.capabilities]
network = true
midi = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugin.toml"
    path.write_text(text)
    return path


def test_valid_manifest_reads_every_field(tmp_path: Path) -> None:
    """A complete manifest yields every field, the binary in its folder, and capabilities."""
    m = load_manifest(write(tmp_path, GOOD))
    assert (m.name, m.version, m.plugin_type, m.abi) == ("demo_plugin", "1.2.3", "action", (1, 0))
    assert m.binary == tmp_path.resolve() / "demo.so"
    assert m.capabilities == {Capability.NETWORK}
    assert (m.author, m.license, m.homepage) == ("a", "MIT", "https://example.invalid")
    assert m.warnings == ()


def test_folder_path_reads_its_manifest(tmp_path: Path) -> None:
    """Passing the plugin folder reads its plugin.toml."""
    write(tmp_path, GOOD)
    assert load_manifest(tmp_path).name == "demo_plugin"


def test_per_platform_binary_table(tmp_path: Path) -> None:
    """binary may be a table keyed by platform; this platform's entry is used."""
    text = GOOD.replace(
        'binary = "demo.so"', 'binary = { linux = "a.so", macos = "a.dylib", windows = "a.dll" }'
    )
    m = load_manifest(write(tmp_path, text))
    expected = {"linux": "a.so", "macos": "a.dylib", "windows": "a.dll"}[current_platform()]
    assert m.binary is not None and m.binary.name == expected


def test_platform_table_without_this_platform(tmp_path: Path) -> None:
    """A binary table lacking this platform loads, with the binary marked unavailable."""
    text = GOOD.replace('binary = "demo.so"', 'binary = { plan9 = "a.so" }')
    m = load_manifest(write(tmp_path, text))
    assert m.binary is None
    assert "no binary for" in (m.binary_error or "")
    assert any("plan9" in w for w in m.warnings)


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ('name = "demo_plugin"\n', "", "plugin.name", "missing"),
        ('version = "1.2.3"\n', "", "plugin.version", "missing"),
        ('type = "action"\n', "", "plugin.type", "missing"),
        ('abi = "1.0"\n', "", "plugin.abi", "missing"),
        ('binary = "demo.so"\n', "", "plugin.binary", "missing"),
        ('name = "demo_plugin"', "name = 42", "plugin.name", "must be a string"),
        ('name = "demo_plugin"', 'name = "Demo-Plugin"', "plugin.name", "lowercase letters"),
        ('name = "demo_plugin"', 'name = ""', "plugin.name", "not valid"),
        ('version = "1.2.3"', 'version = "one"', "plugin.version", "like 1.2.3"),
        ('type = "action"', 'type = "filter"', "plugin.type", "action, trigger"),
        ('abi = "1.0"', 'abi = "1"', "plugin.abi", "like 1.0"),
        ('abi = "1.0"', "abi = 1.0", "plugin.abi", "must be a string"),
        (
            'binary = "demo.so"',
            'binary = "../../x.so"',
            "plugin.binary",
            "escapes the plugin folder",
        ),
        ('binary = "demo.so"', 'binary = "sub/../../x.so"', "plugin.binary", "escapes"),
        ('binary = "demo.so"', 'binary = "/usr/lib/x.so"', "plugin.binary", "absolute"),
        ('binary = "demo.so"', 'binary = ""', "plugin.binary", "non-empty"),
        ('binary = "demo.so"', "binary = 7", "plugin.binary", "file name or a table"),
        ('binary = "demo.so"', "binary = { linux = 7 }", "plugin.binary.linux", "string"),
        ("network = true", 'network = "yes"', "plugin.capabilities.network", "true or false"),
        ('binary = "demo.so"', 'binary = "demo.so"\nsha256 = "abc"', "plugin.sha256", "64 hex"),
    ],
)
def test_invalid_fields_are_named(
    tmp_path: Path, old: str, new: str, field: str, fragment: str
) -> None:
    """Each invalid or missing field raises ManifestError naming the file and the field."""
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert info.value.field == field
    assert fragment in info.value.message
    assert str(path) in str(info.value)


def test_symlinked_binary_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    """A binary path that is a symlink out of the folder counts as escaping it."""
    outside = tmp_path / "outside.so"
    outside.write_bytes(b"x")
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "demo.so").symlink_to(outside)
    with pytest.raises(ManifestError, match="escapes the plugin folder"):
        load_manifest(write(folder, GOOD))


def test_binary_under_a_symlinked_subfolder_escaping_is_refused(tmp_path: Path) -> None:
    """A binary reached through a symlinked sub-folder that leads outside escapes the folder."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "demo.so").write_bytes(b"x")
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "sub").symlink_to(outside)
    with pytest.raises(ManifestError, match="escapes the plugin folder"):
        load_manifest(write(folder, GOOD.replace('"demo.so"', '"sub/demo.so"')))


def test_symlink_that_stays_inside_the_folder_is_accepted(tmp_path: Path) -> None:
    """A binary that is a symlink to another file of the folder is fine; its path is as written."""
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "real.so").write_bytes(b"x")
    (folder / "demo.so").symlink_to(folder / "real.so")
    m = load_manifest(write(folder, GOOD))
    assert m.binary == folder.resolve() / "demo.so"


@pytest.mark.parametrize(
    "relative", ["demo.so", "./demo.so", "sub/demo.so", "sub//demo.so", "sub/./demo.so/", "a b.so"]
)
def test_binary_path_is_the_resolved_folder_joined_with_it(tmp_path: Path, relative: str) -> None:
    """The binary is the folder, symlinks resolved, joined with the path as Path reads it."""
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    text = GOOD.replace('"demo.so"', f'"{relative}"')
    for folder in (real, tmp_path / "link"):  # directly, and through a symlink
        m = load_manifest(write(folder, text))
        assert m.binary == real.resolve() / Path(relative)


def test_unknown_keys_are_warned_not_fatal(tmp_path: Path) -> None:
    """Unknown keys, tables and capabilities become warnings; the manifest still loads."""
    text = GOOD + "telepathy = true\n[extra]\nx = 1\n"
    text = text.replace('license = "MIT"', 'license = "MIT"\ncolour = "blue"')
    m = load_manifest(write(tmp_path, text))
    joined = "\n".join(m.warnings)
    assert "plugin.colour" in joined
    assert "plugin.capabilities.telepathy" in joined
    assert "'extra'" in joined


def test_file_level_errors(tmp_path: Path) -> None:
    """Missing file, invalid TOML, non-UTF-8 and a missing [plugin] table are clear errors."""
    with pytest.raises(ManifestError, match="file not found"):
        load_manifest(tmp_path / "nope.toml")
    with pytest.raises(ManifestError, match="invalid TOML"):
        load_manifest(write(tmp_path, "[plugin\nname="))
    (tmp_path / "plugin.toml").write_bytes(b'[plugin]\nname = "\xff"\n')
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(tmp_path / "plugin.toml")
    with pytest.raises(ManifestError, match=r"missing \[plugin\] table"):
        load_manifest(write(tmp_path, "[other]\nx = 1\n"))
