"""Strict JSON in and out: what storage writes is standard JSON that any reader (and the HTTP API) accepts."""

from __future__ import annotations

import json
from typing import Any

from lib.azure_storage.errors import SerializationError

# Built once: `json.dumps` with options builds an encoder per call, which costs more than a small row's text.
_ENCODERS = {
    sort_keys: json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=sort_keys)
    for sort_keys in (False, True)
}


def dumps(value: Any, what: str, *, sort_keys: bool = False) -> str:
    """Compact JSON text of ``value``; `SerializationError` (naming ``what``) if it is not JSON data."""
    try:
        return _ENCODERS[sort_keys].encode(value)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"{what} cannot be stored as JSON: {exc}. Return plain dicts, lists, strings, finite numbers, "
            "booleans or None"
        ) from exc


def loads(text: str | bytes, what: str) -> Any:
    """Parse JSON text read back from storage; `SerializationError` (naming ``what``) if it is corrupt."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SerializationError(f"{what} is not valid JSON: {exc}") from exc
