"""The Durable management HTTP API (protocol section 4.2) over the `Management` protocol.

One `ManagementApi` serves both the RPC base (`/durabletask/`, where the SDK's client sends its requests) and
the public webhook base (`/runtime/webhooks/durabletask/`), with identical routes and status codes. Paths
here are relative to either base. Who may call it is decided before (`devhost.http.app`); the caller's level
decides only whether the URLs in an answer carry the system key (`URL_KEY`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from devhost.client_binding import DEFAULT_CONNECTION, management_urls, webhook_base_url
from devhost.http.query import Query, checked_text, read_input
from devhost.http.responses import (
    HttpProblem,
    empty_response,
    error_response,
    http_error_fields,
    json_response,
    json_text_response,
)
from devhost.http.routes import Router
from devhost.management import (
    InstanceExists,
    InstanceGone,
    InstanceNotFound,
    InstanceQuery,
    InvalidOperation,
    Management,
    ManagementError,
    UnknownFunction,
)

log = logging.getLogger("devhost.http")

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.Response]]

# The key the URLs of an answer to this request may carry: the system key when the caller presented the system
# or master key, else None (nothing, or a key of a lower level, or the RPC secret, was presented).
URL_KEY = web.RequestKey("devhost.url_key", str)

RUNNING_STATUSES = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
CONTINUATION_HEADER = "x-ms-continuation-token"
STATUS_RETRY_AFTER = "5"
START_RETRY_AFTER = "10"
# Characters DTFx refuses in instance ids (they break the storage keys and the URLs).
_BAD_ID_CHARS = frozenset("/\\#?")
_MAX_ID_LENGTH = 256
# A webhook caller may ask the start to wait for the end; a day is longer than any client waits for an answer.
MAX_WAIT_SECONDS = 86_400.0
# A zero or tiny polling interval would read the instance's status in a busy loop.
MIN_POLL_SECONDS = 0.05

_ERROR_STATUS: tuple[tuple[type[ManagementError], int, str], ...] = (
    (UnknownFunction, 400, "unknownFunction"),
    (InstanceNotFound, 404, "instanceNotFound"),
    (InstanceGone, 410, "instanceGone"),
    (InstanceExists, 409, "instanceExists"),
    (InvalidOperation, 400, "invalidOperation"),
)


def management_error_response(exc: ManagementError) -> web.Response:
    """The status code the extension gives for each management error, with the documented error body and the
    extension's HttpError fields."""
    status, code = next(((s, c) for kind, s, c in _ERROR_STATUS if isinstance(exc, kind)), (500, "internalError"))
    return error_response(status, code, str(exc), extra=http_error_fields(str(exc), exc))


