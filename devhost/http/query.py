"""Reading management requests: query parameters (case-insensitive names, as ASP.NET reads them) and JSON
bodies under the payload rule of protocol section 2.12.

Whatever a caller sends, reading it either succeeds or raises HttpProblem(400): a value that would make the
engine or a store fail later (a number SQLite cannot hold, a time the UTC conversion overflows, bytes that are
not UTF-8) is refused here, where the answer can still say which parameter is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.http.responses import JSON_TYPE, HttpProblem

RUNTIME_STATUSES = (
    "Running",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Canceled",
    "Terminated",
    "Pending",
    "Suspended",
)
_STATUS_BY_LOWER = {s.lower(): s for s in RUNTIME_STATUSES}
# The extension reads `top` as a .NET int; larger values are no page size anyone means.
MAX_INT32 = 2**31 - 1
# Json.NET's default MaxDepth: inputs nested deeper would not get through the real host's parser either, and
# Python's own recursion limit is not far beyond.
MAX_JSON_DEPTH = 64


def checked_text(value: str, what: str) -> str:
    """`value` if it can be stored and sent on (UTF-8 without lone surrogates), else HttpProblem(400).

    aiohttp decodes header bytes that are not UTF-8 to surrogate escapes; those fail much later, in a store
    or in the encoder of an answer.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise HttpProblem(400, f"{what} is not valid UTF-8 text", code="invalidRequest") from None
    return value


def _problem(name: str, expected: str, value: str) -> HttpProblem:
    shown = value if len(value) <= 64 else value[:64] + "..."
    return HttpProblem(400, f"query parameter '{name}' must be {expected}, got {shown!r}", code="invalidQuery")


class Query:
    """Typed access to a request's query string; a bad value raises HttpProblem(400)."""

    def __init__(self, query: Mapping[str, str]) -> None:
        self._values: dict[str, str] = {}
        for key, value in query.items():
            self._values.setdefault(key.lower(), value)  # first occurrence wins

    def text(self, name: str) -> str | None:
        """The raw value, or None when absent."""
        value = self._values.get(name.lower())
        return None if value is None else checked_text(value, f"query parameter '{name}'")

    def boolean(self, name: str, default: bool) -> bool:
        """`true`/`false` in any case (the SDK sends `True`); the default when absent or empty."""
        value = self.text(name)
        if not value:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _problem(name, "true or false", value)

    def integer(self, name: str, *, minimum: int = 0, maximum: int = MAX_INT32) -> int | None:
        """A decimal integer from `minimum` to `maximum`; None when absent or empty."""
        value = self.text(name)
        if not value:
            return None
        try:
            number = int(value)  # over 4,300 digits int() raises ValueError too
        except ValueError:
            number = minimum - 1
        if not minimum <= number <= maximum:
            raise _problem(name, f"an integer from {minimum} to {maximum}", value)
        return number

    def seconds(self, name: str, *, maximum: float) -> float | None:
        """A finite, non-negative number of seconds up to `maximum`; None when absent or empty."""
        value = self.text(name)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and 0 <= number <= maximum):
            raise _problem(name, f"a number of seconds from 0 to {maximum:g}", value)
        return number

    def timestamp(self, name: str) -> datetime | None:
        """An ISO-8601 time, as UTC; a time without an offset is UTC, as the extension reads it."""
        value = self.text(name)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
            # Year 1 east of UTC, or year 9999 west of it, has no UTC time: the conversion overflows here
            # instead of in a store.
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            raise _problem(name, "an ISO-8601 time", value) from None

    def statuses(self, name: str) -> frozenset[str] | None:
        """A comma-separated list of runtime statuses, canonically spelled."""
        value = self.text(name)
        if not value:
            return None
        result = set()
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            status = _STATUS_BY_LOWER.get(item.lower())
            if status is None:
                known = ", ".join(RUNTIME_STATUSES)
                raise HttpProblem(
                    400, f"unknown runtime status {item!r} in '{name}'; known: {known}", code="invalidQuery"
                )
            result.add(status)
        return frozenset(result) or None


async def read_input(request: web.Request, *, require_json_type: bool = False) -> str | None:
    """The request body as stored input text: `json.dumps(json.loads(body))`, or None for an empty body.

    Malformed JSON is a 400, and so is JSON that is valid but would not survive the trip through history and
    the SDK: NaN and Infinity (not JSON; `1e400` reads as Infinity), integers over 4,300 digits (Python will
    not read them back), lone surrogates (not encodable as UTF-8) and nesting deeper than MAX_JSON_DEPTH.
    With `require_json_type` a body sent with another content type is a 400 too (raise event, as the
    extension does).
    """
    if require_json_type and request.content_type != JSON_TYPE:
        raise HttpProblem(400, "Only application/json request content is supported", code="invalidBody")
    body = await request.read()
    if not body.strip():
        return None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _body_problem("it is not UTF-8 text") from None
    try:
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
    except RecursionError:
        raise _body_problem(f"it is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, and int() past its 4,300 digits
        raise _body_problem(str(exc)) from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise _body_problem(f"it is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _body_problem("a string holds a lone surrogate (such as \\ud800)") from None
    return json.dumps(value)


def _body_problem(reason: str) -> HttpProblem:
    return HttpProblem(400, f"the request body is not valid JSON: {reason}", code="invalidBody")


def _not_a_number(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:32]} is out of range")
    return number


def _depth(value: Any) -> int:
    """How deeply `value` nests arrays and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest
