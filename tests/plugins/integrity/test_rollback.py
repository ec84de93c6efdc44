"""Anti-rollback records: versions ordered as releases are, older releases and older
signatures of the same release refused, each record bound to the signer it came from."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from midimon.plugins.integrity.rollback import (
    Accepted,
    RollbackRefused,
    RollbackStore,
    version_key,
)


def test_version_order() -> None:
    """Numeric parts compare as numbers, a pre-release sorts before its release, numeric
    pre-release fields before alphanumeric ones, and build metadata is ignored."""
    ordered = ["0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0",
               "2.0.0"]  # fmt: skip
    assert sorted(ordered, key=version_key) == ordered
    assert version_key("1.2.3+build.7") == version_key("1.2.3")


@pytest.mark.parametrize("bad", ["1.2", "v1.2.3", "1.2.3.4", "", "1.2.x"])
def test_a_version_that_is_not_one_is_refused(bad: str) -> None:
    """Anything but MAJOR.MINOR.PATCH[-pre][+build] raises ValueError quoting it."""
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        version_key(bad)


def test_older_versions_and_older_signatures_are_refused(tmp_path: Path) -> None:
    """After 1.2.0 signed at t=200: 1.1.9 and 1.2.0 signed at t=100 are refused, saying why;
    1.2.0 signed again later and 1.3.0 pass."""
    store = RollbackStore(tmp_path / "rb.json")
    store.check("p", Accepted("0.0.1", None))  # nothing recorded: anything goes
    store.record("p", Accepted("1.2.0", 200, "KEY"))
    older = re.escape("version 1.1.9 is older than 1.2.0")
    with pytest.raises(RollbackRefused, match=older) as info:
        store.check("p", Accepted("1.1.9", 300, "KEY"))
    assert info.value.plugin == "p" and info.value.newest == Accepted("1.2.0", 200, "KEY")
    with pytest.raises(RollbackRefused, match=r"timestamp 100\) is older .*timestamp 200"):
        store.check("p", Accepted("1.2.0", 100, "KEY"))
    store.check("p", Accepted("1.2.0", 200, "KEY"))
    store.check("p", Accepted("1.2.0", None, "KEY"))  # no timestamp: the version decides
    store.check("p", Accepted("1.2.0", 250, "KEY"))
    store.check("p", Accepted("1.3.0", 1, "KEY"))
    store.check("other", Accepted("0.0.1", 1, "KEY"))


def test_only_newer_releases_are_recorded_and_kept_on_disk(tmp_path: Path) -> None:
    """record() keeps the newest (version, then timestamp), in a 0600 file another store
    instance reads back."""
    path = tmp_path / "state" / "rb.json"
    store = RollbackStore(path)
    store.record("p", Accepted("1.0.0", 100, "KEY"))
    store.record("p", Accepted("0.9.0", 500, "KEY"))  # older version: ignored
    store.record("p", Accepted("1.0.0", 50, "KEY"))  # older signature: ignored
    assert RollbackStore(path).newest("p") == Accepted("1.0.0", 100, "KEY")
    store.record("p", Accepted("1.0.0", 150, "KEY"))
    store.record("q", Accepted("3.0.0", None))
    fresh = RollbackStore(path)
    assert fresh.newest("p") == Accepted("1.0.0", 150, "KEY")
    assert fresh.newest("q") == Accepted("3.0.0", None, None)
    assert fresh.newest("nothing") is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_record_belongs_to_its_signer(tmp_path: Path) -> None:
    """Another signer's releases are neither blocked nor protected by this signer's record;
    an unsigned copy, and a record from before signers were kept, stay bound."""
    store = RollbackStore(tmp_path / "rb.json")
    store.record("p", Accepted("2.0.0", 100, "ALICE"))
    store.check("p", Accepted("1.0.0", 1, "MALLORY"))
    with pytest.raises(RollbackRefused):
        store.check("p", Accepted("1.0.0", 1, None))
    store.record("p", Accepted("1.0.0", 1, "MALLORY"))  # re-pinned: the new signer's record
    assert store.newest("p") == Accepted("1.0.0", 1, "MALLORY")
    store.record("legacy", Accepted("2.0.0", 100, None))
    with pytest.raises(RollbackRefused):
        store.check("legacy", Accepted("1.0.0", 1, "ANYONE"))


def test_unreadable_records_name_the_file(tmp_path: Path) -> None:
    """A damaged records file raises OSError with its path instead of being ignored."""
    path = tmp_path / "rb.json"
    path.write_text("{not json")
    with pytest.raises(OSError, match=re.escape(str(path))):
        RollbackStore(path).check("p", Accepted("1.0.0", None))
