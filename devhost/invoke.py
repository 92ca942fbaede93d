"""Call non-durable functions the way the Python worker does (protocol section 1.4).

Arguments are keyword arguments named after the bindings: the trigger's value, the `durableClient` payload
(a JSON string the SDK's wrapper turns into a `DurableOrchestrationClient`), and `context=` only when the
function declares a `context` parameter. `async def` functions run on the caller's event loop, which must be
the host's one long-lived loop (the SDK keeps a module-global aiohttp session bound to it); `def` functions
run in a thread pool so they cannot stall that loop.

Orchestrators, activities and entities are not called through here: the engine drives them with the SDK's
replay protocol.

On Python 3.13 a function the worker library loaded (`fn.worker`) gets its inputs in the worker protocol's forms
instead (`worker_inputs`), and the library converts, calls and encodes (`devhost.runtime_worker`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web

# The ABCs behind `func.Context`'s properties are not re-exported; the worker imports them from here too.
from azure.functions import _abc
from azure.functions.timer import TimerRequest
from multidict import CIMultiDict

from devhost.errors import InvocationError, UnsupportedBinding
from devhost.loader import IndexedFunction
from devhost.worker_calls import Bytes, HttpRequestData, HttpResponseData, Json, Text, WorkerValue

ClientPayloadFactory = Callable[[Mapping[str, Any]], str]
"""Given a `durableClient` binding dict, the client payload JSON for it (see `client_binding`)."""

_DURABLE_TRIGGERS = frozenset({"orchestrationTrigger", "activityTrigger", "entityTrigger"})


class TraceContext(_abc.TraceContext):
    """Empty distributed-tracing context: devhost does no tracing."""

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RpcException(_abc.RpcException):
    @property
    def source(self) -> str:
        return ""

    @property
    def stack_trace(self) -> str:
        return ""

    @property
    def message(self) -> str:
        return ""


class RetryContext(_abc.RetryContext):
    """No retry policy: devhost invokes each non-durable function once."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> _RpcException:
        return _RpcException()


class InvocationContext(func.Context):
    """The `context` argument: what `azure.functions.Context` offers, for one invocation."""

    def __init__(self, function_name: str, function_directory: str, invocation_id: str | None = None) -> None:
        self._invocation_id = invocation_id or str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local_storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return TraceContext()

    @property
    def retry_context(self) -> RetryContext:
        return RetryContext()


def _wants_context(fn: IndexedFunction) -> bool:
    try:
        parameters = inspect.signature(fn.func).parameters
    except (TypeError, ValueError):
        return False
    bound = {str(b.get("name")) for b in fn.bindings}
    return "context" in parameters and "context" not in bound


def _binding_values(
    fn: IndexedFunction, trigger_value: Any, client_payload: ClientPayloadFactory | None, client: Callable[[str], Any]
) -> dict[str, Any]:
    """A value for each binding the host fills in: the trigger's, and the durable client's payload (wrapped by
    `client`); any other binding is one devhost does not provide."""
    values: dict[str, Any] = {}
    for binding in fn.bindings:
        name = str(binding.get("name"))
        kind = str(binding.get("type"))
        if binding is fn.trigger or (kind == fn.trigger_type and name == fn.trigger.get("name")):
            values[name] = trigger_value
        elif name == "$return":
            continue  # the return value is the output; nothing to pass in
        elif kind == "durableClient":
            if client_payload is None:
                raise InvocationError(
                    f"function '{fn.name}' has a durable client binding, but no client "
                    "payload was supplied for this invocation"
                )
            values[name] = client(client_payload(binding))
        else:
            direction = str(binding.get("direction", "IN")).lower()
            raise UnsupportedBinding(
                f"function '{fn.name}' uses a '{kind}' {direction} binding named '{name}', which devhost "
                "does not provide; read or write that service from the function body instead"
            )
    return values


def build_kwargs(
    fn: IndexedFunction,
    trigger_value: Any,
    *,
    client_payload: ClientPayloadFactory | None,
    function_directory: str = "",
) -> dict[str, Any]:
    """The keyword arguments the worker would pass to `fn` for one invocation."""
    kwargs = _binding_values(fn, trigger_value, client_payload, str)
    if _wants_context(fn):
        kwargs["context"] = InvocationContext(fn.name, _directory_of(fn.func) or function_directory)
    return kwargs


def _directory_of(function: Any) -> str | None:
    """The folder of the file that defines what the worker calls, which the worker gives as the context's
    function directory (for a durable client function, the SDK's wrapper: the worker does not unwrap it)."""
    try:
        return str(Path(inspect.getfile(function)).parent)
    except (TypeError, OSError):
        return None


def worker_inputs(
    fn: IndexedFunction, trigger_value: WorkerValue, *, client_payload: ClientPayloadFactory | None
) -> dict[str, WorkerValue]:
    """The input data the host sends the worker for one invocation, by binding name: the trigger's value and the
    durable client binding's payload as a string."""
    return _binding_values(fn, trigger_value, client_payload, Text)


async def call_function(fn: IndexedFunction, kwargs: Mapping[str, Any], *, executor: Executor | None = None) -> Any:
    """Call `fn` with `kwargs`: awaited on this loop when async, in `executor` (or the loop's default
    thread pool) when not."""
    if fn.is_async:
        return await fn.func(**kwargs)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(executor, functools.partial(fn.func, **kwargs))
    if inspect.isawaitable(result):
        # A plain `def` wrapping a coroutine function: the worker awaits what it returns as well.
        return await result
    return result


