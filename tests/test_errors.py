"""One error root: every exception midimon raises on purpose is a MidimonError, each package's
live in its one errors module, the old import paths still work, and the CLI reports them."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import midimon
from midimon.errors import MidimonError
from midimon.plugins.errors import IntegrityError, PluginError

# Where exception classes may be defined. The two internal signals are control flow inside one
# module, never shown to a user, and say so in their docstrings.
ERROR_MODULES = {
    "midimon.errors",
    "midimon.plugins.errors",
    "midimon.engine.errors",
    "midimon.daemon.errors",
    "midimon.ui.errors",  # PanelError, the control panel's one error
    "midimon.cli.common",  # CliError, the CLI's one error
    "midimon.devtools.jack_server",  # JackToolMissing, the dev tools' one error
}
INTERNAL_SIGNALS = {
    "midimon.daemon.control_streams.StreamEnded",
    "midimon.daemon.connection._Disconnect",
}

# Old homes of moved classes (tests, docs and users import them from there).
OLD_PATHS = {
    "midimon.midi": ["MidiError", "MidiBackendError", "PortNotFoundError", "PortClosedError"],
    "midimon.midi_jack": ["JackUnavailableError"],
    "midimon.scaffold": ["ScaffoldError"],
    "midimon.engine.config": ["ConfigError", "InvalidConfig"],
    "midimon.engine.config_check": ["ConfigError", "InvalidConfig"],
    "midimon.engine.actions": ["ActionError"],
    "midimon.daemon": ["CommandError", "IpcError", "DaemonNotRunning", "AlreadyRunning"],
    "midimon.daemon.client": ["IpcError", "DaemonNotRunning"],
    "midimon.daemon.control_protocol": ["CommandError"],
    "midimon.daemon.cookie": ["CookieError"],
    "midimon.daemon.server": ["ControlServerError", "AlreadyRunning"],
    "midimon.plugins.integrity.minisign_format": [
        "MinisignError",
        "ArgumentError",
        "KeyFormatError",
        "SignatureFormatError",
        "WrongPasswordError",
        "KeyIdMismatch",
        "BadSignature",
        "LegacySignatureRefused",
    ],
    "midimon.plugins.integrity.packaging": ["PackagingError"],
    "midimon.plugins.integrity.rotation": ["RotationError"],
    "midimon.plugins.integrity.trust": ["TrustStoreError"],
    "midimon.plugins.integrity.rollback": ["RollbackRefused"],
    "midimon.plugins.integrity.verify": ["IntegrityError"],
    "midimon.plugins.settings": ["SettingsError"],
    "midimon.plugins.loading.image": ["ImageChanged"],
    "midimon.plugins.loading.binary_deps": ["BinaryFormatError"],
    "midimon.plugins.sandbox.denials": [
        "WorkerError",
        "WorkerLoadFailed",
        "WorkerCrashed",
        "WorkerTimeout",
    ],
    "midimon.plugins.sandbox.grant_paths": ["UnsafeGrantPath", "FilesystemPathMissing"],
    "midimon.plugins.sandbox.wire": ["ProtocolViolation"],
    "midimon.plugins.manager.results": ["PluginDisabled", "InProcessRefused"],
    "midimon.plugins": ["MinisignError", "TrustStoreError", "SettingsError", "PluginDisabled"],
}


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in midimon (imported module by module)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(midimon.__path__, "midimon."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_midimon_exception_is_a_midimon_error_in_its_package_errors_module() -> None:
    """Each exception class is a MidimonError defined in an errors module, or a documented
    internal signal."""
    classes = _exception_classes()
    assert len(classes) > 50
    stray = sorted(
        name
        for name, cls in classes.items()
        if name not in INTERNAL_SIGNALS
        and (cls.__module__ not in ERROR_MODULES or not issubclass(cls, MidimonError))
    )
    assert stray == [], "exceptions outside the errors modules or the MidimonError tree"
    for name in INTERNAL_SIGNALS:
        assert "never seen by a user" in (classes[name].__doc__ or "").replace("\n    ", " ")


def test_every_plugin_exception_is_a_plugin_error() -> None:
    """midimon.plugins.errors holds only PluginErrors (MinisignError, TrustStoreError, ... too),
    keeping the bases callers catch (ValueError, OSError)."""
    import midimon.plugins.errors as errors

    defined = [
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls)
        and issubclass(cls, BaseException)
        and cls.__module__ == errors.__name__
    ]
    assert len(defined) >= 35
    assert all(issubclass(cls, PluginError) for cls in defined)
    assert issubclass(errors.MinisignError, ValueError)
    assert issubclass(errors.ImageChanged, OSError)
    assert issubclass(errors.SettingsError, ValueError)


@pytest.mark.parametrize("module", sorted(OLD_PATHS))
def test_old_import_paths_still_give_the_same_classes(module: str) -> None:
    """A moved class is still importable where it was, and is the same class."""
    old = importlib.import_module(module)
    for name in OLD_PATHS[module]:
        cls = getattr(old, name)
        assert issubclass(cls, MidimonError), name
        canonical = importlib.import_module(cls.__module__)
        assert getattr(canonical, name) is cls


def test_midi_errors_are_still_os_errors() -> None:
    """MidiError and JackUnavailableError keep OSError as a base (callers catch OSError)."""
    from midimon.errors import JackUnavailableError, MidiError, PortNotFoundError

    error = PortNotFoundError("input", "nanoPAD", "ALSA", ["Midi Through:0"])
    assert isinstance(error, OSError) and isinstance(error, MidiError)
    assert "no MIDI input port matches 'nanoPAD'" in str(error)
    assert issubclass(JackUnavailableError, OSError)
    assert not issubclass(JackUnavailableError, MidiError)


def test_exit_status_defaults_to_two_and_follows_ipc_codes() -> None:
    """A MidimonError exits 2 unless it says otherwise; an IpcError exits by its code's row."""
    from midimon.cli.common import CliError
    from midimon.daemon.control_protocol import EXIT_UNAVAILABLE
    from midimon.daemon.errors import DaemonNotRunning
    from midimon.engine.errors import ConfigError

    assert ConfigError(None, None, "x", "bad").exit_status == 2
    assert CliError("no", 4).exit_status == 4
    assert DaemonNotRunning("/run/x.sock").exit_status == EXIT_UNAVAILABLE
    assert MidimonError("plain").hints == ()


def test_integrity_error_hints_are_its_fix_lines(tmp_path: Path) -> None:
    """IntegrityError.hints lists each failure's fix, which main prints under the message."""
    from midimon.plugins.integrity.verify import IntegrityReport

    report = IntegrityReport("p", "1.0.0", tmp_path / "libp.so", "0" * 64, "0" * 64)
    report.fail("unsigned", "no signature", "sign it with: midimon sign DIR")
    report.fail("rollback", "older than accepted")
    error = IntegrityError(report)
    assert error.hints == ("fix: sign it with: midimon sign DIR",)
    assert "integrity check failed: no signature; older than accepted" in str(error)


def test_the_cli_reports_an_unconverted_error_without_a_traceback(
    run_midimon, tmp_path: Path
) -> None:
    """A MinisignError that no command converts (a malformed key for `trust add`) reaches main:
    one `midimon: error:` line naming the file, status 2, no traceback."""
    key = tmp_path / "bad.pub"
    key.write_text("untrusted comment: x\nnot base64 at all\n")
    result = run_midimon("trust", "add", key, "--any")
    assert result.returncode == 2, result
    assert result.stderr.startswith("midimon: error: "), result.stderr
    assert str(key) in result.stderr
    assert "Traceback" not in result.stderr
