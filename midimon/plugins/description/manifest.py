"""``plugin.toml``: reading and validating a plugin's manifest, with errors that name the field."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from midimon import _toml
from midimon.plugins.description.capabilities import Capability, sorted_caps
from midimon.plugins.description.params_schema import ParamsSchema, parse_params_schema
from midimon.plugins.errors import ManifestError

MANIFEST_NAME = "plugin.toml"

NAME_PATTERN = re.compile(r"[a-z0-9_]+")
VERSION_PATTERN = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]+)?")
ABI_PATTERN = re.compile(r"(\d+)\.(\d+)")
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
PLUGIN_TYPES = ("action", "trigger")
PLATFORM_KEYS = ("linux", "macos", "windows")

_REQUIRED = ("name", "version", "type", "binary", "abi")
_OPTIONAL = ("description", "author", "homepage", "license", "sha256", "capabilities", "params",
             "additional_params")  # fmt: skip


def current_platform() -> str:
    """The manifest's key for this platform: linux, macos or windows (else sys.platform)."""
    # A plain str, so the type checker reads every branch and not only this machine's.
    platform: str = sys.platform
    if platform.startswith("linux"):
        return "linux"
    if platform == "darwin":
        return "macos"
    if platform in ("win32", "cygwin"):
        return "windows"
    return platform


@dataclass(frozen=True)
class PluginManifest:
    """A validated ``plugin.toml``.

    ``binary`` is the path for this platform inside the plugin folder, or None when the manifest
    has no binary for this platform (``binary_error`` then says so).
    """

    path: Path
    name: str
    version: str
    plugin_type: str
    abi: tuple[int, int]
    binary: Path | None
    binary_error: str | None = None
    description: str = ""
    author: str = ""
    homepage: str = ""
    license: str = ""
    sha256: str | None = None
    capabilities: frozenset[Capability] = frozenset()
    #: ``[plugin.params]``: the params a mapping may pass, or None (free-form params)
    params: ParamsSchema | None = field(default=None, compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)
    raw: bytes = field(default=b"", repr=False, compare=False)  # the exact bytes validated

    @property
    def manifest_sha256(self) -> str:
        """SHA-256 of the exact manifest bytes that were validated."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def directory(self) -> Path:
        """The plugin folder."""
        return self.path.parent

    @property
    def abi_text(self) -> str:
        """The ABI version as written, ``major.minor``."""
        return f"{self.abi[0]}.{self.abi[1]}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-friendly dict of the manifest."""
        return {
            "name": self.name,
            "version": self.version,
            "type": self.plugin_type,
            "description": self.description,
            "author": self.author,
            "homepage": self.homepage,
            "license": self.license,
            "abi": self.abi_text,
            "binary": str(self.binary) if self.binary else None,
            "sha256": self.sha256,
            "capabilities": [c.value for c in sorted_caps(self.capabilities)],
            "params": self.params.as_dict() if self.params is not None else None,
            "manifest": str(self.path),
        }


def load_manifest(path: Path | str) -> PluginManifest:
    """Read and validate a ``plugin.toml`` (or the one in a plugin folder).

    Raises ManifestError naming the file and the field at fault.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    return parse_manifest(read_manifest_bytes(path), path)


def read_manifest_bytes(path: Path) -> bytes:
    """The bytes of a manifest file; ManifestError when it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise ManifestError(path, None, "file not found") from None
    except OSError as exc:
        raise ManifestError(path, None, f"cannot read: {exc.strerror or exc}") from None


