"""The control panel's build record: SHA-256 of the Svelte sources and of the built assets.

``python ci/ui_build_hash.py`` prints the record ci/build_ui.sh stores as
midimon/ui/static/BUILD.json; tests/ui/test_assets.py recomputes it, so a source changed without
a rebuild (or a built file edited by hand) fails the suite without needing Node.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "midimon" / "ui" / "frontend"
STATIC = ROOT / "midimon" / "ui" / "static"
SOURCES = ("package.json", "package-lock.json", "vite.config.js", "index.html", "src")


def _files(root: Path, names: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = root / name
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def tree_hash(root: Path, names: tuple[str, ...]) -> str:
    """SHA-256 over each file's path (relative to ``root``) and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in _files(root, names):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def record() -> dict[str, str]:
    """The build record for the tree as it is now."""
    return {
        "sources_sha256": tree_hash(FRONTEND, SOURCES),
        "assets_sha256": tree_hash(STATIC, ("index.html", "assets")),
    }


if __name__ == "__main__":
    json.dump(record(), sys.stdout, indent=2)
    sys.stdout.write("\n")
