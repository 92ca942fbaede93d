"""The host's side of the language worker protocol, spoken in-process to `azure-functions-runtime` (Python 3.13).

On 3.13 Azure runs the app's functions through this library: the Python worker only forwards the host's
protocol messages to its handlers (worker init, function metadata, function load, invocation, environment
reload) together with its own message classes. devhost does what that worker and the host do together: it
sends the same requests, with the message classes of `devhost.worker_protocol` (see the comment in its .proto
for why the project keeps them), and reads the answers. The library then imports and indexes the app, checks
each function's parameters against its bindings, decodes every input with the binding converters, calls the
function on its own thread pool or the caller's loop, and encodes the result: all of that is Azure's own code.

The library keeps its state in module globals (the indexed functions, the message classes), so there is one
`RuntimeWorker` a process, as there is one worker library a worker process. Init, metadata and load requests run
on a private event loop thread, so the host can send them from any thread. Invocations from the host's event loop
(HTTP and timer functions, async activities) run on it, the one long-lived loop the SDK's client keeps its session
on; a thread of devhost's that waits for an invocation (an activity thread, the engine's thread) runs it on a
loop of its own, and the sync function on itself (`_CallerThreadExecutor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import azure_functions_runtime as runtime
import azure_functions_runtime.utils.threadpool as runtime_threadpool
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext

from devhost.errors import AppLoadError, InvocationError
from devhost.loader import FunctionIndex, IndexedFunction, indexed_function
from devhost.worker_calls import (
    Bytes,
    ContextHook,
    FunctionFailed,
    HttpRequestData,
    HttpResponseData,
    Json,
    Text,
    WorkerValue,
)
from devhost.worker_protocol import functions_rpc_pb2 as protos

T = TypeVar("T")
HOST_VERSION = "4.0.0-devhost"
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
# What the Functions host announces to Python workers: bodies as bytes, typed collections.
HOST_CAPABILITIES = {"RawHttpBodyBytes": "true", "TypedDataCollection": "true", "RpcHttpBodyOnly": "true"}

_hooks: dict[str, ContextHook] = {}
"""Orchestration context hooks by invocation id (see `_install_context_hook`)."""

_caller = threading.local()
"""Per thread: whether it waits for an invocation it made (`call_blocking`), and its event loop for that."""


class _CallerThreadExecutor(ThreadPoolExecutor):
    """The library's pool for sync functions, which runs one on the thread that waits for it when that thread is
    devhost's own (`call_blocking`: an activity thread, the engine's thread), and on the pool otherwise.

    A thread that only waits gains nothing from handing the call to another: each hand-off is a wake-up across
    threads, and three of them per call made a fan-out of no-op activities three times slower than devhost's own
    path. The function still runs the way the library runs it (its `run_sync_func`, with the invocation id set),
    off the event loop, on a thread that does nothing else meanwhile. A call from the host's event loop (a sync
    HTTP function, say) goes to the pool, as in Azure.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not getattr(_caller, "waiting", False):
            return super().submit(fn, *args, **kwargs)
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the library reads the failure from the future, as from the pool's
            done.set_exception(exc)
        return done


class _ThreadLoop:
    """A thread's own event loop for the library's coroutines, closed when the thread ends and drops it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        self.loop.close()


class _WorkerRequest:
    """What the library's handlers read: the host's message and, for init and reload, the message classes."""

    def __init__(self, name: str, message: Any, properties: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.request = message
        self.properties = dict(properties or {})


def _install_context_hook() -> None:
    """Let devhost watch an orchestrator invocation's context.

    devhost applies every completion that arrived in one episode, so it must see which sequence numbers the SDK
    hands out while it replays (reference §2.4, strategy A); that needs the `DurableOrchestrationContext` the SDK
    builds inside the orchestrator function the library calls. The SDK builds it with
    `DurableOrchestrationContext.from_json`; this wraps that class method once, and the wrapper gives the context
    to the hook registered for the invocation the library is running on this thread (it sets `invocation_id_cv`
    there). Without a hook, the SDK's own method runs unchanged.
    """
    current = DurableOrchestrationContext.__dict__["from_json"]
    if getattr(current.__func__, "_devhost_hook", False):
        return
    original = current.__func__

    def from_json(cls: type, json_string: str) -> Any:
        context = original(cls, json_string)
        hook = _hooks.get(runtime.invocation_id_cv.get() or "")
        if hook is not None:
            hook(context)
        return context

    from_json._devhost_hook = True  # type: ignore[attr-defined]
    DurableOrchestrationContext.from_json = classmethod(from_json)


@contextlib.contextmanager
def _app_setting(name: str, value: str | None) -> Iterator[None]:
    """An app setting the library reads from the environment while a request runs, as the host passes settings
    to its worker; left as it was when `value` is None or the user set it."""
    if value is None or name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _where(stack_trace: str, root: Path) -> tuple[str | None, int | None]:
    """The innermost frame of the worker's traceback inside the app's own files."""
    found: tuple[str | None, int | None] = (None, None)
    for file, line in re.findall(r'File "([^"]+)", line (\d+)', stack_trace):
        path = Path(file)
        if "site-packages" not in path.parts and path.resolve().is_relative_to(root):
            found = (file, int(line))
    return found


def _typed(value: WorkerValue) -> Any:
    """The protocol's TypedData for a value devhost sends."""
    if isinstance(value, Json):
        return protos.TypedData(json=value.text)
    if isinstance(value, Text):
        return protos.TypedData(string=value.text)
    if isinstance(value, Bytes):
        return protos.TypedData(bytes=value.data)
    if isinstance(value, HttpRequestData):
        return protos.TypedData(
            http=protos.RpcHttp(
                method=value.method,
                url=value.url,
                headers=dict(value.headers),
                query=dict(value.query),
                params=dict(value.route_params),
                body=protos.TypedData(bytes=value.body),
            )
        )
    if isinstance(value, bool | int):
        return protos.TypedData(int=int(value))
    if isinstance(value, float):
        return protos.TypedData(double=value)
    raise TypeError(f"devhost cannot send a {type(value).__name__} to the worker")


