"""The API's errors and the one JSON shape every error answer has.

    {"error": {"code": "jobNotFound", "message": "...", "details": [{"path": "...", "message": "..."}]}}

`code` is stable and meant for programs; `message` says what went wrong and what to do next; `details` lists
every problem of a refused job spec (empty otherwise). No answer ever carries a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import azure.functions as func

from batch.errors import BodyTooLargeError, SpecError

JSON_MIMETYPE = "application/json"


class ApiError(Exception):
    """An answer other than success, with its HTTP status, error code and any headers of its own."""

    status = 400
    code = "badRequest"
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str, details: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = [dict(item) for item in details]

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidJobSpec(ApiError):
    status = 400
    code = "invalidJobSpec"


class BodyTooLarge(ApiError):
    status = 413
    code = "bodyTooLarge"


class InvalidQuery(ApiError):
    status = 400
    code = "invalidQuery"


class JobNotFound(ApiError):
    status = 404
    code = "jobNotFound"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"there is no job with id {job_id!r}: list jobs with GET /api/jobs")


class ScheduleNotFound(ApiError):
    status = 404
    code = "scheduleNotFound"

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"there is no schedule with id {schedule_id!r}: list schedules with GET /api/schedules")


class InvalidSchedule(ApiError):
    status = 400
    code = "invalidSchedule"


class PoolNotFound(ApiError):
    status = 404
    code = "poolNotFound"

    def __init__(self, pool_id: str) -> None:
        super().__init__(
            f"there is no pool with id {pool_id!r}: list pools with GET /api/pools, define one with "
            "PUT /api/pools/{poolId}"
        )


class InvalidPool(ApiError):
    status = 400
    code = "invalidPool"


class TaskNotFound(ApiError):
    status = 404
    code = "taskNotFound"

    def __init__(self, job_id: str, task_id: str) -> None:
        super().__init__(
            f"job {job_id!r} has no recorded task {task_id!r}: list its tasks with GET /api/jobs/{job_id}/tasks "
            "(tasks appear there once their partition has started)"
        )


class FileNotFound(ApiError):
    status = 404
    code = "notFound"


class JobConflict(ApiError):
    """The same id with another spec, or an operation the job's state does not allow."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


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


def from_spec_error(exc: SpecError) -> ApiError:
    """A refused spec as the API answers it: 413 for a body over the limit, else 400, with every problem."""
    if isinstance(exc, BodyTooLargeError):
        return BodyTooLarge(str(exc.problems[0]) if exc.problems else str(exc), exc.details())
    count = len(exc.problems)
    message = f"the job spec has {count} {'problem' if count == 1 else 'problems'}; see details"
    return InvalidJobSpec(message, exc.details())


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


def error_response(error: ApiError) -> func.HttpResponse:
    return json_response(error.to_json(), error.status, error.headers)
