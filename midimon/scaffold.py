"""``midimon new-plugin``: render a plugin template (C, Rust or Zig) into a new folder.

The templates are plain files under ``midimon/templates/`` (installed with the package) with
``{{key}}`` placeholders, replaced by ``str.replace``; a ``__name__`` in a template's path
becomes the plugin name. No template engine.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from midimon.errors import ScaffoldError  # importable from here as before
from midimon.paths import abi_header_path
from midimon.plugins.description.capabilities import Capability, from_name, sorted_caps
from midimon.plugins.description.manifest import NAME_PATTERN

# The headers a C or Zig plugin folder gets in include/: the ABI and the params reader.
HEADERS = ("midimon_plugin.h", "midimon_params.h")


@dataclass(frozen=True)
class Language:
    """What one template language needs: its files, build command and built binary."""

    key: str
    title: str
    files: tuple[str, ...]  # template paths under templates/<key>/ (or templates/<shared>/)
    needs_header: bool  # copy HEADERS (midimon_plugin.h, midimon_params.h) into include/
    build: str
    binary_linux: str  # with __name__
    binary_macos: str
    cap_prefix: str  # how the source spells MIDIMON_CAP_* constants
    shared: str = ""  # a trigger template takes the files it lacks from this action template

    def template(self, root: Path, rel: str) -> Path:
        """Where the template of ``rel`` is: this language's folder, else the shared one."""
        own = root / self.key / rel
        return own if own.is_file() or not self.shared else root / self.shared / rel


LANGUAGES: dict[str, Language] = {
    "c": Language(
        "c",
        "C99, built with CMake",
        ("CMakeLists.txt", "src/__name__.c"),
        True,
        "cmake -S . -B build && cmake --build build",
        "build/__name__.so",
        "build/__name__.dylib",
        "",
    ),
    "rust": Language(
        "rust",
        "Rust cdylib, built with cargo, no crates",
        ("Cargo.toml", "src/lib.rs"),
        False,
        "cargo build --release",
        "target/release/lib__name__.so",
        "target/release/lib__name__.dylib",
        "",
    ),
    "zig": Language(
        "zig",
        "Zig, built with the ziglang PyPI package",
        ("build.sh", "src/__name__.zig"),
        True,
        "sh build.sh",
        "build/lib__name__.so",
        "build/lib__name__.dylib",
        "c.",
    ),
}

#: ``new-plugin --type trigger``: the trigger templates, each beside its action template
#: (Cargo.toml and build.sh are shared with it).
TRIGGER_LANGUAGES: dict[str, Language] = {
    "c": Language(
        "c_trigger",
        "C99, built with CMake",
        ("CMakeLists.txt", "src/__name__.c"),
        True,
        "cmake -S . -B build && cmake --build build",
        "build/__name__.so",
        "build/__name__.dylib",
        "",
    ),
    "rust": Language(
        "rust_trigger",
        "Rust cdylib, built with cargo, no crates",
        ("Cargo.toml", "src/lib.rs"),
        False,
        "cargo build --release",
        "target/release/lib__name__.so",
        "target/release/lib__name__.dylib",
        "",
        shared="rust",
    ),
    "zig": Language(
        "zig_trigger",
        "Zig, built with the ziglang PyPI package",
        ("build.sh", "src/__name__.zig"),
        True,
        "sh build.sh",
        "build/lib__name__.so",
        "build/lib__name__.dylib",
        "c.",
        shared="zig",
    ),
}
PLUGIN_TYPES = ("action", "trigger")


@dataclass(frozen=True)
class Scaffold:
    """A created plugin folder and the commands that build and run it."""

    name: str
    path: Path
    language: str
    capabilities: tuple[Capability, ...]
    build: str
    exec: str
    files: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "build": self.build, "exec": self.exec}


def templates_dir() -> Path:
    """The installed template folder."""
    return Path(str(resources.files("midimon"))) / "templates"


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and underscores "
            "([a-z0-9_]+), e.g. my_plugin"
        )
    return name


