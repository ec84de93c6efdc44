"""The command that grants what a denied plugin is missing: one that works as printed.

For Filesystem it names the folder the call's params point at (file_log's ``path``) when that
folder may be granted, else the file itself, else ``--write DIR``; for a plugin found through
``--plugins-dir`` it repeats that option, since the default search path would not find it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from midimon.plugins.description.capabilities import Capability, sorted_caps
from midimon.plugins.sandbox.grant_paths import ProtectedPath, resolve_grant_path, unsafe_reason


def params_paths(params: Mapping[str, Any] | str | bytes) -> list[str]:
    """String params that look like file paths (absolute, ``~`` or ``./``), in order."""
    if isinstance(params, (bytes, str)):
        try:
            params = json.loads(params)
        except (ValueError, UnicodeDecodeError):
            return []
    if not isinstance(params, Mapping):
        return []
    found = []
    for value in params.values():
        if (
            isinstance(value, str)
            and value.startswith(("/", "~", "./", "../"))
            and "\n" not in value
            and "\0" not in value
        ):
            found.append(value)
    return found


def _shown(path: Path) -> str:
    """``path`` for a shell command line: ``~/...`` when it is plain and under home."""
    text, home = str(path), Path.home()
    quoted = shlex.quote(text)
    if quoted == text and home in path.parents:
        return "~" + text[len(str(home)) :]
    return quoted


def _user_roots() -> list[Path]:
    """Where a suggested grant may point: the user's own files and the usual data mounts."""
    return [
        Path.home().resolve(),
        *(Path(p) for p in ("/tmp", "/var/tmp", "/media", "/mnt", "/srv")),
    ]


def filesystem_option(
    params: Mapping[str, Any] | str | bytes, protected: list[ProtectedPath]
) -> tuple[str, str]:
    """(a shell prefix that creates what must exist first, the ``--write`` value) for a
    Filesystem grant covering what ``params`` name."""
    for given in params_paths(params):
        target = resolve_grant_path(given, Path("/"))
        if not any(root in target.parents for root in _user_roots()):
            continue  # never suggest write access to /etc, /usr, ... from what params say
        folder = target if given.endswith("/") else target.parent
        if unsafe_reason(folder, protected) is None:
            prefix = "" if folder.is_dir() else f"mkdir -p {_shown(folder)} && "
            return prefix, _shown(folder)
        if not given.endswith("/") and unsafe_reason(target, protected) is None:
            # Its folder holds midimon's state (the home folder, typically): just the file,
            # which Landlock can grant only once it exists.
            prefix = "" if target.exists() else f"touch {_shown(target)} && "
            return prefix, _shown(target)
    return "", "DIR"


def grant_hint(
    name: str,
    missing: Iterable[Capability],
    params: Mapping[str, Any] | str | bytes = "{}",
    protected: list[ProtectedPath] | None = None,
    plugins_dir: Path | None = None,
    one_off: bool = False,
) -> str:
    """The command(s) granting ``missing`` to ``name``: ``plugins grant`` (saved), or with
    ``one_off`` the ``plugins exec`` options for one run."""
    extra = f" --plugins-dir {shlex.quote(str(plugins_dir))}" if plugins_dir else ""
    commands = []
    options = []
    for cap in sorted_caps(frozenset(missing)):
        prefix, option = "", ""
        if cap is Capability.FILESYSTEM:
            prefix, value = filesystem_option(params, protected or [])
            option = f" --write {value}" if not one_off else f" --grant-write {value}"
        if one_off:
            options.append(f"--grant {cap.value}{option}")
            if prefix:
                commands.append(prefix.removesuffix(" && "))
        else:
            commands.append(f"{prefix}midimon plugins grant {name} {cap.value}{option}{extra}")
    if one_off:
        return "; ".join([*commands, f"run again with {' '.join(options)}"])
    return "; ".join(commands)
