"""Check that `auditwheel repair` retagged midimon's wheel without changing a byte it ships.

A bundled plugin is trusted because its SHA-256 matches the installed package's RECORD, and the
worker runs it from those exact bytes. auditwheel patches an ELF file only when it grafts an
external library into the wheel; none of midimon's binaries needs one (libc and libgcc_s are
allowed by every manylinux policy), so the repaired wheel must carry the same bytes as the built
one. If a future plugin needs a library outside the policy, this check fails here, at build
time, instead of the plugin being refused (or running patched bytes) on a user's machine.

Usage: python ci/wheel_payload.py BUILT.whl REPAIRED.whl
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import sys
import zipfile

ELF_MAGIC = b"\x7fELF"


def payload(wheel: zipfile.ZipFile) -> dict[str, bytes]:
    """Every file of the wheel outside its .dist-info folder, by name."""
    return {
        name: wheel.read(name)
        for name in wheel.namelist()
        if not name.endswith("/") and ".dist-info/" not in name
    }


def record_problems(wheel: zipfile.ZipFile) -> list[str]:
    """Files whose RECORD entry is missing or whose SHA-256 differs from the bytes shipped."""
    (record_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/RECORD")]
    rows = csv.reader(io.StringIO(wheel.read(record_name).decode("utf-8")))
    recorded = {row[0]: row[1] for row in rows if row and row[1]}
    problems = []
    for name, data in payload(wheel).items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if recorded.get(name) != f"sha256={digest}":
            problems.append(
                f"{name}: RECORD says {recorded.get(name)!r}, bytes are sha256={digest}"
            )
    return problems


def main(built_path: str, repaired_path: str) -> int:
    """Compare the two wheels; print what differs and return 1 if anything does."""
    with zipfile.ZipFile(built_path) as built, zipfile.ZipFile(repaired_path) as repaired:
        before, after = payload(built), payload(repaired)
        problems = [f"{name}: missing from the repaired wheel" for name in before.keys() - after]
        for name in sorted(after.keys() - before):
            problems.append(f"{name}: added by auditwheel (a grafted library?)")
        for name in sorted(before.keys() & after.keys()):
            if before[name] != after[name]:
                kind = "ELF file" if before[name].startswith(ELF_MAGIC) else "file"
                problems.append(f"{name}: auditwheel rewrote this {kind}")
        problems += record_problems(repaired)
        elves = sorted(n for n, data in after.items() if data.startswith(ELF_MAGIC))
    if problems:
        print(
            f"wheel_payload: {repaired_path} does not ship the bytes that were built:",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(
            "  A bundled plugin is trusted by its RECORD hash: make it need only libc/libgcc_s "
            "(link other libraries statically) so auditwheel has nothing to graft.",
            file=sys.stderr,
        )
        return 1
    print(f"wheel_payload: {len(after)} files byte-identical after repair; ELF files: {elves}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.rsplit("Usage: ", 1)[1])
    sys.exit(main(sys.argv[1], sys.argv[2]))