def _cookie_header(cookie: Any) -> str:
    """A Set-Cookie header for one of the protocol's cookies, as the host writes it."""
    parts = [f"{cookie.name}={cookie.value}"]
    # The library sends an attribute the cookie did not set as an empty string, not as a missing value.
    if cookie.HasField("domain") and cookie.domain.value:
        parts.append(f"Domain={cookie.domain.value}")
    if cookie.HasField("path") and cookie.path.value:
        parts.append(f"Path={cookie.path.value}")
    if cookie.HasField("expires"):
        parts.append(f"Expires={cookie.expires.value.ToDatetime():%a, %d %b %Y %H:%M:%S GMT}")
    if cookie.HasField("max_age"):
        parts.append(f"Max-Age={int(cookie.max_age.value)}")
    if cookie.HasField("secure") and cookie.secure.value:
        parts.append("Secure")
    if cookie.HasField("http_only") and cookie.http_only.value:
        parts.append("HttpOnly")
    same_site = {1: "Lax", 2: "Strict", 3: "None"}.get(int(cookie.same_site))
    if same_site:
        parts.append(f"SameSite={same_site}")
    return "; ".join(parts)


def _value(data: Any) -> WorkerValue | None:
    """What devhost makes of a TypedData the worker returned."""
    kind = data.WhichOneof("data")
    if kind is None:
        return None
    if kind == "json":
        return Json(data.json)
    if kind == "string":
        return Text(data.string)
    if kind == "bytes":
        return Bytes(data.bytes)
    if kind == "int":
        return int(data.int)
    if kind == "double":
        return float(data.double)
    if kind == "http":
        http = data.http
        body = _value(http.body)
        raw = body.data if isinstance(body, Bytes) else body.text.encode() if isinstance(body, Json | Text) else b""
        headers = list(http.headers.items()) + [("Set-Cookie", _cookie_header(c)) for c in http.cookies]
        return HttpResponseData(int(http.status_code or 200), headers, raw)
    raise FunctionFailed(f"devhost cannot read a '{kind}' value from the worker", "")


def _failure(result: Any) -> FunctionFailed | None:
    if result.status == protos.StatusResult.Success:
        return None
    return FunctionFailed(result.exception.message or "the worker reported a failure", result.exception.stack_trace)


class RuntimeWorker:
    """The worker library of this process, driven as the Functions host drives a Python worker."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        # A daemon thread: the library's requests wait on it from any thread, and it ends with the process.
        threading.Thread(target=self._loop.run_forever, name="devhost-runtime-worker", daemon=True).start()
        _install_context_hook()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a request on the worker's loop and wait for its answer."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def index(self, root: Path, script_file: str, *, threads: int | None = None) -> FunctionIndex:
        """Init the worker for the app under `root` (it imports and indexes it), then ask for the functions'
        metadata and load each one. Raises AppLoadError with the worker's message when indexing fails."""
        path = root / script_file
        if not path.is_file():
            raise AppLoadError(
                f"no {script_file} in {root}; create it, or set PYTHON_SCRIPT_FILE_NAME to the app's file",
                file=path,
            )
        # The worker imports the app by module name from the script root: a module of that name left by an
        # earlier app in this process must not stand in for this one (its functions can be indexed only once).
        if str(root) in sys.path:
            sys.path.remove(str(root))
        sys.path.insert(0, str(root))
        sys.modules.pop(Path(script_file).stem, None)
        init = protos.StreamingMessage(
            request_id=str(uuid.uuid4()),
            worker_init_request=protos.WorkerInitRequest(
                host_version=HOST_VERSION, capabilities=HOST_CAPABILITIES, function_app_directory=str(root)
            ),
        )
        properties = {"protos": protos, "host": "127.0.0.1"}
        with _app_setting(SCRIPT_FILE_SETTING, script_file), _app_setting(THREAD_COUNT_SETTING, _count(threads)):
            runtime.start_threadpool_executor()
            _use_caller_threads()
            answer = self.run(runtime.worker_init_request(_WorkerRequest("WorkerInitRequest", init, properties)))
        failed = _failure(answer.result)
        if failed is not None:
            sys.modules.pop(Path(script_file).stem, None)
            file, line = _where(failed.stack_trace, root)
            message = "the function app could not be indexed"
            raise AppLoadError(message, file=file or path, line=line, cause=failed.message)
        metadata_request = protos.StreamingMessage(
            functions_metadata_request=protos.FunctionsMetadataRequest(function_app_directory=str(root))
        )
        metadata = self.run(
            runtime.functions_metadata_request(_WorkerRequest("WorkerMetadataRequest", metadata_request))
        )
        functions: list[IndexedFunction] = []
        for entry in metadata.function_metadata_results:
            load = protos.StreamingMessage(
                function_load_request=protos.FunctionLoadRequest(function_id=entry.function_id, metadata=entry)
            )
            loaded = self.run(runtime.function_load_request(_WorkerRequest("FunctionLoadRequest", load)))
            problem = _failure(loaded.result)
            if problem is not None:
                raise AppLoadError(f"function '{entry.name}' could not be loaded", file=path, cause=problem.message)
            functions.append(self._indexed(entry))
        return FunctionIndex(functions, source=str(path))

    def _indexed(self, entry: Any) -> IndexedFunction:
        bindings = [json.loads(text) for text in entry.raw_bindings]
        info = _loaded(str(entry.function_id))
        return indexed_function(
            str(entry.name),
            bindings,
            info.func,
            is_async=bool(info.is_async),
            worker=RuntimeFunction(self, str(entry.function_id), str(entry.name), info),
        )


