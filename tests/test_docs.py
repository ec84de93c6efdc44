"""Every fenced code block in docs/*.md and CONTRIBUTING.md is exercised, so no guide can rot.

How a block is checked depends on its info string and on an optional marker, an HTML comment on
the line right before the fence: ``<!-- docs-test: DIRECTIVE [DIRECTIVE ...] -->`` (directives
are split like a shell line, so ``expect="two words"`` works).

Info string (no marker):
  toml     a config file: ``midimon.engine.config.parse_config`` with the bundled plugins'
           [plugin.params] schemas (its Plugin actions' params checked), no errors and no
           warnings.
  c        a whole C file: gcc -std=c99 -Wall -Wextra -Werror -pedantic -shared -fPIC -I abi/.
  rust     a whole Rust file: rustc --edition 2021 --crate-type cdylib (no crates).
  sh       every line (comments and blank lines aside) must be a ``midimon ...`` command that
           the real argument parser accepts (``--help`` of that subcommand would list the flags).
  anything else (and ``zig``, ``console``, ``text``) fails unless marked.

Directives:
  manifest        (toml) a plugin.toml: ``midimon.plugins.description.manifest.parse_manifest``,
                  no warnings.
  wrap=execute    (c) the body of execute(): compiled inside a plugin with the same signature as
                  the header's (self, params_json, params_len, context, message, message_cap).
  wrap=top        (c) top-level declarations: compiled with the ABI headers included, -c
                  (unused static functions allowed: a fragment shows them, nothing calls them).
  excerpt=PATH    the block is a verbatim run of consecutive lines of the repository file PATH
                  (used for Zig: building Zig is slow, the template is built by test_new_plugin).
  file=PATH       also write the block to PATH in the document's scratch folder (see run).
  run             (sh) run the block with bash -e in the document's scratch folder, with every
                  XDG dir, HOME and the key password prompt isolated and ``midimon`` on PATH.
                  A document's file= and run blocks are taken in order, in one test.
  expect=TEXT     (with run) the block's output must contain TEXT (repeatable).
  repo-commands   (sh) commands meant for the repository root (set-up, tests, linters): not
                  run (they would rebuild .venv or run this suite again) but checked: ``midimon``
                  lines parse, ``bash``/``sh`` scripts and every repository path named exist, and
                  every other program is on PATH or in .venv/bin.
  skip=REASON     not checked; REASON must say why (e.g. output that differs per machine).

Indented code blocks are refused: they would escape this test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import ABI_DIR, BUNDLED, IN_CI, REPO, require_tool

from midimon.cli import build_parser
from midimon.engine.config import parse_config
from midimon.paths import bundled_plugins_dir
from midimon.plugins.description.discovery import discover
from midimon.plugins.description.manifest import parse_manifest
from midimon.plugins.description.params_schema import ParamsSchema

DOCS = [*sorted((REPO / "docs").glob("*.md")), REPO / "CONTRIBUTING.md"]
FENCE = re.compile(r"^( {0,3})```([^\n`]*)\n(.*?)^ {0,3}```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"^<!--\s*docs-test:(.*?)-->$")
KNOWN = {"manifest", "wrap", "excerpt", "file", "run", "expect", "skip", "repo-commands"}
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC", f"-I{ABI_DIR}"]


@dataclass
class Block:
    """One fenced block: where it is, its info string, body and directives."""

    doc: Path
    line: int
    lang: str
    body: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}:{self.lang or 'plain'}"

    @property
    def in_session(self) -> bool:
        return "run" in self.directives or "file" in self.directives


def parse_blocks(doc: Path) -> list[Block]:
    """The fenced blocks of one document with the directives of the marker before each."""
    text = doc.read_text("utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().rpartition("\n")[2]  # the line before the fence
        directives: dict[str, str] = {}
        marker = MARKER.match(before.strip())
        if marker:
            for word in shlex.split(marker.group(1)):
                key, _, value = word.partition("=")
                if key == "expect" and key in directives:  # expect may be given several times
                    value = f"{directives[key]}\n{value}"
                directives[key] = value
        line = text.count("\n", 0, match.start()) + 1
        indent, info, body = match.groups()
        if indent:  # a fence inside a list item: its lines carry the fence's indentation
            body = "".join(ln.removeprefix(indent) for ln in body.splitlines(keepends=True))
        found.append(Block(doc, line, info.strip(), body, directives))
    return found


BLOCKS = [b for doc in DOCS if doc.exists() for b in parse_blocks(doc)]
SINGLE = [b for b in BLOCKS if not b.in_session]
SESSION_DOCS = sorted({b.doc for b in BLOCKS if b.in_session})


def test_the_guides_exist_and_have_blocks() -> None:
    """Each guide the README links is there, and the test found code in them."""
    names = {d.name for d in DOCS if d.exists()}
    for name in ("writing-a-plugin.md", "abi-reference.md", "signing-and-trust.md",
                 "capabilities.md", "config-reference.md", "CONTRIBUTING.md"):  # fmt: skip
        assert name in names, name
    assert len(BLOCKS) >= 20
    readme = (REPO / "README.md").read_text("utf-8")
    for doc in DOCS:
        if doc.parent.name == "docs":
            assert f"docs/{doc.name}" in readme, f"README does not link docs/{doc.name}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_no_indented_code_blocks(doc: Path) -> None:
    """A code block indented by four spaces would not be checked: only fences are allowed."""
    in_fence, previous = False, ""
    for number, line in enumerate(doc.read_text("utf-8").splitlines(), 1):
        if line.startswith("```") or line[:4].lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("    ") and not previous.strip():
            pytest.fail(f"{doc.name}:{number}: indented code block; use a fenced block")
        previous = line if not in_fence else "x"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_block_directives_are_known(block: Block) -> None:
    """Markers use known directives, and skips give a reason."""
    unknown = set(block.directives) - KNOWN
    assert not unknown, f"{block.id}: unknown docs-test directive(s) {sorted(unknown)}"
    if "skip" in block.directives:
        assert len(block.directives["skip"].strip()) >= 10, f"{block.id}: skip needs a reason"


# -- the checkers ------------------------------------------------------------------------------


def bundled_params_schemas() -> dict[str, ParamsSchema]:
    """The [plugin.params] of the bundled plugins, as installed: what a doc's config is
    checked against (validate does the same with the plugins it finds)."""
    found = discover([bundled_plugins_dir()]).params_schemas()
    assert set(found) == set(BUNDLED), found  # each bundled plugin declares its params
    return found


def check_toml(block: Block) -> None:
    if "manifest" in block.directives:
        manifest = parse_manifest(block.body.encode(), REPO / "docs" / "example" / "plugin.toml")
        assert manifest.warnings == (), manifest.warnings
    else:
        config = parse_config(block.body, block.id, bundled_params_schemas())
        assert config.warnings == (), config.warnings


C_INCLUDES = '#include "midimon_plugin.h"\n#include <stdio.h>\n#include <string.h>\n' + (
    '#include "midimon_params.h"\n' if (ABI_DIR / "midimon_params.h").exists() else ""
)
EXECUTE_WRAPPER = """
static int32_t plugin_execute(const midimon_plugin_t *self, const char *params_json,
                              size_t params_len, const midimon_trigger_context_t *context,
                              char *message, size_t message_cap) {
    (void)self; (void)params_json; (void)params_len; (void)context;
    (void)message; (void)message_cap;
#line %(line)d "%(doc)s"
%(body)s
}
static const midimon_plugin_t plugin = {
    MIDIMON_ABI_MAJOR, MIDIMON_ABI_MINOR, (uint32_t)sizeof(midimon_plugin_t), 0,
    "wrapped", "0.1.0", "a docs fragment", NULL, NULL, plugin_execute, NULL, NULL, NULL, NULL, NULL,
};
MIDIMON_EXPORT const midimon_plugin_t *_create_plugin(void) { return &plugin; }
"""


def compile_c(source: str, out: Path, *, shared: bool) -> None:
    gcc = require_tool("gcc")
    src = out.with_suffix(".c")
    src.write_text(source)
    kind = ["-shared"] if shared else ["-c", "-Wno-unused-function"]
    done = subprocess.run([gcc, *CFLAGS, *kind, str(src), "-o", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, f"gcc failed:\n{done.stderr}"


def check_c(block: Block, tmp: Path) -> None:
    wrap = block.directives.get("wrap")
    doc = block.doc.relative_to(REPO)
    if wrap == "execute":
        body = EXECUTE_WRAPPER % {"line": block.line + 1, "doc": doc, "body": block.body}
        compile_c(C_INCLUDES + body, tmp / "fragment.so", shared=True)
    elif wrap == "top":
        body = f'{C_INCLUDES}#line {block.line + 1} "{doc}"\n{block.body}'
        compile_c(body, tmp / "fragment.o", shared=False)
    else:
        assert wrap is None, f"unknown wrap={wrap}"
        compile_c(f'#line {block.line + 1} "{doc}"\n{block.body}', tmp / "plugin.so", shared=True)


def check_rust(block: Block, tmp: Path) -> None:
    rustc = require_tool("rustc")
    src = tmp / "lib.rs"
    src.write_text(block.body)
    done = subprocess.run(
        [rustc, "--edition", "2021", "--crate-type", "cdylib", "-o", str(tmp / "lib.so"),
         str(src)], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"rustc failed:\n{done.stderr}"


def check_excerpt(block: Block) -> None:
    path = REPO / block.directives["excerpt"]
    assert path.is_file(), f"excerpt source {path} does not exist"
    want = [line.rstrip() for line in block.body.strip("\n").splitlines()]
    have = [line.rstrip() for line in path.read_text("utf-8").splitlines()]
    starts = [i for i, line in enumerate(have) if line == want[0]]
    assert any(have[i : i + len(want)] == want for i in starts), (
        f"{block.id}: not a verbatim excerpt of {block.directives['excerpt']} (has it changed?)"
    )


def command_lines(body: str) -> list[str]:
    """The shell lines of a block, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in body.splitlines():
        current += raw
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        text = current.split(" #", 1)[0].strip() if not current.lstrip().startswith("#") else ""
        if text:
            lines.append(text)
        current = ""
    return lines


