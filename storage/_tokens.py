"""Opaque continuation tokens for paged queries: URL-safe text that the HTTP API passes through unchanged.

A token records the last key returned and the query it belongs to, so a token replayed against another job or
another filter is refused rather than silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from storage.errors import InvalidContinuationToken

_VERSION = 1


def encode_token(scope: dict[str, Any], after: str) -> str:
    """Token for "the page after row key ``after``" of the query described by ``scope``."""
    payload = json.dumps({"v": _VERSION, "s": scope, "a": after}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, scope: dict[str, Any]) -> str:
    """The row key to continue after; raises `InvalidContinuationToken` if ``token`` is not for ``scope``."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidContinuationToken(
            "the continuation token is malformed: pass back the token of the previous page unchanged"
        ) from exc
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _VERSION
        or payload.get("s") != scope
        or not isinstance(payload.get("a"), str)
    ):
        raise InvalidContinuationToken(
            "the continuation token belongs to another query: use it with the same job and filter"
        )
    after: str = payload["a"]
    return after
