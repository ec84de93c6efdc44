"""Where midimon keeps things on disk: config, data, state, runtime, and the plugin search path.

Everything goes through platformdirs, which honours the XDG_* variables on Linux, so tests and
users can relocate every file by setting them.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import platformdirs

APP_NAME = "midimon"

log = logging.getLogger(__name__)


def config_dir() -> Path:
    """The user's config folder (``config.toml``, ``trusted_keys/``)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The user's data folder (installed plugins live in ``plugins/`` under it)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """The user's state folder (grants, anti-rollback records, audit log)."""
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def runtime_dir() -> Path:
    """The per-user runtime folder (the IPC socket).

    platformdirs warns (RuntimeDirWarning, with a source line) when XDG_RUNTIME_DIR is unset
    or unsafe and it falls back; that becomes one line of ours saying where the socket goes.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))
    for warning in caught:
        if _RUNTIME_DIR_WARNING is None or not issubclass(warning.category, _RUNTIME_DIR_WARNING):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        elif str(warning.message) not in _runtime_dir_noted:
            _runtime_dir_noted.add(str(warning.message))
            log.warning(
                "%s: midimon's control socket goes in %s; set XDG_RUNTIME_DIR to a private "
                "folder (mode 0700) of yours to choose",
                warning.message,
                path,
            )
    return path


#: RuntimeDirWarning is new in platformdirs 4.4; older ones fall back without a word.
_RUNTIME_DIR_WARNING: type[Warning] | None = getattr(platformdirs, "RuntimeDirWarning", None)
_runtime_dir_noted: set[str] = set()  # each message once per process, as platformdirs does


SOCKET_NAME = "midimon.sock"


def socket_path() -> Path:
    """The daemon's control socket, ``runtime_dir()/midimon.sock`` (its folder is created 0700
    by the server)."""
    return runtime_dir() / SOCKET_NAME


def user_plugins_dir() -> Path:
    """Plugins the user installed."""
    return data_dir() / "plugins"


def system_plugins_dirs() -> list[Path]:
    """Plugins installed system-wide (each XDG_DATA_DIRS entry on Linux)."""
    joined = platformdirs.site_data_dir(APP_NAME, appauthor=False, multipath=True)
    return [Path(p) / "plugins" for p in joined.split(os.pathsep) if p]


def bundled_plugins_dir() -> Path:
    """The example plugins built and installed with the package."""
    # The package folder itself (midimon is never imported from a zip): importlib.resources
    # would bring tempfile, shutil, zipfile and the compression modules into the daemon.
    return Path(__file__).parent / "bundled_plugins"


def plugin_search_path(extra: Iterable[os.PathLike[str] | str] = ()) -> list[Path]:
    """Folders searched for plugins, highest priority first.

    Folders given explicitly (``--plugins-dir``) come first, then the user's data dir, then the
    system dirs, then the bundled plugins. When two folders hold a plugin of the same name, the
    earlier folder wins.
    """
    ordered = [Path(p).expanduser() for p in extra]
    ordered += [user_plugins_dir(), *system_plugins_dirs(), bundled_plugins_dir()]
    seen: set[Path] = set()
    unique = []
    for path in ordered:
        key = path.resolve() if path.exists() else path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def abi_header_path(name: str = "midimon_plugin.h") -> Path:
    """An ABI header (``midimon_plugin.h``, or the companion ``midimon_params.h``): installed
    with the package, or ``abi/`` of a source checkout."""
    installed = Path(__file__).parent / "include" / name
    if installed.is_file():
        return installed
    return Path(__file__).resolve().parent.parent / "abi" / name