def check_midimon_line(line: str) -> None:
    """The line is ``midimon ...`` and the real parser accepts its arguments."""
    words = shlex.split(line)
    assert words and words[0] == "midimon", f"not a midimon command (mark the block): {line}"
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as exc:
        pytest.fail(f"midimon rejects the arguments of: {line} (exit {exc.code})")


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, split at ``&&``, ``||``, ``;`` and ``|``."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def check_sh(block: Block) -> None:
    lines = command_lines(block.body)
    assert lines, f"{block.id}: no commands"
    for line in lines:
        check_midimon_line(line)


REPO_DIRS = ("abi/", "benchmarks/", "ci/", "docs/", "midimon/", "native_plugins/", "tests/")


def check_repo_commands(block: Block) -> None:
    for line in command_lines(block.body):
        for words in simple_commands(line):
            if "=" in words[0] and not words[0].startswith("-"):  # VAR=value prefix
                words = words[1:]
            program = words[0].removeprefix(".venv/bin/")
            if program == "midimon":
                check_midimon_line(shlex.join(words))
                continue
            if program in ("bash", "sh"):
                assert (REPO / words[1]).is_file(), f"{line}: no script {words[1]}"
            elif "/" in program:
                assert (REPO / program).exists(), f"{line}: no {program} in the repository"
            elif program not in ("cd", "export"):
                have = shutil.which(program) or (REPO / ".venv" / "bin" / program).exists()
                if not have and program not in ("python", "python3", "pip"):
                    require_tool(program)
            for word in words[1:]:
                if word.startswith(REPO_DIRS):
                    path = word.split("::", 1)[0].rstrip("/")
                    assert (REPO / path).exists(), f"{line}: {path} does not exist"


