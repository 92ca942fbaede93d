"""Opaque continuation tokens for paged queries: URL-safe text that the HTTP API passes through unchanged.

A token records the last key returned and the query it belongs to, so a token replayed against another job or
another filter is refused rather than silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from durable_batch.lib.azure_storage.errors import InvalidContinuationToken
from durable_batch.storage.rows import Row, RowStore

_VERSION = 1
MAX_TOKEN_CHARS = 4_096
"""Tokens this module issues are a few hundred characters; anything much longer was not issued here."""
# Row keys are printable ASCII of at most 1 KiB (the table service's limit); a token that decodes to anything
# else (a lone surrogate, a control character) would fail in the storage request rather than as a bad token.
_ROW_KEY = re.compile(r"[\x20-\x7e]{0,1024}")
_MALFORMED = "the continuation token is malformed: pass back the token of the previous page unchanged"


def encode_token(scope: dict[str, Any], after: str) -> str:
    """Token for "the page after row key ``after``" of the query described by ``scope``."""
    payload = json.dumps({"v": _VERSION, "s": scope, "a": after}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, scope: dict[str, Any]) -> str:
    """The row key to continue after; raises `InvalidContinuationToken` if ``token`` is not for ``scope``."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidContinuationToken(_MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        # Strict UTF-8 (`json.loads` of bytes would let encoded surrogates through); RecursionError: a token of
        # a few thousand '[' nests deeper than the decoder can follow.
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, TypeError, RecursionError) as exc:
        raise InvalidContinuationToken(_MALFORMED) from exc
    if (
        not isinstance(payload, dict)
        or payload.get("v") != _VERSION
        or payload.get("s") != scope
        or not isinstance(payload.get("a"), str)
        or not _ROW_KEY.fullmatch(payload["a"])
    ):
        raise InvalidContinuationToken(
            "the continuation token belongs to another query: use it with the same job and filter"
        )
    after: str = payload["a"]
    return after


def keyed_page(
    rows: RowStore, partition: str, prefix: str, kind: str, page_size: int, continuation_token: str | None
) -> tuple[list[Row], str | None]:
    """One page of the rows whose keys are `prefix` + an id (schedules, pools), in key order, with the token of
    the next page (None on the last). `prefix` ends with `|`: the range ends at `}`, the character after it."""
    scope = {"kind": kind}
    after = decode_token(continuation_token, scope) if continuation_token is not None else prefix
    end = prefix[:-1] + "}"
    found = [row for row in rows.range(partition, after, end, limit=page_size + 2) if row.key != after]
    page = found[:page_size]
    return page, encode_token(scope, page[-1].key) if len(found) > page_size else None
