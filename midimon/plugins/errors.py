"""The plugin system's exceptions, all of them: few, specific, each carrying the file or object
at fault. Every one is a :class:`PluginError`, and so a :class:`~midimon.errors.MidimonError`.

The stages' modules (``integrity.minisign_format``, ``sandbox.denials``, ...) import their
errors from here and re-export them, so the old import paths keep working. Sections follow a
plugin's road: description and loading, integrity, the sandbox, the manager.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from midimon.errors import MidimonError

if TYPE_CHECKING:  # only for annotations: each of these modules imports this one
    from midimon.plugins.integrity.rollback import Accepted
    from midimon.plugins.integrity.verify import IntegrityReport
    from midimon.plugins.sandbox.denials import Denial


class PluginError(MidimonError):
    """Base of every error the plugin system raises on purpose."""


# --- description and loading ------------------------------------------------------------------


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


class ImageChanged(PluginError, OSError):
    """The binary shrank while it was being read: there is no consistent copy to check."""


class BinaryFormatError(PluginError, ValueError):
    """The binary is not a well-formed ELF / Mach-O / PE file; ``offset`` is where it broke."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        where = f" (at byte {offset})" if offset is not None else ""
        super().__init__(message + where)


class SettingsError(PluginError, ValueError):
    """A [plugins] setting is invalid; names the file and the key."""

    def __init__(self, path: Path | None, key: str, message: str) -> None:
        self.path = path
        self.key = key
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{key}: {message}")


# --- integrity --------------------------------------------------------------------------------


class IntegrityError(LoadError):
    """The integrity check refused the plugin; ``report`` says exactly why."""

    def __init__(self, report: IntegrityReport) -> None:
        self.report = report
        reasons = "; ".join(f.message for f in report.failures) or "refused"
        super().__init__(report.binary, f"integrity check failed: {reasons}")

    @property
    def hints(self) -> tuple[str, ...]:
        """The fix of each failure that has one, as ``fix: ...`` lines."""
        return tuple(f"fix: {f.fix}" for f in self.report.failures if f.fix)


def where_prefix(source: str | None, line: int | None) -> str:
    """``"FILE: line N: "`` (either part left out when None): how minisign errors start."""
    parts = []
    if source:
        parts.append(str(source))
    if line is not None:
        parts.append(f"line {line}")
    return "".join(f"{p}: " for p in parts)


class MinisignError(PluginError, ValueError):
    """Base of every error the minisign modules raise on purpose."""


class ArgumentError(MinisignError):
    """A value given to this module cannot be written in minisign's formats.

    For example a comment with a line break, a trusted comment longer than minisign reads back,
    a password minisign could not type, or a field of the wrong length.
    """


class KeyFormatError(MinisignError):
    """A public or secret key file (or string) is malformed or inconsistent.

    ``source`` names the file (or is None), ``line`` the 1-based line at fault (or None).
    """

    def __init__(self, source: str | None, message: str, line: int | None = None) -> None:
        self.source = None if source is None else str(source)
        self.line = line
        self.message = message
        super().__init__(where_prefix(self.source, line) + message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.message, self.line))


class SignatureFormatError(MinisignError):
    """A signature file is malformed. ``line`` is the 1-based line at fault (or None)."""

    def __init__(self, source: str | None, line: int | None, message: str) -> None:
        self.source = None if source is None else str(source)
        self.line = line
        self.message = message
        super().__init__(where_prefix(self.source, line) + message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.line, self.message))


class WrongPasswordError(MinisignError):
    """The secret key is encrypted and the password is wrong or was not given."""

    def __init__(self, source: str | None, message: str | None = None) -> None:
        self.source = None if source is None else str(source)
        self.message = message or (
            "wrong password for this secret key (the checksum does not match after decryption)"
        )
        super().__init__(where_prefix(self.source, None) + self.message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source, self.message))


class KeyIdMismatch(MinisignError):
    """The signature names a key id other than the public key's: it was made by another key.

    ``expected`` is the public key's id, ``found`` the signature's (8 raw bytes each).
    """

    def __init__(self, expected: bytes, found: bytes, source: str | None = None) -> None:
        self.expected = bytes(expected)
        self.found = bytes(found)
        self.source = None if source is None else str(source)
        # Key ids as minisign prints them: le64_load(keynum) with %016"PRIX64", bytes reversed.
        super().__init__(
            f"{where_prefix(self.source, None)}signature key id is "
            f"{self.found[::-1].hex().upper()} but the public key's id is "
            f"{self.expected[::-1].hex().upper()}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.expected, self.found, self.source))


class BadSignature(MinisignError):
    """A signature does not verify.

    ``part`` says which: ``"signature"`` (the data does not match) or ``"global"`` (the global
    signature over the trusted comment does not match: the comment was altered).
    """

    def __init__(self, message: str, part: Literal["signature", "global"] = "signature") -> None:
        self.message = message
        self.part = part
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.part))


class LegacySignatureRefused(MinisignError):
    """The signature uses the legacy ``Ed`` algorithm (no prehash) and legacy was not allowed."""

    def __init__(self, source: str | None = None) -> None:
        self.source = None if source is None else str(source)
        super().__init__(
            f"{where_prefix(self.source, None)}legacy (non-prehashed, algorithm 'Ed') signature "
            "refused; re-sign with a current minisign (algorithm 'ED') or allow legacy"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.source,))


class TrustStoreError(PluginError):
    """A trust store file is unreadable or invalid; names the file."""


class RotationError(PluginError):
    """A rotation statement is present but invalid; names the file and the fault."""