@pytest.mark.parametrize("block", SINGLE, ids=lambda b: b.id)
def test_block(block: Block, tmp_path: Path) -> None:
    """Each block outside a run session is checked by its kind; unknown kinds fail."""
    d = block.directives
    if "skip" in d:
        pytest.skip(f"marked: {d['skip']}")  # counted in the report, never silent
    if "excerpt" in d:
        check_excerpt(block)
    elif block.lang == "toml":
        check_toml(block)
    elif block.lang == "c":
        check_c(block, tmp_path)
    elif block.lang == "rust":
        check_rust(block, tmp_path)
    elif block.lang == "sh" and "repo-commands" in d:
        check_repo_commands(block)
    elif block.lang == "sh":
        check_sh(block)
    else:
        pytest.fail(f"{block.id}: no checker for a ```{block.lang} block; mark it (see the "
                    "docstring at the top of tests/test_docs.py)")  # fmt: skip


def test_skipped_blocks_are_few() -> None:
    """Skips are for output samples and the odd unrunnable line, not for whole guides."""
    skipped = [b.id for b in BLOCKS if "skip" in b.directives]
    assert len(skipped) <= max(3, len(BLOCKS) // 5), skipped


# -- run sessions ----------------------------------------------------------------------------


def session_env(tmp_path: Path, midimon_env: dict[str, str]) -> dict[str, str]:
    """midimon_env plus a ``midimon`` on PATH that runs the installed package with this Python."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "midimon"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m midimon "$@"\n')
    shim.chmod(0o755)
    env = dict(midimon_env)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHON"] = sys.executable
    # A rustup proxy needs the real toolchains although HOME moved.
    rustup_home = Path(os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
    if rustup_home.is_dir():
        env["RUSTUP_HOME"] = str(rustup_home)
    env["CARGO_HOME"] = str(tmp_path / "cargo-home")
    return env


def needed_tools(body: str) -> None:
    for tool in ("cmake", "gcc", "cc", "cargo", "rustc", "minisign"):
        if re.search(rf"(^|[\s;&(]){tool}\b", body, re.MULTILINE):
            require_tool(tool)


@pytest.mark.parametrize("doc", SESSION_DOCS, ids=lambda d: d.name)
def test_run_session(doc: Path, tmp_path: Path, midimon_env: dict[str, str]) -> None:
    """The document's file= blocks are written and its run blocks run, in order, for real."""
    if IN_CI:
        require_tool("gcc")
    work = tmp_path / "work"
    work.mkdir()
    env = session_env(tmp_path, midimon_env)
    unused: list[str] = []  # file= blocks no run block has used yet
    for block in (b for b in parse_blocks(doc) if b.in_session):
        d = block.directives
        if "file" in d:
            unused.append(block.id)
            target = work / d["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body)
            if block.lang == "toml" and "manifest" in d:
                check_toml(block)
        if "run" in d:
            unused.clear()
            assert block.lang == "sh", f"{block.id}: run needs a ```sh block"
            for line in command_lines(block.body):
                for words in simple_commands(line):
                    if words[0] == "midimon":
                        check_midimon_line(shlex.join(words))
            needed_tools(block.body)
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.body], cwd=work, env=env,
                capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            output = done.stdout + done.stderr
            assert done.returncode == 0, f"{block.id} failed (exit {done.returncode}):\n{output}"
            for want in d["expect"].split("\n") if "expect" in d else ():
                assert want in output, f"{block.id}: {want!r} not in:\n{output}"
    assert not unused, f"file= blocks after the last run block are never exercised: {unused}"


def test_docs_have_no_tabs() -> None:
    """Guides use spaces: a tab inside a code block renders differently everywhere."""
    for doc in DOCS:
        assert "\t" not in doc.read_text("utf-8"), f"{doc.name} contains a tab"
