"""What ``plugins info`` and ``plugins list`` say about a plugin's signer, its name's pin and
which copy runs when the name is found more than once. Nothing is verified here (``verify``
does that); the signer is the key id the copy's ``.minisig`` names."""

from __future__ import annotations

from typing import Any

from midimon.plugins.description.discovery import DiscoveryResult
from midimon.plugins.description.manifest import PluginManifest
from midimon.plugins.errors import TrustStoreError
from midimon.plugins.integrity.pins import BUNDLED, PinStore, claimed_signer
from midimon.plugins.integrity.trust import TrustStore


def signer_details(
    manifest: PluginManifest, result: DiscoveryResult | None, trust: TrustStore
) -> dict[str, Any]:
    """``signer``, ``signer_name``, ``any_plugin`` (the key is trusted for every name),
    ``pinned_to``, ``pinned_how``, ``copy`` (which copy runs and why) and ``other_copies``."""
    signer = claimed_signer(manifest)
    details: dict[str, Any] = {
        "signer": signer,
        "signer_name": None,
        "any_plugin": False,
        "pinned_to": None,
        "pinned_how": None,
        "copy": None,
        "other_copies": [],
    }
    if signer not in (None, BUNDLED):
        try:
            trusted = trust.get(signer)
        except TrustStoreError:
            trusted = None
        if trusted is not None:
            details["signer_name"] = trusted.name or None
            details["any_plugin"] = not trusted.plugins
    try:
        pin = PinStore.for_user().get(manifest.name)
    except OSError:
        pin = None
    if pin is not None:
        details["pinned_to"], details["pinned_how"] = pin.signer, pin.how
    if result is not None and manifest.name in result.copies:
        details["copy"] = result.chosen_because.get(manifest.name)
        details["other_copies"] = [
            str(c.manifest.directory)
            for c in result.copies[manifest.name]
            if c.manifest.directory != manifest.directory
        ]
    return details


def signer_lines(details: dict[str, Any]) -> list[str]:
    """The text ``plugins info`` prints for ``signer_details``."""
    signer = details["signer"]
    if signer is None:
        text = "unsigned"
    elif signer == BUNDLED:
        text = "bundled with midimon (checked against the package RECORD)"
    else:
        text = f"key {signer}" + (f" ({details['signer_name']})" if details["signer_name"] else "")
    lines = [f"  signer:       {text}"]
    if details["any_plugin"]:
        lines.append(
            f"    note: key {signer} is trusted for ANY plugin name; scope it with: "
            "midimon trust add KEY.pub --plugins NAME_OR_GLOB"
        )
    pinned = details["pinned_to"]
    if pinned is None:
        lines.append("  name pin:     none yet (pinned to its signer when it first loads)")
    else:
        who = "bundled" if pinned == BUNDLED else f"key {pinned}"
        mismatch = "" if pinned == signer else "  <- NOT this copy's signer: refused at load"
        lines.append(f"  name pin:     {who} ({details['pinned_how']}){mismatch}")
    if details["copy"]:
        lines.append(f"  copies:       {details['copy']}")
        lines += [f"                not used: {path}" for path in details["other_copies"]]
    return lines
