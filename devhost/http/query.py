"""Reading management requests: query parameters (case-insensitive names, as ASP.NET reads them) and JSON
bodies under the payload rule of protocol section 2.12."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

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


class Query:
    """Typed access to a request's query string; a bad value raises HttpProblem(400)."""

    def __init__(self, query: Mapping[str, str]) -> None:
        self._values: dict[str, str] = {}
        for key, value in query.items():
            self._values.setdefault(key.lower(), value)  # first occurrence wins

    def text(self, name: str) -> str | None:
        """The raw value, or None when absent."""
        return self._values.get(name.lower())

    def boolean(self, name: str, default: bool) -> bool:
        """`true`/`false` in any case (the SDK sends `True`); the default when absent or empty."""
        value = self.text(name)
        if not value:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise HttpProblem(400, f"query parameter '{name}' must be true or false, got '{value}'")

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        value = self.text(name)
        if not value:
            return None
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise HttpProblem(400, f"query parameter '{name}' must be an integer >= {minimum}, got '{value}'")
        return number

    def seconds(self, name: str) -> float | None:
        value = self.text(name)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if number < 0:
            raise HttpProblem(400, f"query parameter '{name}' must be a number of seconds, got '{value}'")
        return number

    def timestamp(self, name: str) -> datetime | None:
        """An ISO-8601 time; a time without an offset is UTC, as the extension reads it."""
        value = self.text(name)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise HttpProblem(400, f"query parameter '{name}' must be an ISO-8601 time, got '{value}'") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

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
                raise HttpProblem(400, f"unknown runtime status '{item}' in '{name}'; known: {known}")
            result.add(status)
        return frozenset(result) or None


async def read_input(request: web.Request, *, require_json_type: bool = False) -> str | None:
    """The request body as stored input text: `json.dumps(json.loads(body))`, or None for an empty body.

    Malformed JSON is a 400. With `require_json_type` a body sent with another content type is a 400 too
    (raise event, as the extension does).
    """
    if require_json_type and request.content_type != JSON_TYPE:
        raise HttpProblem(400, "Only application/json request content is supported")
    body = await request.read()
    if not body.strip():
        return None
    try:
        return json.dumps(json.loads(body.decode("utf-8-sig")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpProblem(400, f"the request body is not valid JSON: {exc}") from None