async def invoke(
    fn: IndexedFunction,
    trigger_value: Any,
    *,
    client_payload: ClientPayloadFactory | None = None,
    executor: Executor | None = None,
    function_directory: str = "",
) -> Any:
    """Invoke a non-durable function with its trigger value; returns what the function returned."""
    if fn.trigger_type in _DURABLE_TRIGGERS:
        raise InvocationError(f"function '{fn.name}' is an {fn.trigger_type} function; the engine runs it")
    kwargs = build_kwargs(fn, trigger_value, client_payload=client_payload, function_directory=function_directory)
    result = await call_function(fn, kwargs, executor=executor)
    if result is not None and not any(b.get("name") == "$return" for b in fn.bindings):
        # The worker's check, and its words (the text of the RuntimeError it raises, arguments and all).
        problem = RuntimeError("function %s without a $return bindingreturned a non-None value", repr(fn.name))
        raise InvocationError(str(problem))
    return result


def _joined(values: Mapping[str, str] | Any) -> dict[str, str]:
    """Collapse a multi-dict to one value per key (comma-joined, as the host passes repeated values)."""
    merged: dict[str, str] = {}
    for key, value in values.items():
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    return merged


def to_func_request(request: web.Request, body: bytes, route_params: Mapping[str, str]) -> func.HttpRequest:
    """The `func.HttpRequest` the worker would build for an aiohttp request."""
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        lowered = key.lower()
        headers[lowered] = f"{headers[lowered]}, {value}" if lowered in headers else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=_joined(request.query),
        route_params=dict(route_params),
        body=body,
    )


def _not_encodable(result: Any) -> InvocationError:
    # The worker library's words for a return value the `http` converter cannot encode.
    return InvocationError(
        f'unable to encode outgoing TypedData: unsupported type "http" for Python type "{type(result).__name__}"'
    )


def to_web_response(result: Any, function_name: str) -> web.Response:
    """The aiohttp response for what an HTTP function returned, as the worker's `$return` converter does: an
    HttpResponse or a str; anything else (None too) fails the invocation, as in Azure."""
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="text/plain", charset="utf-8")
    if not isinstance(result, func.HttpResponse):
        raise _not_encodable(result)
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in result.headers.items():
        headers.add(key, value)
    if "content-type" not in headers:
        mimetype = result.mimetype
        headers["Content-Type"] = f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype
    return web.Response(status=result.status_code, body=result.get_body(), headers=headers)


def worker_web_response(result: WorkerValue | None) -> web.Response:
    """The aiohttp response for what the worker library encoded an HTTP function's return value as."""
    if isinstance(result, HttpResponseData):
        headers: CIMultiDict[str] = CIMultiDict()
        for key, value in result.headers:
            headers.add(key, value)
        return web.Response(status=result.status, body=result.body, headers=headers)
    if isinstance(result, Text):
        return web.Response(status=200, text=result.text, content_type="text/plain", charset="utf-8")
    if isinstance(result, Json):
        return web.Response(status=200, text=result.text, content_type="application/json")
    if isinstance(result, Bytes):
        return web.Response(status=200, body=result.data, content_type="application/octet-stream")
    raise _not_encodable(result)


def http_request_data(request: web.Request, body: bytes, route_params: Mapping[str, str]) -> HttpRequestData:
    """The HTTP trigger's value as the host sends it to a worker."""
    converted = to_func_request(request, body, route_params)
    return HttpRequestData(
        method=converted.method,
        url=converted.url,
        headers=dict(converted.headers),
        query=dict(converted.params),
        route_params=dict(route_params),
        body=body,
    )


def timer_data(past_due: bool, schedule_status: Mapping[str, Any] | None) -> Json:
    """The timer trigger's value as the host sends it: its schedule status and whether it is past due."""
    status = dict(schedule_status or {})
    return Json(json.dumps({"Schedule": {"AdjustForDST": True}, "ScheduleStatus": status, "IsPastDue": past_due}))


async def invoke_http(
    fn: IndexedFunction,
    request: web.Request,
    route_params: Mapping[str, str],
    *,
    client_payload: ClientPayloadFactory | None = None,
    executor: Executor | None = None,
    function_directory: str = "",
) -> web.Response:
    """Run an HTTP-triggered function for an aiohttp request and convert its result."""
    body = await request.read()
    if fn.worker is not None:
        data = http_request_data(request, body, route_params)
        return worker_web_response(await fn.worker.call(worker_inputs(fn, data, client_payload=client_payload)))
    result = await invoke(
        fn,
        to_func_request(request, body, route_params),
        client_payload=client_payload,
        executor=executor,
        function_directory=function_directory,
    )
    return to_web_response(result, fn.name)


async def invoke_timer(
    fn: IndexedFunction,
    *,
    past_due: bool = False,
    schedule_status: Mapping[str, Any] | None = None,
    client_payload: ClientPayloadFactory | None = None,
    executor: Executor | None = None,
    function_directory: str = "",
) -> Any:
    """Run a timer-triggered function once, with the `TimerRequest` the worker would pass."""
    if fn.worker is not None:
        data = timer_data(past_due, schedule_status)
        return await fn.worker.call(worker_inputs(fn, data, client_payload=client_payload))
    timer = TimerRequest(past_due=past_due, schedule_status=dict(schedule_status or {}))
    return await invoke(
        fn, timer, client_payload=client_payload, executor=executor, function_directory=function_directory
    )