def _loaded(function_id: str) -> Any:
    """The library's record of a loaded function. The protocol tells the host nothing of how a function is
    written; devhost reads the record for whether it is async (where a sync activity runs is devhost's choice)
    and to know that the function is still the one it indexed."""
    return runtime.handle_event._functions.get_function(function_id)


def _use_caller_threads() -> None:
    """Replace the pool the library just started by one of the same size that lets waiting callers run their own
    sync functions (`_CallerThreadExecutor`). The library keeps its pool in a module global and reads it for each
    invocation; there is no public way to hand it one."""
    started = runtime.get_threadpool_executor()
    size = started._max_workers if started is not None else None
    if started is not None:
        started.shutdown(wait=False)
    runtime_threadpool._threadpool_executor = _CallerThreadExecutor(max_workers=size)


def _count(threads: int | None) -> str | None:
    return None if threads is None else str(max(1, threads))


class RuntimeFunction:
    """One function the worker library loaded: invocations go to it as InvocationRequests."""

    def __init__(self, worker: RuntimeWorker, function_id: str, name: str, loaded: Any) -> None:
        self._worker = worker
        self.function_id = function_id
        self.name = name
        self._loaded = loaded

    def _request(self, invocation_id: str, inputs: Mapping[str, WorkerValue]) -> _WorkerRequest:
        message = protos.StreamingMessage(
            request_id=invocation_id,
            invocation_request=protos.InvocationRequest(
                invocation_id=invocation_id,
                function_id=self.function_id,
                input_data=[protos.ParameterBinding(name=name, data=_typed(value)) for name, value in inputs.items()],
            ),
        )
        return _WorkerRequest("FunctionInvocationRequest", message)

    async def _call(self, invocation_id: str, inputs: Mapping[str, WorkerValue]) -> WorkerValue | None:
        if _loaded(self.function_id) is not self._loaded:
            # The library keys functions by name: a function of the same name in an app indexed since (another
            # host in this process) has taken this one's place, and would run instead of it.
            raise InvocationError(
                f"function '{self.name}' is no longer loaded: the worker library holds one app a process, and "
                "another app was indexed in this process since; run each app in a process of its own"
            )
        response = await runtime.invocation_request(self._request(invocation_id, inputs))
        failed = _failure(response.result)
        if failed is not None:
            raise failed
        return _value(response.return_value) if response.HasField("return_value") else None

    async def call(self, inputs: Mapping[str, WorkerValue]) -> WorkerValue | None:
        return await self._call(str(uuid.uuid4()), inputs)

    def call_blocking(
        self, inputs: Mapping[str, WorkerValue], *, context_hook: ContextHook | None = None
    ) -> WorkerValue | None:
        invocation_id = str(uuid.uuid4())
        if context_hook is not None:
            _hooks[invocation_id] = context_hook
        # The request runs on this thread's own loop, and a sync function on this thread (`_CallerThreadExecutor`).
        own = getattr(_caller, "loop", None)
        if own is None:
            own = _caller.loop = _ThreadLoop()
        _caller.waiting = True
        try:
            return own.loop.run_until_complete(self._call(invocation_id, inputs))
        finally:
            _caller.waiting = False
            _hooks.pop(invocation_id, None)


_process_worker: RuntimeWorker | None = None
_lock = threading.Lock()


def process_worker() -> RuntimeWorker:
    """This process's worker (the library holds one app's functions a process)."""
    global _process_worker
    with _lock:
        if _process_worker is None:
            _process_worker = RuntimeWorker()
        return _process_worker
