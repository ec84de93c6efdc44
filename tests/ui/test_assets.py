"""The committed panel build matches its sources, ships in the package, and fetches nothing
from outside the machine."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from helpers import REPO

from midimon.ui.app import static_dir

STATIC = REPO / "midimon" / "ui" / "static"


def _build_hash() -> object:
    spec = importlib.util.spec_from_file_location("ui_build_hash", REPO / "ci" / "ui_build_hash.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_build_is_of_these_sources() -> None:
    """BUILD.json (written by ci/build_ui.sh) holds the hash of today's Svelte sources and of
    the built files: a source changed without a rebuild, or a built file edited by hand, fails
    here (no Node needed: Vite's output for a locked package-lock.json is deterministic, so the
    source hash stands for the build)."""
    recorded = json.loads((STATIC / "BUILD.json").read_text())
    now = _build_hash().record()  # type: ignore[attr-defined]
    assert recorded["sources_sha256"] == now["sources_sha256"], (
        "midimon/ui/frontend changed since the last build: run bash ci/build_ui.sh and commit "
        "midimon/ui/static"
    )
    assert recorded["assets_sha256"] == now["assets_sha256"], (
        "midimon/ui/static differs from what ci/build_ui.sh built: rebuild, do not edit by hand"
    )


def test_the_installed_package_serves_the_same_build() -> None:
    """The installed midimon carries index.html and the assets (the wheel includes them)."""
    installed = static_dir()
    for name in ("index.html", "assets/app.js", "assets/style.css"):
        assert (installed / name).read_bytes() == (STATIC / name).read_bytes(), name


def test_nothing_is_fetched_from_outside() -> None:
    """No URL with a scheme and host in the page or its assets other than the SVG namespace
    (no CDN, no web fonts), and no inline script in index.html."""
    allowed = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml",
               "http://www.w3.org/1998/Math/MathML", "http://www.w3.org/1999/xlink",
               "http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/"}  # fmt: skip
    for path in [STATIC / "index.html", *sorted((STATIC / "assets").iterdir())]:
        text = path.read_text(encoding="utf-8")
        urls = set(re.findall(r"https?://[A-Za-z0-9.\-]+[^\s\"'`)]*", text))
        assert urls <= allowed | {u for u in urls if "svelte.dev/e/" in u}, (path, urls - allowed)
        assert "@import" not in text and "@font-face" not in text, path
    index = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", index) == []
    assert Path(static_dir()).is_dir()