def parse_capabilities(names: Iterable[str]) -> tuple[Capability, ...]:
    caps = set()
    for raw in names:
        try:
            caps.add(from_name(raw))
        except ValueError as exc:
            raise ScaffoldError(str(exc)) from None
    return tuple(sorted_caps(caps))


def exec_command(name: str, folder: Path, capabilities: Iterable[Capability]) -> str:
    parts = ["midimon", "plugins", "exec", name, "--plugins-dir", str(folder.parent)]
    parts.append("--allow-unsigned")
    for cap in capabilities:
        parts += ["--grant", cap.value]
    return shlex.join(parts)


def create_plugin(
    name: str,
    language: str,
    capabilities: Iterable[str] = (),
    directory: Path | None = None,
    plugin_type: str = "action",
) -> Scaffold:
    """Create the plugin folder (``directory``, default ``./name``); refuses a non-empty one.
    ``plugin_type``: ``action`` or ``trigger``, in any of the three languages."""
    check_name(name)
    if plugin_type not in PLUGIN_TYPES:
        raise ScaffoldError(f"unknown plugin type {plugin_type!r}; expected action or trigger")
    trigger = plugin_type == "trigger"
    lang = (TRIGGER_LANGUAGES if trigger else LANGUAGES).get(language)
    if lang is None:
        raise ScaffoldError(f"unknown language {language!r}; expected one of: c, rust, zig")
    caps = parse_capabilities(capabilities)
    folder = Path(directory if directory is not None else name).expanduser().absolute()
    if folder.exists():
        if not folder.is_dir():
            raise ScaffoldError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()):
            raise ScaffoldError(f"{folder} exists and is not empty; pick a new folder")

    build = lang.build
    exec_cmd = exec_command(name, folder, caps)
    binary_linux = lang.binary_linux.replace("__name__", name)
    binary_macos = lang.binary_macos.replace("__name__", name)
    cap_expr = " | ".join(f"{lang.cap_prefix}MIDIMON_CAP_{c.name}" for c in caps) or "0"
    caps_toml = "\n".join(f"{c.value} = true" for c in caps) or (
        "# none requested; e.g. midi = true (and the matching MIDIMON_CAP_* bit in the source)"
    )
    outputs = ["plugin.toml", "README.md", *(f.replace("__name__", name) for f in lang.files)]
    if lang.needs_header:
        outputs += [f"include/{h}" for h in HEADERS]
    values = {
        "name": name,
        "parent": str(folder.parent),
        "description": (
            f"{name}: a midimon trigger plugin that emits /tick"
            if trigger
            else f"{name}: a midimon action plugin that says hello with the trigger"
        ),
        "plugin_type": plugin_type,
        "abi": "1.1" if trigger else "1.0",
        "binary_table": f'linux = "{binary_linux}", macos = "{binary_macos}"',
        "binary": binary_linux,
        "capabilities_toml": caps_toml,
        "capabilities_text": ", ".join(c.value for c in caps) or "none",
        "cap_expr": cap_expr,
        "lang_title": lang.title,
        "build": build,
        "exec": exec_cmd + ' --params \'{"message": "hi"}\'',
        "files_text": "\n".join(f"- `{f}`" for f in sorted(outputs)),
    }

    def render(template: Path) -> str:
        text = template.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        return text

    source = templates_dir()
    headers = [abi_header_path(h) for h in HEADERS]
    for header in headers if lang.needs_header else []:
        if not header.is_file():
            raise ScaffoldError(f"the ABI header is missing from the installation ({header})")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for rel in ("plugin.toml", "README.md"):
        template = f"TRIGGER_{rel}" if trigger else rel
        (folder / rel).write_text(render(source / "common" / template), encoding="utf-8")
        written.append(rel)
    for rel in lang.files:
        out_rel = rel.replace("__name__", name)
        out = folder / out_rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(lang.template(source, rel)), encoding="utf-8")
        if out.suffix == ".sh":
            out.chmod(0o755)
        written.append(out_rel)
    if lang.needs_header:
        (folder / "include").mkdir(exist_ok=True)
        for header in headers:
            shutil.copyfile(header, folder / "include" / header.name)
            written.append(f"include/{header.name}")
    return Scaffold(name, folder, language, caps, build, exec_cmd, tuple(written))
