"""The API's own errors, the status of each operation's refusal, and the one JSON shape every error answer has.

    {"error": {"code": "jobNotFound", "message": "...", "details": [{"path": "...", "message": "..."}]}}

`code` is stable and meant for programs; `message` says what went wrong and what to do next; `details` lists
every problem of a refused job spec (empty otherwise). No answer ever carries a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import azure.functions as func

from durable_batch.operations.errors import Conflict, Invalid, NotFound, OperationError, TooLarge

JSON_MIMETYPE = "application/json"


class ApiError(OperationError):
    """An answer only HTTP gives (a bad query, a file route's refusal, a failure of the service), with its
    status and any headers of its own. The operations' errors (`durable_batch.operations.errors`) get theirs from their
    kind (`status_of`)."""

    status = 400
    headers: Mapping[str, str] = MappingProxyType({})


class BodyTooLarge(TooLarge):
    """A request body over the limit (413)."""


class InvalidQuery(ApiError):
    status = 400
    code = "invalidQuery"


class FileNotFound(ApiError):
    status = 404
    code = "notFound"


RETRY_AFTER_SECONDS = 10
"""When a client should try again after a 503: storage outages rarely end sooner, and a struggling store is
better left alone a while than asked again at once."""


class ServiceUnavailable(ApiError):
    status = 503
    code = "serviceUnavailable"
    headers = MappingProxyType({"Retry-After": str(RETRY_AFTER_SECONDS)})


class InternalError(ApiError):
    status = 500
    code = "internalError"


_STATUS_OF_KIND: tuple[tuple[type[OperationError], int], ...] = (
    (TooLarge, 413),
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 400),
)
"""The one mapping of an operation's refusal to its HTTP status; the first kind that matches wins (a
`TooLarge` is also `Invalid`)."""


def status_of(error: OperationError) -> int:
    if isinstance(error, ApiError):
        return error.status
    return next((status for kind, status in _STATUS_OF_KIND if isinstance(error, kind)), 400)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    """A JSON answer (compact, UTF-8)."""
    try:
        return _response(json.dumps(body, separators=(",", ":"), ensure_ascii=False), status, headers)
    except UnicodeEncodeError:
        # A lone surrogate (from a stored value no check has seen) cannot be encoded as UTF-8; as a `\\ud800`
        # escape it is still valid JSON, and the answer goes out instead of failing.
        return _response(json.dumps(body, separators=(",", ":"), ensure_ascii=True), status, headers)


def _response(text: str, status: int, headers: Mapping[str, str] | None) -> func.HttpResponse:
    return func.HttpResponse(
        body=text, status_code=status, headers=dict(headers or {}), mimetype=JSON_MIMETYPE, charset="utf-8"
    )


def error_response(error: OperationError) -> func.HttpResponse:
    headers = error.headers if isinstance(error, ApiError) else None
    return json_response(error.to_json(), status_of(error), headers)
