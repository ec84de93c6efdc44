"""Params as the plugin receives them: compact UTF-8 JSON object text, checked once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class EncodedParams(bytes):
    """Params JSON that :func:`encode_params` already checked and encoded.

    Passing one to ``encode_params`` (or ``PluginManager.execute``) skips the work: the action
    executor encodes each configured action's params once, not on every call.
    """

    __slots__ = ()


def encode_params(params: Mapping[str, Any] | str | EncodedParams) -> EncodedParams:
    """Params as compact UTF-8 JSON object text; ValueError when they are not an object."""
    if type(params) is EncodedParams:
        return params
    if isinstance(params, str):
        try:
            decoded = json.loads(params)
        except json.JSONDecodeError as exc:
            raise ValueError(f"params are not valid JSON: {exc}") from None
    else:
        decoded = params
    if not isinstance(decoded, Mapping):
        raise ValueError(f"params must be a JSON object, got {type(decoded).__name__}")
    return EncodedParams(
        json.dumps(decoded, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    )


__all__ = ["EncodedParams", "encode_params"]