def problem_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error of the management API: the documented body plus the HttpError fields the SDK reads."""
    return error_response(status, code, message, headers=headers, extra=http_error_fields(message))


def _is_control(ch: str) -> bool:
    # C0 and C1 controls: Azure Table keys refuse them, and no id or name needs them.
    return ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F


def _check_route_values(values: dict[str, str]) -> None:
    for name, value in values.items():
        checked_text(value, f"'{name}' in the path")
        if any(_is_control(ch) for ch in value):
            raise HttpProblem(400, f"'{name}' in the path contains a control character", code="invalidRequest")
    instance_id = values.get("instanceId")
    if instance_id is not None:
        _check_instance_id(instance_id)


def _check_instance_id(instance_id: str) -> None:
    if not instance_id.strip() or len(instance_id) > _MAX_ID_LENGTH:
        raise HttpProblem(400, f"instance ids must have 1 to {_MAX_ID_LENGTH} characters", code="invalidInstanceId")
    if any(ch in _BAD_ID_CHARS for ch in instance_id):
        shown = instance_id if len(instance_id) <= 64 else instance_id[:64] + "..."
        raise HttpProblem(
            400, f"instance id {shown!r} contains a character that is not allowed (/ \\ # ?)", code="invalidInstanceId"
        )


class ManagementApi:
    """Routes and handlers of the management API."""

    def __init__(self, management: Management, *, hub_name: str) -> None:
        self._management = management
        self._hub_name = hub_name
        self.router: Router[Handler] = Router()
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "orchestrators/{functionName}/{instanceId?}", self._start),
            ("GET", "instances", self._list),
            ("DELETE", "instances", self._purge_by),
            ("GET", "instances/{instanceId}", self._status),
            ("DELETE", "instances/{instanceId}", self._purge),
            ("POST", "instances/{instanceId}/raiseEvent/{eventName}", self._raise_event),
            ("POST", "instances/{instanceId}/terminate", self._terminate),
            ("POST", "instances/{instanceId}/suspend", self._suspend),
            ("POST", "instances/{instanceId}/resume", self._resume),
            ("POST", "instances/{instanceId}/rewind", self._rewind),
            ("POST", "instances/{instanceId}/restart", self._restart),
            ("GET", "entities/{entityName}", self._list_entities),
            ("GET", "entities/{entityName}/{entityKey}", self._read_entity),
            ("POST", "entities/{entityName}/{entityKey}", self._signal_entity),
            ("DELETE", "entities/{entityName}/{entityKey}", self._delete_entity),
        ]
        for method, template, handler in routes:
            self.router.add([method], template, handler)

    async def handle(self, request: web.Request, segments: list[str], *, url_key: str | None = None) -> web.Response:
        """Answer a request whose path, after the base, is `segments`. `url_key` is the key the URLs of the
        answer may carry (see URL_KEY)."""
        resolved = self.router.resolve(request.method, segments)
        if resolved is None:
            return problem_response(404, "notFound", f"no Durable management route matches {request.method} this path")
        if resolved.target is None:
            allow = ", ".join(sorted(resolved.allowed))
            message = f"{request.method} is not allowed here; use {allow}"
            return problem_response(405, "methodNotAllowed", message, headers={"Allow": allow})
        if url_key is not None:
            request[URL_KEY] = url_key
        try:
            _check_route_values(resolved.values)
            return await resolved.target(request, resolved.values)
        except HttpProblem as exc:
            return problem_response(exc.status, exc.code, str(exc))
        except ManagementError as exc:
            return management_error_response(exc)

    # -- URLs -------------------------------------------------------------------------------------------

    def check_status_payload(self, request: web.Request, instance_id: str) -> dict[str, str]:
        """The check-status body for an instance: the same URLs the client binding hands out."""
        query = Query(request.query)
        return management_urls(
            webhook_base_url(f"{request.scheme}://{request.host}"),
            instance_id,
            hub=query.text("taskHub") or self._hub_name,
            connection=query.text("connection") or query.text("connectionName") or DEFAULT_CONNECTION,
            system_key=request.get(URL_KEY),
        )

    def _check_status_response(self, request: web.Request, instance_id: str) -> web.Response:
        payload = self.check_status_payload(request, instance_id)
        headers = {"Location": payload["statusQueryGetUri"], "Retry-After": START_RETRY_AFTER}
        return json_response(payload, status=202, headers=headers)

    # -- orchestrations ---------------------------------------------------------------------------------

    async def _start(self, request: web.Request, values: dict[str, str]) -> web.Response:
        name = values["functionName"]
        if name.startswith("@"):
            raise HttpProblem(400, "orchestrator names must not start with '@'", code="invalidRequest")
        instance_id = values.get("instanceId")
        if instance_id is not None and instance_id.startswith("@"):
            message = "instance ids must not start with '@' (reserved for entities)"
            raise HttpProblem(400, message, code="invalidInstanceId")
        query = Query(request.query)
        timeout = query.seconds("timeout", maximum=MAX_WAIT_SECONDS)
        interval = query.seconds("pollingInterval", maximum=MAX_WAIT_SECONDS)
        input_text = await read_input(request)
        started = await self._management.start_new(name, instance_id, input_text)
        if timeout is None:
            return self._check_status_response(request, started)
        return await self._wait(request, started, timeout, max(interval, MIN_POLL_SECONDS) if interval else 1.0)

    async def _wait(self, request: web.Request, instance_id: str, timeout: float, interval: float) -> web.Response:
        """Wait for the instance to finish, polling, up to `timeout` seconds (the webhook's
        `?timeout=&pollingInterval=`); answers like the SDK's wait_for_completion_or_create_check_status."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await self._management.get_status(instance_id)
            runtime = status.get("runtimeStatus") if status else None
            if status is not None and runtime == "Completed":
                return json_response(status.get("output"))
            if status is not None and runtime in ("Terminated", "Canceled"):
                return json_response(status)
            if status is not None and runtime == "Failed":
                return json_response(status, status=500)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return self._check_status_response(request, instance_id)
            await asyncio.sleep(min(interval, remaining))

    async def _status(self, request: web.Request, values: dict[str, str]) -> web.Response:
        query = Query(request.query)
        status = await self._management.get_status(
            values["instanceId"],
            show_history=query.boolean("showHistory", False),
            show_history_output=query.boolean("showHistoryOutput", False),
            show_input=query.boolean("showInput", True),
        )
        if status is None:
            return empty_response(404)  # the SDK reads an empty 404 as "no such instance"
        runtime = status.get("runtimeStatus")
        if runtime in RUNNING_STATUSES:
            headers = {"Location": str(request.url), "Retry-After": STATUS_RETRY_AFTER}
            return json_response(status, status=202, headers=headers)
        if runtime == "Failed" and query.boolean("returnInternalServerErrorOnFailure", False):
            return json_response(status, status=500)
        return json_response(status)

    def _instance_query(self, request: web.Request) -> InstanceQuery:
        query = Query(request.query)
        token = checked_text(request.headers.get(CONTINUATION_HEADER) or "", CONTINUATION_HEADER)
        return InstanceQuery(
            created_from=query.timestamp("createdTimeFrom"),
            created_to=query.timestamp("createdTimeTo"),
            runtime_status=query.statuses("runtimeStatus"),
            instance_id_prefix=query.text("instanceIdPrefix") or None,
            top=query.integer("top", minimum=1),
            continuation_token=token or None,
        )

    async def _list(self, request: web.Request, values: dict[str, str]) -> web.Response:
        page = await self._management.list_instances(self._instance_query(request))
        headers = {CONTINUATION_HEADER: page.continuation_token} if page.continuation_token else None
        return json_response(page.statuses, headers=headers)

    async def _purge(self, request: web.Request, values: dict[str, str]) -> web.Response:
        instance_id = values["instanceId"]
        try:
            deleted = await self._management.purge(instance_id)
        except InstanceNotFound:
            deleted = 0
        if deleted == 0:
            return problem_response(404, "instanceNotFound", f"No instance with ID '{instance_id}' found.")
        return json_response({"instancesDeleted": deleted})

    async def _purge_by(self, request: web.Request, values: dict[str, str]) -> web.Response:
        query = self._instance_query(request)
        if query.created_from is None:
            raise HttpProblem(400, "createdTimeFrom is required to purge instances by filter", code="invalidQuery")
        deleted = await self._management.purge_by(query)
        if deleted == 0:
            return problem_response(404, "instanceNotFound", "No instances matched the filter.")
        return json_response({"instancesDeleted": deleted})

    async def _raise_event(self, request: web.Request, values: dict[str, str]) -> web.Response:
        input_text = await read_input(request, require_json_type=True)
        await self._management.raise_event(values["instanceId"], values["eventName"], input_text)
        return empty_response(202)

    async def _terminate(self, request: web.Request, values: dict[str, str]) -> web.Response:
        await self._management.terminate(values["instanceId"], Query(request.query).text("reason"))
        return empty_response(202)

    async def _suspend(self, request: web.Request, values: dict[str, str]) -> web.Response:
        await self._management.suspend(values["instanceId"], Query(request.query).text("reason"))
        return empty_response(202)

    async def _resume(self, request: web.Request, values: dict[str, str]) -> web.Response:
        await self._management.resume(values["instanceId"], Query(request.query).text("reason"))
        return empty_response(202)

    async def _rewind(self, request: web.Request, values: dict[str, str]) -> web.Response:
        await self._management.rewind(values["instanceId"], Query(request.query).text("reason"))
        return empty_response(202)

    async def _restart(self, request: web.Request, values: dict[str, str]) -> web.Response:
        new_id = Query(request.query).boolean("restartWithNewInstanceId", True)
        restarted = await self._management.restart(values["instanceId"], new_id)
        # The SDK's restart() returns the body as the new id, so the body is the id as a JSON string.
        return json_response(restarted, status=202)

    # -- entities ---------------------------------------------------------------------------------------

    async def _list_entities(self, request: web.Request, values: dict[str, str]) -> web.Response:
        # 400 as for rewind: a request devhost does not serve is no fault of the host (no 5xx).
        raise HttpProblem(
            400, "listing entities is not supported by devhost; read one entity by name and key", code="notSupported"
        )

    async def _read_entity(self, request: web.Request, values: dict[str, str]) -> web.Response:
        name, key = values["entityName"], values["entityKey"]
        state = await self._management.read_entity(name, key)
        if state is None:
            return problem_response(404, "entityNotFound", f"Entity '@{name.lower()}@{key}' does not exist.")
        return json_text_response(state)

    async def _signal_entity(self, request: web.Request, values: dict[str, str]) -> web.Response:
        operation = Query(request.query).text("op") or ""
        input_text = await read_input(request)
        await self._management.signal_entity(values["entityName"], values["entityKey"], operation, input_text)
        return empty_response(202)

    async def _delete_entity(self, request: web.Request, values: dict[str, str]) -> web.Response:
        await self._management.signal_entity(values["entityName"], values["entityKey"], "delete", None)
        return empty_response(202)
