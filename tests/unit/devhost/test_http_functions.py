"""The app's HTTP triggers served over real HTTP: routing, conversion, errors, keys, durable client functions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost.client_binding import client_payload
from devhost.config import HostConfig, load_config
from devhost.http import KeySet, build_http_app
from devhost.invoke import invoke_timer
from devhost.loader import FunctionIndex, load_app

pytestmark = pytest.mark.unit
APPS = Path(__file__).resolve().parents[2] / "apps"

Check = Callable[[aiohttp.ClientSession, str], Awaitable[None]]


@pytest.fixture(scope="module")
def index() -> FunctionIndex:
    return load_app(Path(__file__).resolve().parents[2] / "apps" / "devhost_http")


@pytest.fixture
def config(index: FunctionIndex, apps_dir: Path) -> HostConfig:
    return load_config(apps_dir / "devhost_http", {})


async def fetch(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """Status, body (parsed when JSON, else text) and the response."""
    async with session.request(method, url, **kwargs) as response:
        text = await response.text()
        body: Any = text
        if response.content_type == "application/json" and text:
            body = json.loads(text)
        return response.status, body, response


def run_with_server(loop_runner: Any, serve: Any, app: Any, check: Check) -> None:
    async def main() -> None:
        async with serve(app) as origin, aiohttp.ClientSession() as session:
            await check(session, origin)

    loop_runner.run(main())


def test_request_conversion_and_context(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    app = build_http_app(index, config, fake_management([]))

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        status, body, _ = await fetch(
            session, "POST", f"{origin}/api/echo/Wor%20ld?a=1&a=2&b=x", data=b"payload", headers={"X-Test": "yes"}
        )
        assert status == 200
        assert body["method"] == "POST" and body["url"] == f"{origin}/api/echo/Wor%20ld?a=1&a=2&b=x"
        assert body["params"] == {"a": "1,2", "b": "x"}
        assert body["route"] == {"name": "Wor ld"}
        assert (body["header"], body["body"]) == ("yes", "payload")
        assert body["function"] == "echo" and body["invocation"] is True
        # The worker's context: the folder of the function's file, no retry, no trace from a plain request.
        assert (body["directory"], body["retry"], body["trace"]) == (str(APPS / "devhost_http"), [0, 0], "")
        status, text, response = await fetch(session, "GET", f"{origin}/api/async/x")
        assert (status, text) == (200, "async x")
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"

    run_with_server(loop_runner, serve, app, check)


def test_routing_rules(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    app = build_http_app(index, config, fake_management([]))

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        expected = {
            "/api/items/12": "int 12",
            "/api/items/abc": "alpha abc",
            "/API/Items/6f1a4b3e-2d2c-4a4e-9f0e-0b1d2c3e4f5a": "guid 6f1a4b3e-2d2c-4a4e-9f0e-0b1d2c3e4f5a",
            "/api/opt/1": '{"a": "1"}',
            "/api/opt/1/2/": '{"a": "1", "b": "2"}',
            "/api/DefaultRoute": "default",
        }
        for path, text in expected.items():
            status, body, _ = await fetch(session, "GET", origin + path)
            assert (status, body) == (200, text), path
        status, body, _ = await fetch(session, "PUT", f"{origin}/api/mixed/CASE")
        assert (status, body) == (200, "mixed")
        status, body, response = await fetch(session, "GET", f"{origin}/api/mixed/case")
        assert status == 405 and response.headers["Allow"] == "PUT" and "PUT" in body["error"]["message"]
        assert body["error"]["code"] == "methodNotAllowed"
        for path in ("/api/items/1.5", "/api/nowhere", "/items/12", "/"):
            status, body, _ = await fetch(session, "GET", origin + path)
            assert status == 404 and body["error"]["code"] == "notFound" and "matches" in body["error"]["message"], path

    run_with_server(loop_runner, serve, app, check)


def test_responses_and_failures(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    app = build_http_app(index, config, fake_management([]))

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        status, body, response = await fetch(session, "GET", f"{origin}/api/created")
        assert (status, body) == (201, {"ok": True})
        assert response.headers["X-One"] == "1" and response.content_type == "application/json"
        assert response.headers.getall("Set-Cookie") == [
            "session=abc; Path=/; HttpOnly",
            "theme=dark; Max-Age=60; Secure; SameSite=Lax",
        ]
        status, body, _ = await fetch(session, "GET", f"{origin}/api/boom")
        assert status == 500
        assert (body["ExceptionMessage"], body["ExceptionType"]) == ("kaboom", "builtins.ValueError")
        # What the worker's `http` converter says of a return value it cannot encode, None included.
        for path, kind in (("wrongtype", "dict"), ("nothing", "NoneType")):
            status, body, _ = await fetch(session, "GET", f"{origin}/api/{path}")
            expected = f'unable to encode outgoing TypedData: unsupported type "http" for Python type "{kind}"'
            assert (status, body["ExceptionMessage"]) == (500, expected), path
        status, _, _ = await fetch(session, "GET", f"{origin}/api/items/1")  # still serving
        assert status == 200

    run_with_server(loop_runner, serve, app, check)


def test_route_prefix_from_host_json(
    loop_runner: Any, serve: Any, index: FunctionIndex, tmp_path: Path, fake_management: Any
) -> None:
    (tmp_path / "host.json").write_text('{"extensions": {"http": {"routePrefix": ""}}}', encoding="utf-8")
    app = build_http_app(index, load_config(tmp_path, {}), fake_management([]))

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        assert (await fetch(session, "GET", f"{origin}/items/3"))[:2] == (200, "int 3")
        assert (await fetch(session, "GET", f"{origin}/api/items/3"))[0] == 404

    run_with_server(loop_runner, serve, app, check)


def test_keys(loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any) -> None:
    keys = KeySet.generate()
    app = build_http_app(index, config, fake_management(["hello_orchestrator"]), keys=keys)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        async def status_of(path: str, **kwargs: Any) -> int:
            return (await fetch(session, "GET", origin + path, **kwargs))[0]

        assert await status_of("/api/items/1") == 200  # anonymous
        assert await status_of("/api/secret") == 401
        assert await status_of("/api/secret?code=wrong") == 401
        assert await status_of(f"/api/secret?code={keys.function_key}") == 200
        assert await status_of("/api/secret", headers={"x-functions-key": keys.master_key}) == 200
        assert await status_of(f"/api/adminonly?code={keys.function_key}") == 401
        assert await status_of(f"/api/adminonly?code={keys.master_key}") == 200
        assert await status_of("/admin/host/status") == 401
        assert await status_of(f"/admin/host/status?code={keys.master_key}") == 200
        # Webhooks and the SDK's RPC base take the system key; the RPC base also takes the binding's secret.
        assert await status_of("/runtime/webhooks/durabletask/instances/x") == 401
        assert await status_of(f"/runtime/webhooks/durabletask/instances/x?code={keys.system_key}") == 404
        assert await status_of("/durabletask/instances/x") == 401
        assert await status_of(f"/durabletask/instances/x?code={keys.system_key}") == 404
        # The anonymous starter's client still works (its rpcBaseUrl carries the secret), but the check-status
        # URLs it answers with carry no key: its caller presented none.
        status, body, _ = await fetch(session, "POST", f"{origin}/api/start/hello_orchestrator")
        assert status == 202 and "code=" not in json.dumps(body)
        assert (await fetch(session, "GET", body["statusQueryGetUri"]))[0] == 401
        # A caller who presented the system key gets URLs that carry it, so they work as handed out.
        status, body, _ = await fetch(session, "POST", f"{origin}/api/start/hello_orchestrator?code={keys.system_key}")
        assert status == 202 and f"code={keys.system_key}" in body["statusQueryGetUri"]
        assert (await fetch(session, "GET", body["statusQueryGetUri"]))[0] == 202

    run_with_server(loop_runner, serve, app, check)


def test_durable_client_function(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    management = fake_management(["hello_orchestrator"])
    app = build_http_app(index, config, management)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        status, body, response = await fetch(
            session, "POST", f"{origin}/api/start/Hello_Orchestrator/job-1", json={"n": 3}
        )
        assert status == 202 and body["id"] == "job-1"
        assert response.headers["Location"] == body["statusQueryGetUri"]
        assert body["statusQueryGetUri"] == (
            f"{origin}/runtime/webhooks/durabletask/instances/job-1?taskHub=TestHubName&connection=Storage"
        )
        # The SDK sends df_dumps(input) as a JSON string, so the stored input is a string (protocol 2.12).
        stored = json.dumps(json.dumps({"n": 3}))
        assert management.calls[0] == ("start_new", ("Hello_Orchestrator", "job-1", stored))
        status, body, _ = await fetch(session, "GET", f"{origin}/api/status/job-1")
        assert (status, body) == (200, '{"runtimeStatus": "Pending"}')
        management.finish("job-1", output="done")
        status, body, _ = await fetch(session, "GET", f"{origin}/api/status/job-1")
        assert body == '{"runtimeStatus": "Completed"}'
        # An unknown orchestrator: the SDK raises the extension's message inside the function, which fails.
        status, body, _ = await fetch(session, "POST", f"{origin}/api/start/nope")
        assert status == 500 and "doesn't exist" in body["ExceptionMessage"]

    run_with_server(loop_runner, serve, app, check)


def test_timer_function_with_durable_client(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    management = fake_management(["hello_orchestrator"])
    app = build_http_app(index, config, management)
    (timer,) = index.timer_functions

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        def payload(binding: Any) -> str:
            return client_payload(
                f"{origin}/runtime/webhooks/durabletask", f"{origin}/durabletask/", config.hub_name, binding
            )

        assert await invoke_timer(timer, past_due=True, client_payload=payload) is None
        stored = json.dumps(json.dumps({"pastDue": True}))
        assert management.calls == [("start_new", ("hello_orchestrator", None, stored))]

    run_with_server(loop_runner, serve, app, check)
