"""Strict JSON in and out: what storage writes is standard JSON that any reader (and the HTTP API) accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from durable_batch.lib.azure_storage.errors import SerializationError

T = TypeVar("T")

# Built once: `json.dumps` with options builds an encoder per call, which costs more than a small row's text.
_ENCODERS = {
    sort_keys: json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=sort_keys)
    for sort_keys in (False, True)
}


def dumps(value: Any, what: str, *, sort_keys: bool = False) -> str:
    """Compact JSON text of ``value``; `SerializationError` (naming ``what``) if it is not JSON data."""
    return encoded(lambda encoder: encoder.encode(value), what, sort_keys=sort_keys)


def encoded(make: Callable[[json.JSONEncoder], T], what: str, *, sort_keys: bool = False) -> T:
    """What `make` makes with the encoder `dumps` uses; `SerializationError` (naming ``what``) if it meets
    something that is not JSON data."""
    try:
        return make(_ENCODERS[sort_keys])
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
