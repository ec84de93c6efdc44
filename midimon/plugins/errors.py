"""The plugin system's exceptions: few, specific, each carrying the file or object at fault."""

from __future__ import annotations

from pathlib import Path


class PluginError(Exception):
    """Base of every error the plugin system raises on purpose."""


class ManifestError(PluginError):
    """A ``plugin.toml`` is missing, unreadable or invalid.

    ``field`` is the dotted TOML key at fault (``plugin.name``), or None when the whole file is.
    """

    def __init__(self, path: Path, field: str | None, message: str) -> None:
        self.path = Path(path)
        self.field = field
        self.message = message
        where = f"{self.path}: {field}: " if field else f"{self.path}: "
        super().__init__(where + message)


class LoadError(PluginError):
    """A plugin binary could not be loaded. Subclasses say why."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class NotASharedObject(LoadError):
    """The binary is missing or is not a shared library the dynamic loader accepts."""


class MissingEntryPoint(LoadError):
    """The library does not export ``_create_plugin``."""


class NullPlugin(LoadError):
    """``_create_plugin`` returned NULL."""


class AbiMismatch(LoadError):
    """The plugin was built for an ABI this host cannot run."""

    def __init__(self, path: Path, found: str, expected: str, message: str) -> None:
        self.found = found
        self.expected = expected
        super().__init__(path, message)


class InvalidPluginStruct(LoadError):
    """The plugin struct is malformed: NULL required member, bad string, unknown flag bits."""


class ManifestMismatch(LoadError):
    """What the binary reports disagrees with its ``plugin.toml``."""

    def __init__(
        self, path: Path, field: str, manifest_value: object, binary_value: object
    ) -> None:
        self.field = field
        self.manifest_value = manifest_value
        self.binary_value = binary_value
        super().__init__(
            path,
            f"{field} mismatch: plugin.toml says {manifest_value!r} but the binary reports "
            f"{binary_value!r}; rebuild the plugin or fix plugin.toml so they agree",
        )


class ChecksumMismatch(LoadError):
    """The binary's SHA-256 differs from the one the manifest pins."""

    def __init__(self, path: Path, expected: str, found: str) -> None:
        self.expected = expected
        self.found = found
        super().__init__(
            path, f"SHA-256 mismatch: plugin.toml pins {expected} but the binary hashes to {found}"
        )


class PluginNotFound(PluginError):
    """No plugin of that name was discovered on the search path."""

    def __init__(self, name: str, searched: list[Path]) -> None:
        self.name = name
        self.searched = searched
        dirs = ", ".join(str(p) for p in searched) or "(no folders)"
        super().__init__(f"no plugin named {name!r} found; searched: {dirs}")


class PluginCallError(PluginError):
    """A call into the plugin (initialize or execute) returned a failure status."""

    def __init__(self, plugin: str, call: str, status: int, message: str) -> None:
        from midimon.plugins.loading.abi import status_name

        self.plugin = plugin
        self.call = call
        self.status = status
        self.message = message
        text = message or "(the plugin gave no message)"
        super().__init__(f"{plugin}: {call} failed with {status_name(status)}: {text}")
