"""The one place that reads TOML: rtoml when it gives tomllib's answer, else tomllib (tomli < 3.11).

tomllib is pure Python and was most of the time of plugin discovery and config reload; rtoml
(Rust) is about ten times faster. tomllib stays the reference: it parses every document rtoml
rejects (so accepted files, and the line and column of every error, are tomllib's), and every
document that uses something where the two differ:

- rtoml also accepts TOML 1.1: newlines and trailing commas in inline tables, ``\\e`` and
  ``\\xHH`` escapes, times without seconds, and a leading byte order mark; tomllib refuses these.
- rtoml's offset date-times carry its own tzinfo class, not ``datetime.timezone``.
- rtoml keeps CRLF inside multi-line strings; tomllib turns it into LF.

So a document goes to tomllib when it starts with a BOM, contains ``\\e``, ``\\x`` or a lone
carriage return, or has a time (``d:d``) or an inline table that spans lines or ends with a comma
outside its strings and comments; CRLF line ends are turned into LF first. tests/test_toml.py
checks that the two give the same values, types and key order.
"""

from __future__ import annotations

import re
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as _toml

try:
    import rtoml as _rtoml
except ImportError:  # pragma: no cover - rtoml is a dependency; tomllib alone is correct
    _rtoml = None  # type: ignore[assignment]  # the name is typed as the module it may not be

TOMLDecodeError = _toml.TOMLDecodeError

# Strings (multi-line first) and comments, each taken whole, leftmost first, so a quote inside
# a comment or a # inside a string is not mistaken for one.
_STRINGS_AND_COMMENTS = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"{1,2}(?!"))*"{3,5}'
    r"|'''(?:[^']|'{1,2}(?!'))*'{3,5}"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'[^'\n]*'"
    r"|#[^\n]*"
)
_TRAILING_COMMA = re.compile(r",\s*\}")
_TIME = re.compile(r"\d:\d")
_ALL_BUT_BRACES_AND_NEWLINES = bytes(b for b in range(256) if b not in b"{}\n")


def _outside_strings_and_comments(text: str) -> str:
    """``text`` with each string made ``S`` and each comment taken away."""
    if "'" in text or "#" in text or "\\" in text or '"""' in text:
        return _STRINGS_AND_COMMENTS.sub("S", text)
    # Only one-line basic strings: every other piece between double quotes is one (in a valid
    # document; an invalid one is refused by rtoml anyway).
    return "S".join(text.split('"')[::2])


def _fast_path_agrees(text: str) -> bool:
    """Whether rtoml's result for ``text`` (CRLF already made LF) is tomllib's, when it has one."""
    if text.startswith("\ufeff") or ("\\" in text and ("\\e" in text or "\\x" in text)):
        return False
    bare = _outside_strings_and_comments(text)
    if ":" in bare and _TIME.search(bare):
        return False
    if "{" not in bare and "}" not in bare:
        return True
    if _TRAILING_COMMA.search(bare):
        return False
    # Keep only braces and line ends, then take away "{}" pairs (innermost first): an inline
    # table that spans lines leaves a brace behind.
    braces = bare.encode("utf-8", "surrogatepass").translate(None, _ALL_BUT_BRACES_AND_NEWLINES)
    while b"{}" in braces:
        braces = braces.replace(b"{}", b"")
    return b"{" not in braces and b"}" not in braces


def loads(text: str) -> dict[str, Any]:
    """Parse a TOML document as tomllib does; raises TOMLDecodeError (tomllib's) when invalid."""
    if _rtoml is not None:
        fast_text = text.replace("\r\n", "\n") if "\r" in text else text
        if "\r" not in fast_text and _fast_path_agrees(fast_text):
            try:
                return _rtoml.loads(fast_text, none_value=None)
            except Exception:  # rtoml refused it (or failed): tomllib decides, and says why
                pass
    return _toml.loads(text)


__all__ = ["TOMLDecodeError", "loads"]
