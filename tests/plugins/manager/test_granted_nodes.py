"""granted_nodes: a device node or FIFO made again (plugged back in), or any path made since,
is named; one left alone, a regular file or folder replaced, or a path gone, is not."""

from __future__ import annotations

import os
from pathlib import Path

from midimon.plugins.manager.granted_nodes import identities, identity, made_again


def test_a_path_left_alone_or_a_file_replaced_is_not_named(tmp_path: Path) -> None:
    """Unchanged nodes, a folder written into, and a regular file or folder replaced (an
    editor's save: the worker need not restart for it) are not named."""
    node, folder, config = tmp_path / "event0", tmp_path / "logs", tmp_path / "pad.json"
    os.mkfifo(node)
    folder.mkdir()
    config.write_text("{}")
    keep = tmp_path / "keep"  # holds the old inode, so the new file cannot reuse its number
    os.link(config, keep)
    before = identities([node, folder, config])
    (folder / "x.log").write_text("x")
    config.unlink()
    config.write_text('{"saved": true}')
    assert identity(config) != before[config]
    assert made_again(before) == []


def test_a_path_made_again_or_made_since_is_named(tmp_path: Path) -> None:
    """A node removed and made again at the same path (a new inode), and a path absent before
    that exists now, are named; one that is gone now is not (nothing to read there yet)."""
    replugged, plugged_later, unplugged = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    os.mkfifo(replugged)
    unplugged.touch()
    keep = tmp_path / "keep"  # holds the old inode, so the new file cannot reuse its number
    os.link(replugged, keep)
    before = identities([replugged, plugged_later, unplugged])
    assert before[plugged_later] is None
    replugged.unlink()
    os.mkfifo(replugged)
    plugged_later.touch()
    unplugged.unlink()
    assert made_again(before) == [replugged, plugged_later]


def test_identity_follows_links(tmp_path: Path) -> None:
    """A /dev/input/by-id style link names the node it points to, as the worker's open does."""
    node = tmp_path / "event3"
    node.touch()
    link = tmp_path / "usb-Pad-event-joystick"
    link.symlink_to(node)
    assert identity(link) == identity(node) is not None
    assert identity(tmp_path / "nothing") is None
