"""Request plumbing shared by the HTTP functions: the error guard, query parameters, and the API's own URL."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast
from urllib.parse import urlencode, urlsplit

import azure.functions as func

from durable_batch.api.errors import InternalError, InvalidQuery, ServiceUnavailable, error_response
from durable_batch.batch.spec import is_id
from durable_batch.lib.azure_storage.errors import (
    InvalidContinuationToken,
    StorageAuthError,
    StorageConfigError,
    StorageError,
    StorageUnreachable,
)
from durable_batch.operations.errors import JobNotFound, OperationError

log = logging.getLogger("durable_batch.api")

Decorator = Callable[[Callable[..., Any]], Any]


class Registrar(Protocol):
    """The part of `df.Blueprint` the API uses, typed (the SDK ships no types)."""

    def route(self, *, route: str, methods: list[str]) -> Decorator: ...

    def durable_client_input(self, *, client_name: str) -> Decorator: ...

    def timer_trigger(self, *, arg_name: str, schedule: str, run_on_startup: bool) -> Decorator: ...


def registrar(bp: Any) -> Registrar:
    """`bp` (a `df.Blueprint`) as a `Registrar`."""
    return cast(Registrar, bp)


async def guarded(action: Callable[[], Awaitable[func.HttpResponse]]) -> func.HttpResponse:
    """Run a request's handler; every failure becomes an error answer of the documented shape, never a
    traceback (the traceback goes to the log)."""
    try:
        return await action()
    except OperationError as exc:
        return error_response(exc)
    except InvalidContinuationToken as exc:
        return error_response(InvalidQuery(f"continuationToken: {exc}"))
    except (StorageUnreachable, StorageAuthError, StorageConfigError) as exc:
        log.error("storage is not available: %s", exc)
        return error_response(ServiceUnavailable(f"storage is not available: {exc}"))
    except StorageError:
        log.exception("a storage request failed")
        return error_response(InternalError("a storage request failed; retry, and see the app's log if it persists"))
    except Exception:
        log.exception("the request failed")
        return error_response(InternalError("the request failed unexpectedly; see the app's log"))


def job_id_param(req: func.HttpRequest) -> str:
    """The `{jobId}` of the route. An id no job can have is an unknown job (404), not a bad request."""
    job_id = str(req.route_params.get("jobId", ""))
    if not is_id(job_id):
        raise JobNotFound(job_id)
    return job_id


def top_param(req: func.HttpRequest, default: int, limit: int = 1000) -> int:
    return int_param(req, "top", default, limit)


def int_param(req: func.HttpRequest, name: str, default: int, limit: int) -> int:
    """A whole number from 1 to `limit` in the query, or `default` when it is absent or empty."""
    raw = req.params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidQuery(f"{name}: must be a whole number from 1 to {limit}, not {raw!r}") from None
    if not 1 <= value <= limit:
        raise InvalidQuery(f"{name}: must be from 1 to {limit}, not {value}")
    return value


def choice_param(req: func.HttpRequest, name: str, allowed: tuple[str, ...]) -> str | None:
    raw = req.params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise InvalidQuery(f"{name}: must be one of {', '.join(allowed)}, not {raw!r}")
    return str(raw)


def token_param(req: func.HttpRequest) -> str | None:
    raw = req.params.get("continuationToken")
    return str(raw) if raw else None


ROOT_SEGMENTS = ("jobs", "schedules", "pools", "files", "openapi.json", "dashboard")
"""The first path segment of every route of the API: what comes before it is the API's root."""


def api_root(url: str) -> str:
    """The absolute URL of the API from a request's URL: everything before the first segment that starts a
    route (`http://host:7071/api/jobs/x/tasks` -> `http://host:7071/api`), so a custom route prefix is kept.
    (A route prefix that itself has such a segment is not supported.)"""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    cut = next((i for i, segment in enumerate(segments) if segment in ROOT_SEGMENTS), len(segments))
    root_path = "/".join(segments[:cut]).rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{root_path}"


def next_link(url: str, params: dict[str, str | None]) -> str:
    """`url` (without its query) with the given query parameters, leaving out those that are None."""
    parts = urlsplit(url)
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
