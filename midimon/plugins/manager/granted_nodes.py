"""Which granted device nodes of a running worker were made again since it started.

A Landlock rule holds the file (inode) its path named when the worker started, not the path:
a device node that comes back (a gamepad plugged in again: the kernel makes its node anew,
even under the same name), or that was absent then, stays unreadable to that worker. Only a
new worker, whose rules are made from the paths as they are now, can read it. TriggerPlugins
takes each worker's :func:`identities` before it starts and restarts it when
:func:`made_again` names a path. Only device nodes and FIFOs count as made again: a regular
file or folder replaced (an editor's save, a plugin's own atomic rewrite) restarts nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

#: What a path named: (device, inode) of the file, or None when nothing was there.
NodeId = tuple[int, int] | None


def identity(path: Path) -> NodeId:
    """The file ``path`` names now (following links, as the worker's open does)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def identities(paths: Iterable[Path]) -> dict[Path, NodeId]:
    """What each path names now: take it before the worker starts (a change in between then
    costs one needless restart, never a missed one)."""
    return {path: identity(path) for path in paths}


def made_again(before: Mapping[Path, NodeId]) -> list[Path]:
    """The paths that name a file now where ``before`` had none (made since), or another
    device node or FIFO than then (made again). A path that is gone now is not listed:
    nothing new to read there yet."""
    changed = []
    for path, then in before.items():
        try:
            st = os.stat(path)
        except OSError:
            continue
        now = (st.st_dev, st.st_ino)
        if then is None or (now != then and _is_node(st.st_mode)):
            changed.append(path)
    return changed


def _is_node(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)
