"""Response helpers. Every body is empty or JSON: the SDK parses every management response as JSON, and a
JSON error is easier to read in a test failure than an HTML page.

Every error devhost answers has the job API's shape, `{"error": {"code", "message", "details"}}`, so one client
reads devhost's errors and the app's alike. The management API's errors also carry the extension's HttpError
fields (`Message`, `ExceptionMessage`): the SDK's client reads `ExceptionMessage` from them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from devhost.errors import HostError
from devhost.worker_calls import FunctionFailed

JSON_TYPE = "application/json"


class HttpProblem(HostError):
    """Raised inside a handler to answer with an error status, code and message (400 for a bad query, ...)."""

    def __init__(self, status: int, message: str, *, code: str = "badRequest") -> None:
        self.status = status
        self.code = code
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


def error_body(code: str, message: str, details: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The documented error shape."""
    return {"error": {"code": code, "message": message, "details": [dict(d) for d in details]}}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> web.Response:
    """An error answer in the documented shape; `extra` adds top-level fields (the extension's HttpError)."""
    body = error_body(code, message, details)
    body.update(extra or {})
    return json_response(body, status=status, headers=headers)


def http_error_fields(message: str, exception: BaseException | None = None) -> dict[str, str]:
    """The fields of ASP.NET's HttpError, as the extension answers and the SDK reads them."""
    if exception is None:
        return {"Message": message, "ExceptionMessage": message}
    if isinstance(exception, FunctionFailed):  # a failure the worker library reported: its type is in the text
        text, kind_name = exception.exception_message, exception.exception_type
        return {"Message": message, "ExceptionMessage": text, "ExceptionType": kind_name}
    kind = type(exception)
    return {
        "Message": message,
        "ExceptionMessage": str(exception),
        "ExceptionType": f"{kind.__module__}.{kind.__qualname__}",
    }