def parse_manifest(raw: bytes, path: Path, *, real_folder: Path | None = None) -> PluginManifest:
    """Validate manifest bytes read from ``path`` (the path is used for messages and binaries).

    ``real_folder`` is ``path.parent.resolve()`` when the caller has it already (discovery
    resolves each search dir once); otherwise it is worked out here.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, None, f"not UTF-8 (byte {exc.start})") from None
    try:
        doc = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise ManifestError(path, None, f"invalid TOML: {exc}") from None
    return _Validator(path, real_folder).validate(doc, raw)


def _has_symlink(folder: str, parts: list[str]) -> bool:
    """Whether any of ``folder/parts[0]``, ``folder/parts[0]/parts[1]``, ... is a symlink."""
    current = folder
    for part in parts:
        current = f"{current}/{part}"
        try:
            mode = os.lstat(current).st_mode
        except OSError:  # missing or unreadable: realpath() takes it as it is, and so do we
            continue
        if stat.S_ISLNK(mode):
            return True
    return False


class _Validator:
    def __init__(self, path: Path, real_folder: Path | None = None) -> None:
        self.path = path
        self.real_folder = real_folder
        self.warnings: list[str] = []

    def fail(self, field_name: str, message: str) -> ManifestError:
        return ManifestError(self.path, field_name, message)

    def string(self, table: dict[str, Any], key: str, *, required: bool) -> str:
        dotted = f"plugin.{key}"
        if key not in table:
            if required:
                raise self.fail(dotted, "missing (required)")
            return ""
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(dotted, f"must be a string, got {type(value).__name__}")
        return value

    def validate(self, doc: dict[str, Any], raw: bytes) -> PluginManifest:
        for key in doc:
            if key != "plugin":
                self.warnings.append(f"unknown top-level key {key!r} ignored")
        table = doc.get("plugin")
        if table is None:
            raise self.fail("plugin", "missing [plugin] table")
        if not isinstance(table, dict):
            raise self.fail("plugin", "must be a table")
        for key in table:
            if key not in _REQUIRED and key not in _OPTIONAL:
                self.warnings.append(f"unknown key plugin.{key} ignored")

        name = self.string(table, "name", required=True)
        if not NAME_PATTERN.fullmatch(name):
            raise self.fail(
                "plugin.name", f"{name!r} is not valid: use lowercase letters, digits and _ only"
            )
        version = self.string(table, "version", required=True)
        if not VERSION_PATTERN.fullmatch(version):
            raise self.fail("plugin.version", f"{version!r} is not a version like 1.2.3")
        plugin_type = self.string(table, "type", required=True)
        if plugin_type not in PLUGIN_TYPES:
            raise self.fail("plugin.type", f"{plugin_type!r}; expected one of: action, trigger")
        abi = self._abi(table)
        binary, binary_error = self._binary(table.get("binary"))
        sha256 = self.string(table, "sha256", required=False) or None
        if sha256 is not None and not SHA256_PATTERN.fullmatch(sha256.lower()):
            raise self.fail("plugin.sha256", "must be 64 hexadecimal digits")
        return PluginManifest(
            path=self.path,
            name=name,
            version=version,
            plugin_type=plugin_type,
            abi=abi,
            binary=binary,
            binary_error=binary_error,
            description=self.string(table, "description", required=False),
            author=self.string(table, "author", required=False),
            homepage=self.string(table, "homepage", required=False),
            license=self.string(table, "license", required=False),
            sha256=sha256.lower() if sha256 else None,
            capabilities=self._capabilities(table.get("capabilities", {})),
            params=self._params(table),
            warnings=tuple(self.warnings),
            raw=raw,
        )

    def _abi(self, table: dict[str, Any]) -> tuple[int, int]:
        value = self.string(table, "abi", required=True)
        match = ABI_PATTERN.fullmatch(value)
        if not match:
            raise self.fail("plugin.abi", f"{value!r} is not an ABI version like 1.0")
        return int(match.group(1)), int(match.group(2))

    def _binary(self, value: object) -> tuple[Path | None, str | None]:
        if value is None:
            raise self.fail("plugin.binary", "missing (required)")
        platform = current_platform()
        if isinstance(value, dict):
            for key, entry in value.items():
                if key not in PLATFORM_KEYS:
                    self.warnings.append(f"unknown platform plugin.binary.{key} ignored")
                if not isinstance(entry, str):
                    raise self.fail(f"plugin.binary.{key}", "must be a string")
            if platform not in value:
                have = ", ".join(value) or "none"
                return None, f"no binary for {platform} (plugin.binary has: {have})"
            field_name, relative = f"plugin.binary.{platform}", value[platform]
        elif isinstance(value, str):
            field_name, relative = "plugin.binary", value
        else:
            raise self.fail(
                "plugin.binary", "must be a file name or a table keyed by linux/macos/windows"
            )
        return self._inside_folder(field_name, relative), None

    def _inside_folder(self, field_name: str, relative: str) -> Path:
        if not relative or "\x00" in relative:
            raise self.fail(field_name, "must be a non-empty file name")
        if os.name == "posix" and not relative.startswith("/"):
            # What the checks below decide, without resolve()'s lstat of every component of
            # the folder and of the binary's path: a relative path with no ".." and no symlink
            # in it stays inside the folder. (The parts are those Path(relative) would have.)
            parts = [part for part in relative.split("/") if part and part != "."]
            if parts and ".." not in parts:
                real_folder = self.real_folder or self.path.parent.resolve()
                if not _has_symlink(str(real_folder), parts):
                    return real_folder / relative
        candidate = Path(relative)
        if candidate.is_absolute() or candidate.drive:
            raise self.fail(field_name, f"{relative!r} is absolute; give a path inside the folder")
        folder = self.path.parent.resolve()
        resolved = (folder / candidate).resolve()
        if not resolved.is_relative_to(folder) or resolved == folder:
            raise self.fail(
                field_name, f"{relative!r} escapes the plugin folder {folder}; keep it inside"
            )
        return folder / candidate

    def _params(self, table: dict[str, Any]) -> ParamsSchema | None:
        additional = table.get("additional_params", False)
        if not isinstance(additional, bool):
            raise self.fail(
                "plugin.additional_params", f"must be true or false, got {additional!r}"
            )
        if "params" not in table:
            return None  # no schema: free-form params
        return parse_params_schema(table["params"], additional, self.path, self.warnings)

    def _capabilities(self, value: object) -> frozenset[Capability]:
        if not isinstance(value, dict):
            raise self.fail("plugin.capabilities", "must be a table of booleans")
        granted = set()
        for key, flag in value.items():
            try:
                capability = Capability(key)
            except ValueError:
                self.warnings.append(f"unknown capability plugin.capabilities.{key} ignored")
                continue
            if not isinstance(flag, bool):
                raise self.fail(
                    f"plugin.capabilities.{key}", f"must be true or false, got {flag!r}"
                )
            if flag:
                granted.add(capability)
        return frozenset(granted)
