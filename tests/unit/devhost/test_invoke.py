"""Invoking non-durable functions the way the worker does."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from devhost.client_binding import client_payload
from devhost.errors import InvocationError, UnsupportedBinding
from devhost.invoke import build_kwargs, invoke, to_web_response
from devhost.loader import FunctionIndex, IndexedFunction, load_app

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def index() -> FunctionIndex:
    return load_app(Path(__file__).resolve().parents[2] / "apps" / "devhost_http")


def function(index: FunctionIndex, name: str) -> IndexedFunction:
    found = index.get(name)
    assert found is not None
    return found


def test_context_is_passed_only_when_declared(index: FunctionIndex) -> None:
    request = func.HttpRequest("GET", "http://x/api/echo/a", body=b"")
    kwargs = build_kwargs(function(index, "echo"), request, client_payload=None, function_directory="/app")
    assert set(kwargs) == {"req", "context"}
    context = kwargs["context"]
    assert isinstance(context, func.Context)
    # The worker gives the folder of the function's file, whatever the host passes.
    folder = str(Path(__file__).resolve().parents[2] / "apps" / "devhost_http")
    assert (context.function_name, context.function_directory) == ("echo", folder)
    assert set(build_kwargs(function(index, "created"), request, client_payload=None)) == {"req"}


def test_durable_client_payload_is_the_json_string(index: FunctionIndex) -> None:
    def payload(binding: Any) -> str:
        return client_payload("http://h/runtime/webhooks/durabletask", "http://h/durabletask/", "Hub", binding)

    fn = function(index, "http_start")
    kwargs = build_kwargs(fn, None, client_payload=payload)
    assert json.loads(kwargs["client"])["rpcBaseUrl"] == "http://h/durabletask/"
    with pytest.raises(InvocationError, match="no client payload"):
        build_kwargs(fn, None, client_payload=None)


def test_unsupported_binding_is_named() -> None:
    fn = IndexedFunction(
        name="writer",
        durable_name="writer",
        trigger_type="httpTrigger",
        trigger={"type": "httpTrigger", "name": "req"},
        bindings=[{"type": "httpTrigger", "name": "req"}, {"type": "blob", "name": "out", "direction": "OUT"}],
        func=lambda req, out: None,
        is_async=False,
    )
    with pytest.raises(UnsupportedBinding, match="'blob' out binding named 'out'"):
        build_kwargs(fn, None, client_payload=None)


def test_sync_functions_run_off_the_loop_thread_and_durable_triggers_are_refused(index: FunctionIndex) -> None:
    seen: list[str] = []

    def handler(req: func.HttpRequest) -> str:
        seen.append(threading.current_thread().name)
        return "ok"

    fn = IndexedFunction(
        "sync",
        "sync",
        "httpTrigger",
        {"type": "httpTrigger", "name": "req"},
        [{"type": "httpTrigger", "name": "req"}, {"type": "http", "name": "$return", "direction": "OUT"}],
        handler,
        False,
    )

    async def main() -> None:
        assert await invoke(fn, None) == "ok"
        with pytest.raises(InvocationError, match="the engine runs it"):
            await invoke(function(index, "hello"), "x")

    asyncio.run(main())
    assert seen and seen[0] != threading.main_thread().name


def test_response_conversion() -> None:
    response = to_web_response(func.HttpResponse("hi", status_code=418, headers={"X-A": "1"}), "f")
    assert (response.status, response.headers["Content-Type"], response.body) == (
        418,
        "text/plain; charset=utf-8",
        b"hi",
    )
    explicit = to_web_response(func.HttpResponse(b"{}", headers={"Content-Type": "application/problem+json"}), "f")
    assert explicit.headers["Content-Type"] == "application/problem+json"
    with pytest.raises(InvocationError, match='Python type "NoneType"'):
        to_web_response(None, "f")
    with pytest.raises(InvocationError, match='Python type "bytes"'):
        to_web_response(b"bytes", "f")
