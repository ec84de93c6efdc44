"""Move modules of ``midimon/`` and rewrite every reference to them, from ONE mapping.

Written for the split of ``midimon/plugins/`` into stage subpackages (issue 13) so that the
integrator can re-run the same mapping on branches developed in parallel::

    python ci/refactor_imports.py            # rewrite references only (idempotent)
    python ci/refactor_imports.py --move     # also `git mv` the files (once, on the source branch)
    python ci/refactor_imports.py --check    # list files that still need rewriting; exit 1 if any

It rewrites, in ``midimon/``, ``tests/``, ``benchmarks/``, ``ci/``, ``.ci/``, ``docs/``, the
top-level ``*.md``, ``CMakeLists.txt`` files and ``pyproject.toml``:

- dotted paths ``midimon.plugins.OLD`` (imports, ``python -m``, monkeypatch strings, cffi's
  module name in ``abi.py`` and the generated ``_abi_cffi.py``);
- ``from midimon.plugins import OLD [as x]`` (one module per statement, as the code base has);
- file paths ``midimon/plugins/OLD.py`` (and ``plugins/OLD.py``) in comments, docs and CMake.

Re-running is safe: a path already pointing into a new subpackage is left alone.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "midimon.plugins"

# old module (under midimon.plugins) -> new module (under midimon.plugins). THE mapping.
MAPPING: dict[str, str] = {
    # description: what a plugin says it is, and where it is found. No plugin code runs.
    "manifest": "description.manifest",
    "capabilities": "description.capabilities",
    "discovery": "description.discovery",
    # integrity: is this exact binary what a trusted signer published?
    "minisign": "integrity.minisign",
    "signing": "integrity.signing",
    "trust": "integrity.trust",
    "pins": "integrity.pins",
    "rotation": "integrity.rotation",
    "continuity": "integrity.continuity",
    "rollback": "integrity.rollback",
    "integrity": "integrity.verify",
    "packaging": "integrity.packaging",
    # loading: verified bytes become a callable plugin behind the C ABI.
    "abi": "loading.abi",
    "_abi_cffi": "loading._abi_cffi",
    "loader": "loading.loader",
    "image": "loading.image",
    "binary_deps": "loading.binary_deps",
    "context": "loading.context",
    "protocol": "loading.protocol",
    # sandbox: the plugin runs in a confined worker process (or, on request, in-process).
    "isolation": "sandbox.isolation",
    "runners": "sandbox.runners",
    "probe": "sandbox.probe",
    "sandbox_support": "sandbox.sandbox_support",
    "grant_paths": "sandbox.grant_paths",
    # manager: the running daemon's plugins: grants, limits, stats, audit, readiness.
    "manager": "manager.plugin_manager",
    "grants": "manager.grants",
    "grant_guard": "manager.grant_guard",
    "grant_hints": "manager.grant_hints",
    "stats": "manager.stats",
    "ratelimit": "manager.ratelimit",
    "host_limits": "manager.host_limits",
    "audit": "manager.audit",
    "readiness": "manager.readiness",
    # errors.py and settings.py stay at midimon/plugins/: every stage uses them.
}

# A module split by job: module -> (where names not listed went, {name: its new module}).
# Applied after MAPPING, so an import of the old flat path (midimon.plugins.isolation) lands too.
SPLITS: dict[str, tuple[str, dict[str, str]]] = {
    "sandbox.isolation": (
        "sandbox.worker",
        {
            "Wire": "sandbox.wire",
            "SandboxSpec": "sandbox.spec",
            "default_read_paths": "sandbox.spec",
            "sandbox_paths": "sandbox.spec",
            "Enforcement": "sandbox.enforcement",
            "WorkerLoadInfo": "sandbox.enforcement",
            "Denial": "sandbox.denials",
            "WorkerError": "sandbox.denials",
            "WorkerLoadFailed": "sandbox.denials",
            "WorkerCrashed": "sandbox.denials",
            "WorkerTimeout": "sandbox.denials",
            "WorkerProcess": "sandbox.worker",
            "worker_executable": "sandbox.worker",
        },
    ),
    "integrity.minisign": (
        "integrity.minisign",  # signatures: Signature, sign, verify, parse_trusted_comment
        {
            "ArgumentError": "integrity.minisign_format",
            "BadSignature": "integrity.minisign_format",
            "CHECKSUM_BYTES": "integrity.minisign_format",
            "CHKALG_BLAKE2B": "integrity.minisign_format",
            "DEFAULT_SECRET_KEY_COMMENT": "integrity.minisign_format",
            "DEFAULT_SIGNATURE_COMMENT": "integrity.minisign_format",
            "KDFALG_NONE": "integrity.minisign_format",
            "KDFALG_SCRYPT": "integrity.minisign_format",
            "KEY_ID_BYTES": "integrity.minisign_format",
            "KeyFormatError": "integrity.minisign_format",
            "KeyIdMismatch": "integrity.minisign_format",
            "LegacySignatureRefused": "integrity.minisign_format",
            "MEMLIMIT_INTERACTIVE": "integrity.minisign_format",
            "MEMLIMIT_SENSITIVE": "integrity.minisign_format",
            "MinisignError": "integrity.minisign_format",
            "OPSLIMIT_INTERACTIVE": "integrity.minisign_format",
            "OPSLIMIT_SENSITIVE": "integrity.minisign_format",
            "PASSWORD_MAX_BYTES": "integrity.minisign_format",
            "PUBLIC_KEY_BLOB_BYTES": "integrity.minisign_format",
            "PUBLIC_KEY_BYTES": "integrity.minisign_format",
            "SALT_BYTES": "integrity.minisign_format",
            "SCRYPT_MAX_COST": "integrity.minisign_format",
            "SCRYPT_MAX_MEMORY": "integrity.minisign_format",
            "SECRET_KEY_BLOB_BYTES": "integrity.minisign_format",
            "SECRET_KEY_BYTES": "integrity.minisign_format",
            "SIGALG_LEGACY": "integrity.minisign_format",
            "SIGALG_PREHASHED": "integrity.minisign_format",
            "SIGNATURE_BLOB_BYTES": "integrity.minisign_format",
            "SIGNATURE_BYTES": "integrity.minisign_format",
            "SignatureFormatError": "integrity.minisign_format",
            "TRUSTED_COMMENT_MAX_BYTES": "integrity.minisign_format",
            "TRUSTED_PREFIX": "integrity.minisign_format",
            "UNTRUSTED_COMMENT_MAX_BYTES": "integrity.minisign_format",
            "UNTRUSTED_PREFIX": "integrity.minisign_format",
            "WrongPasswordError": "integrity.minisign_format",
            "blake2b_prehash": "integrity.minisign_format",
            "scrypt_parameters": "integrity.minisign_format",
            "PublicKey": "integrity.minisign_keys",
            "SecretKey": "integrity.minisign_keys",
            "generate_keypair": "integrity.minisign_keys",
        },
    ),
    "manager.plugin_manager": (
        "manager.plugin_manager",
        {
            "Outcome": "manager.results",
            "ExecutionResult": "manager.results",
            "StartedCall": "manager.results",
            "PluginDisabled": "manager.results",
            "InProcessRefused": "manager.results",
        },
    ),
}

SUBPACKAGES = sorted({new.split(".")[0] for new in MAPPING.values()})
_NEW_MODULES = {
    *MAPPING.values(),
    *(default for default, _ in SPLITS.values()),
    *(target for _, moved in SPLITS.values() for target in moved.values()),
    # and whatever the subpackages hold on disk (manager.grant_admin is not an old "manager")
    *(
        f"{p.parent.name}.{p.stem}"
        for p in (ROOT / "midimon" / "plugins").glob("*/*.py")
        if p.stem != "__init__"
    ),
}
_TEXT_SUFFIXES = {
    ".py",
    ".c",
    ".h",
    ".md",
    ".toml",
    ".txt",
    ".cmake",
    ".sh",
    ".in",
    ".cfg",
    ".ini",
    ".j2",
}
_SCAN = ["midimon", "tests", "benchmarks", "ci", ".ci", "docs"]

_names = "|".join(sorted(map(re.escape, MAPPING), key=len, reverse=True))
_DOTTED = re.compile(rf"\b{re.escape(PACKAGE)}\.({_names})((?:\.\w+)*)(?!\w)")
_FROM = re.compile(rf"\bfrom {re.escape(PACKAGE)} import ({_names})\b(?!\s*,)")
_PATH = re.compile(rf"\bmidimon/plugins/({_names})(\.py|/|\b)")
_IMPORTED = re.compile(r"\s+import\s+(\w+)")
_SHORT_PATH = re.compile(rf"(?<![\w/])plugins/({_names})\.py\b")  # "see plugins/x.py"


def _already_new(old: str, rest: str) -> bool:
    """``midimon.plugins.integrity.verify`` is new, not the old ``integrity`` module + attr."""
    if old not in SUBPACKAGES or not rest:
        return False
    return f"{old}.{rest[1:].split('.')[0]}" in _NEW_MODULES


def _split_from_import(m: re.Match[str], module: str) -> str:
    """``from <split module> import a, b`` -> one import per module the names went to."""
    indent, names = m.group(1), m.group(3) or m.group(4)
    default, moved = SPLITS[module]
    by_module: dict[str, list[str]] = {}
    for item in (n.strip() for n in names.replace("\n", " ").split(",")):
        if item:
            by_module.setdefault(moved.get(item.split(" as ")[0].strip(), default), []).append(item)
    lines = []
    for target, items in by_module.items():
        line = f"{indent}from {PACKAGE}.{target} import {', '.join(items)}"
        if len(line) > 100:
            inner = "".join(f"{indent}    {item},\n" for item in items)
            line = f"{indent}from {PACKAGE}.{target} import (\n{inner}{indent})"
        lines.append(line)
    return "\n".join(lines)


def rewrite_splits(text: str) -> str:
    for module, (default, moved) in SPLITS.items():
        dotted = re.escape(f"{PACKAGE}.{module}")
        text = re.sub(
            rf"(?m)^([ \t]*)from ({re.escape(PACKAGE)}\.{re.escape(module)}) import "
            rf"(?:\(([^)]*)\)|([^\n(]+))",
            lambda m, module=module: _split_from_import(m, module),
            text,
        )
        text = re.sub(
            rf"\b{dotted}\.(\w+)",
            lambda m, d=default, mv=moved: f"{PACKAGE}.{mv.get(m.group(1), d)}.{m.group(1)}",
            text,
        )
        text = re.sub(rf"\b{dotted}\b", f"{PACKAGE}.{default}", text)
        path = "plugins/" + module.replace(".", "/") + ".py"
        text = text.replace(path, "plugins/" + default.replace(".", "/") + ".py")
    return text


def rewrite(text: str) -> str:
    def dotted(m: re.Match[str]) -> str:
        old, rest = m.group(1), m.group(2)
        imported = _IMPORTED.match(m.string, m.end())
        if not rest and imported and _already_new(old, "." + imported.group(1)):
            return m.group(0)  # "from midimon.plugins.integrity import verify" is new already
        if _already_new(old, rest):
            return m.group(0)
        return f"{PACKAGE}.{MAPPING[old]}{rest}"

    def from_import(m: re.Match[str]) -> str:
        parent, _, leaf = MAPPING[m.group(1)].rpartition(".")
        return f"from {PACKAGE}.{parent} import {leaf}"

    def path(m: re.Match[str]) -> str:
        old, tail = m.group(1), m.group(2)
        if old in SUBPACKAGES and tail == "/":
            return m.group(0)  # already a subpackage folder
        return "midimon/plugins/" + MAPPING[old].replace(".", "/") + tail

    text = _DOTTED.sub(dotted, text)
    text = _FROM.sub(from_import, text)
    text = _PATH.sub(path, text)
    text = _SHORT_PATH.sub(
        lambda m: "plugins/" + MAPPING[m.group(1)].replace(".", "/") + ".py", text
    )
    return rewrite_splits(text)


def candidate_files() -> list[Path]:
    files = [p for p in ROOT.glob("*.md")] + [ROOT / "pyproject.toml"]
    for top in _SCAN:
        for p in (ROOT / top).rglob("*"):
            if p.is_file() and (p.suffix in _TEXT_SUFFIXES or p.name == "CMakeLists.txt"):
                files.append(p)
    files.append(ROOT / "CMakeLists.txt")
    skip = {Path(__file__).resolve()}
    return [p for p in files if p.exists() and p.resolve() not in skip]


def move() -> None:
    base = ROOT / "midimon" / "plugins"
    for sub in SUBPACKAGES:
        (base / sub).mkdir(exist_ok=True)
    for old, new in MAPPING.items():
        src = base / f"{old}.py"
        dst = base / (new.replace(".", "/") + ".py")
        if src.exists() and not dst.exists():
            subprocess.run(["git", "mv", str(src), str(dst)], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--move", action="store_true", help="git mv the modules first")
    parser.add_argument("--check", action="store_true", help="only report, change nothing")
    args = parser.parse_args()
    if args.move:
        move()
    stale = []
    for p in candidate_files():
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrite(text)
        if new != text:
            stale.append(p.relative_to(ROOT))
            if not args.check:
                p.write_text(new, encoding="utf-8")
    for p in stale:
        print(p)
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
