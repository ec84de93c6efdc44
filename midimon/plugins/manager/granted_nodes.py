"""Which granted paths of a running worker were made again since it started.

A Landlock rule holds the file (inode) its path named when the worker started, not the path:
a device node that comes back (a gamepad plugged in again: the kernel makes its node anew,
even under the same name), or that was absent then, stays unreadable to that worker. Only a
new worker, whose rules are made from the paths as they are now, can read it. TriggerPlugins
takes each worker's :func:`identities` before it starts and restarts it when
:func:`made_again` names a path.
"""

from __future__ import annotations

import os
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
    """The paths that name another file now than in ``before``: made again, or made since
    (a path that is gone now is not listed: nothing new to read there yet)."""
    changed = []
    for path, then in before.items():
        now = identity(path)
        if now is not None and now != then:
            changed.append(path)
    return changed
