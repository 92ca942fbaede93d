"""Response helpers. Every body is empty or JSON: the SDK parses every management response as JSON, and a
JSON error is easier to read in a test failure than an HTML page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from devhost.errors import HostError

JSON_TYPE = "application/json"


class HttpProblem(HostError):
    """Raised inside a handler to answer with an error status and message (400 for a bad query, ...)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response with `body` serialised as JSON."""
    return json_text_response(json.dumps(body), status=status, headers=headers)


def json_text_response(text: str, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response whose body is already JSON text."""
    return web.Response(status=status, text=text, content_type=JSON_TYPE, charset="utf-8", headers=dict(headers or {}))


def empty_response(status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """A response with no body."""
    return web.Response(status=status, headers=dict(headers or {}))


def error_response(
    status: int,
    message: str,
    *,
    exception: BaseException | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An error in the shape of ASP.NET's HttpError, which the SDK reads (`ExceptionMessage` on a 400)."""
    body: dict[str, str] = {"Message": message}
    if exception is not None:
        kind = type(exception)
        body["ExceptionMessage"] = str(exception)
        body["ExceptionType"] = f"{kind.__module__}.{kind.__qualname__}"
    else:
        body["ExceptionMessage"] = message
    return json_response(body, status=status, headers=headers)