class RollbackRefused(PluginError):
    """The plugin is older than one already accepted."""

    def __init__(self, plugin: str, offered: Accepted, newest: Accepted) -> None:
        self.plugin = plugin
        self.offered = offered
        self.newest = newest
        if offered.version != newest.version:
            what = f"version {offered.version} is older than {newest.version}"
        else:
            what = (
                f"its signature (timestamp {offered.timestamp}) is older than the accepted one "
                f"(timestamp {newest.timestamp})"
            )
        super().__init__(
            f"rollback refused for {plugin}: {what}, accepted before; allow a downgrade "
            f"explicitly if you mean it"
        )


class PackagingError(PluginError):
    """A package or plugin folder was refused; the message says which file and why."""


class InstallRefused(PackagingError):
    """An install or uninstall was refused; the message says what and why."""


class NoManifest(PluginError):
    """The path holds no plugin.toml (the caller words the error for its user)."""


# --- the sandbox ------------------------------------------------------------------------------


class ProtocolViolation(PluginError):
    """The worker sent something the protocol does not allow (the worker's caller turns it into
    a WorkerCrashed, which is what a user sees)."""


class UnsafeGrantPath(PluginError, ValueError):
    """A Filesystem grant names a path that would reach ``/`` or midimon's own state."""

    def __init__(self, given: str, resolved: Path, reason: str) -> None:
        from midimon.plugins.sandbox.grant_paths import SAFER_CHOICE

        self.given = given
        self.resolved = resolved
        self.reason = reason
        shown = given if given == str(resolved) else f"{given} (resolves to {resolved})"
        super().__init__(f"refused filesystem path {shown}: {reason}; grant {SAFER_CHOICE}")


class FilesystemPathMissing(PluginError, ValueError):
    """A Filesystem grant without any path, or naming a path that does not exist."""


class WorkerError(PluginError):
    """A worker could not be started, or failed while running a plugin."""


class WorkerLoadFailed(WorkerError):
    """The worker could not load the plugin: ``code`` says why (dlopen, no_entry, null_plugin,
    abi_major, abi_minor, struct_size, invalid_struct, image, sandbox)."""

    def __init__(
        self,
        plugin: str,
        code: str,
        message: str,
        abi_major: int = 0,
        abi_minor: int = 0,
        struct_size: int = 0,
    ) -> None:
        self.plugin = plugin
        self.code = code
        self.message = message
        self.abi_major = abi_major
        self.abi_minor = abi_minor
        self.struct_size = struct_size
        super().__init__(f"{plugin}: cannot load ({code}): {message}")


class WorkerCrashed(WorkerError):
    """The worker died (or broke the protocol and was killed).

    ``signal`` or ``exit_code`` come from its wait status; ``denial`` is set when the sandbox
    stopped it; ``detail`` says more (a protocol violation, the call it was in).
    """

    def __init__(
        self,
        plugin: str,
        call: str,
        signal: int | None,
        exit_code: int | None,
        denial: Denial | None = None,
        detail: str = "",
        killed_by_host: bool = False,
    ) -> None:
        self.plugin = plugin
        self.call = call
        self.signal = signal
        self.exit_code = exit_code
        self.denial = denial
        self.detail = detail
        self.killed_by_host = killed_by_host
        super().__init__(self._text())

    def _text(self) -> str:
        from midimon.plugins.sandbox.wire import Wire

        if self.denial is not None:
            return f"{self.plugin} {self.denial.detail}; the sandbox stopped its worker"
        elif self.killed_by_host:
            text = f"the worker was killed by the host during {self.call}"
        elif self.signal is not None:
            text = f"the worker was killed by {_signal_name(self.signal)} during {self.call}"
        elif self.exit_code == Wire.EXIT_DENIED:
            text = f"the worker was stopped by the sandbox (a forbidden syscall) during {self.call}"
        elif self.exit_code is not None:
            text = f"the worker exited with status {self.exit_code} during {self.call}"
        else:
            text = f"the worker was lost during {self.call}"
        if self.detail:
            text += f" ({self.detail})"
        return f"{self.plugin}: {text}"


class WorkerTimeout(WorkerError):
    """A call got no answer within its timeout; the worker's process group was killed."""

    def __init__(self, plugin: str, call: str, seconds: float) -> None:
        self.plugin = plugin
        self.call = call
        self.seconds = seconds
        super().__init__(
            f"{plugin}: no answer to {call} within {seconds:g} s; the worker was killed"
        )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# --- the manager ------------------------------------------------------------------------------


class PipelineFull(WorkerError):
    """The plugin's call queue is full: the call was dropped, never sent."""

    def __init__(self, plugin: str, queue_size: int) -> None:
        self.plugin = plugin
        self.queue_size = queue_size
        super().__init__(
            f"{plugin}: {queue_size} calls are already queued for its worker; call dropped"
        )


class CallNotRun(WorkerError):
    """The call was queued behind one during which the worker crashed or timed out (or the
    plugin was shut down): it never ran. ``cause`` is that call's error."""

    def __init__(
        self,
        plugin: str,
        seq: int,
        cause: WorkerError,
        first: bool = True,
        count: int = 1,
        behind: bool = True,
    ) -> None:
        self.plugin = plugin
        self.seq = seq
        self.cause = cause
        self.first = first  # the first of the calls this cause failed (report them once)
        self.count = count  # how many calls it failed without running them
        # The same text for every call of one cause: the failure log repeats it once.
        why = "not run, it was queued behind a failed call" if behind else "not run"
        super().__init__(f"{plugin}: {why}: {cause}")


class PluginDisabled(PluginError):
    """The plugin is disabled (by the user or after repeated crashes)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(
            f"plugin {name!r} is disabled: {reason}; enable it with midimon plugins enable {name}"
        )


class InProcessRefused(LoadError):
    """In-process mode was asked for a plugin not signed by a trusted key."""
