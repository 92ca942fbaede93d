"""devhost's own error answers over real HTTP: the documented JSON shape everywhere, and a 4xx (never a 5xx)
for every malformed request to the management API and the admin routes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost.clock import ManualClock
from devhost.config import HostConfig, load_config
from devhost.http import build_http_app
from devhost.loader import FunctionIndex, load_app

pytestmark = pytest.mark.unit

BASES = ["/durabletask", "/runtime/webhooks/durabletask"]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def index() -> FunctionIndex:
    return load_app(Path(__file__).resolve().parents[2] / "apps" / "devhost_http")


@pytest.fixture
def config(apps_dir: Path) -> HostConfig:
    return load_config(apps_dir / "devhost_http", {})


def assert_error_shape(status: int, text: str, content_type: str, code: str | None = None) -> dict[str, Any]:
    assert content_type == "application/json", (status, text)
    body: dict[str, Any] = json.loads(text)
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)
    assert isinstance(error["details"], list)
    if code is not None:
        assert error["code"] == code, body
    return body


async def raw_request(origin: str, head: bytes) -> tuple[int, str, str]:
    """Send bytes no well-behaved client would (not UTF-8 in a header, ...); status, content type and body."""
    host, port = origin.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + b"Connection: close\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    content_type = next((v for k, _, v in (x.partition(": ") for x in lines[1:]) if k.lower() == "content-type"), "")
    return int(lines[0].split()[1]), content_type.split(";")[0], body.decode()


def run(loop_runner: Any, serve: Any, app: Any, check: Any) -> None:
    async def main() -> None:
        async with serve(app) as origin, aiohttp.ClientSession() as session:
            await check(session, origin)

    loop_runner.run(main())


def test_devhost_errors_have_the_documented_shape(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    app = build_http_app(index, config, fake_management(["hello_orchestrator"]), max_body_bytes=1024)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        cases: list[tuple[str, str, dict[str, Any], int, str]] = [
            ("GET", "/nowhere", {}, 404, "notFound"),
            ("GET", "/api/nowhere", {}, 404, "notFound"),
            ("GET", "/durabletask/nowhere", {}, 404, "notFound"),
            ("GET", "/admin/nowhere", {}, 404, "notFound"),
            ("GET", "/admin/devhost/nowhere", {}, 404, "notFound"),
            ("GET", "/api/mixed/case", {}, 405, "methodNotAllowed"),
            ("PUT", "/durabletask/instances/x", {}, 405, "methodNotAllowed"),
            ("PUT", "/admin/devhost/clock/advance", {}, 405, "methodNotAllowed"),
            ("POST", "/api/echo/x", {"data": b"x" * 2048}, 413, "bodyTooLarge"),
            ("POST", "/durabletask/orchestrators/hello_orchestrator", {"data": b"1" * 2048}, 413, "bodyTooLarge"),
            ("GET", "/api/echo/" + "a" * 9000, {}, 414, "urlTooLong"),
            ("GET", "/durabletask/instances?instanceIdPrefix=" + "a" * 9000, {}, 414, "urlTooLong"),
        ]
        for method, path, kwargs, status, code in cases:
            async with session.request(method, origin + path, **kwargs) as response:
                assert response.status == status, (method, path)
                assert_error_shape(status, await response.text(), response.content_type, code)
        # The management API's errors keep the extension's HttpError fields, which the SDK reads.
        async with session.post(f"{origin}/durabletask/orchestrators/nope") as response:
            body = assert_error_shape(400, await response.text(), response.content_type, "unknownFunction")
            assert "doesn't exist" in body["ExceptionMessage"] and body["Message"]

    run(loop_runner, serve, app, check)


MALFORMED: list[tuple[str, str, dict[str, Any]]] = [
    # Query parameters.
    ("GET", "/instances?top=abc", {}),
    ("GET", "/instances?top=0", {}),
    ("GET", "/instances?top=99999999999999999999999", {}),
    ("GET", "/instances?top=" + "9" * 5000, {}),
    ("GET", "/instances?createdTimeFrom=garbage", {}),
    ("GET", "/instances?createdTimeFrom=0001-01-01T00:00:00%2B05:00", {}),
    ("GET", "/instances?createdTimeTo=9999-12-31T23:59:59-05:00", {}),
    ("GET", "/instances?runtimeStatus=Sleeping", {}),
    ("GET", "/instances/x?showHistory=maybe", {}),
    ("DELETE", "/instances?runtimeStatus=Completed", {}),
    ("POST", "/orchestrators/hello_orchestrator?timeout=nan", {}),
    ("POST", "/orchestrators/hello_orchestrator?timeout=inf", {}),
    ("POST", "/orchestrators/hello_orchestrator?timeout=-1", {}),
    ("POST", "/orchestrators/hello_orchestrator?timeout=1e400", {}),
    ("POST", "/orchestrators/hello_orchestrator?timeout=5&pollingInterval=nan", {}),
    # Bodies.
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"{not json", "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"[" * 5000 + b"]" * 5000, "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"[" * 65 + b"]" * 65, "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"1" * 5000, "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"1e400", "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"NaN", "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b'{"a": -Infinity}', "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b'"\\ud800"', "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b'{"\\udfff": 1}', "headers": JSON}),
    ("POST", "/orchestrators/hello_orchestrator", {"data": b"\xff\xfe", "headers": JSON}),
    ("POST", "/instances/x/raiseEvent/go", {"data": b"1", "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/entities/counter/k?op=add", {"data": b"[" * 5000, "headers": JSON}),
    # Ids and names in the path.
    ("POST", "/orchestrators/hello_orchestrator/a%23b", {}),
    ("POST", "/orchestrators/hello_orchestrator/%40entity", {}),
    ("POST", "/orchestrators/hello_orchestrator/" + "a" * 300, {}),
    ("GET", "/instances/a%00b", {}),
    ("GET", "/instances/a%3Fb", {}),
    ("POST", "/instances/a%0Ab/terminate", {}),
    ("GET", "/entities/counter/k%7F", {}),
    ("POST", "/instances/x/raiseEvent/a%01b", {"json": 1}),
    # Not supported by devhost.
    ("GET", "/entities/counter", {}),
]


@pytest.mark.parametrize("base", BASES)
def test_malformed_management_requests_answer_4xx(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any, base: str
) -> None:
    management = fake_management(["hello_orchestrator"])
    app = build_http_app(index, config, management)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        for method, path, kwargs in MALFORMED:
            async with session.request(method, origin + base + path, **kwargs) as response:
                text = await response.text()
                assert 400 <= response.status < 500, (method, path, response.status, text)
                assert_error_shape(response.status, text, response.content_type)
        # Bytes that are not UTF-8 in a header reach the handler as surrogate escapes.
        head = f"GET {base}/instances HTTP/1.1\r\nHost: x\r\n".encode() + b"x-ms-continuation-token: \xff\r\n"
        status, content_type, text = await raw_request(origin, head)
        assert status == 400
        assert_error_shape(status, text, content_type)
        head = f"POST {base}/orchestrators/hello_orchestrator HTTP/1.1\r\n".encode() + b"Host: \xff\r\n"
        status, content_type, text = await raw_request(origin, head)
        assert status == 400
        assert_error_shape(status, text, content_type)
        # None of the refused starts started anything, and the host still serves.
        assert [c for c in management.calls if c[0] == "start_new"] == []
        async with session.post(f"{origin}{base}/orchestrators/hello_orchestrator", json={"ok": 1}) as response:
            assert response.status == 202

    run(loop_runner, serve, app, check)


def test_a_valid_body_is_stored_as_before(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    management = fake_management(["hello_orchestrator"])
    app = build_http_app(index, config, management)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        deep = b"[" * 64 + b"]" * 64  # the deepest nesting accepted
        for body in (deep, b'{"emoji": "\\ud83d\\ude00", "n": 1.5e300}'):
            url = f"{origin}/durabletask/orchestrators/hello_orchestrator"
            async with session.post(url, data=body, headers=JSON) as response:
                assert response.status == 202
        stored = [c[1][2] for c in management.calls if c[0] == "start_new"]
        assert json.loads(stored[0]) == json.loads(deep)
        assert json.loads(stored[1]) == {"emoji": "\U0001f600", "n": 1.5e300}

    run(loop_runner, serve, app, check)


@pytest.mark.parametrize("seconds", ["nan", "inf", "-inf", "-1", "abc", "", "1e20", "9e12", "1e400", "0x10"])
def test_clock_advance_refuses_what_is_not_a_time_span(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any, seconds: str
) -> None:
    clock = ManualClock()
    app = build_http_app(index, config, fake_management([]), clock=clock)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        before = clock.now()
        async with session.post(f"{origin}/admin/devhost/clock/advance", params={"seconds": seconds}) as response:
            assert response.status == 400
            assert_error_shape(400, await response.text(), response.content_type, "invalidQuery")
        assert clock.now() == before

    run(loop_runner, serve, app, check)


def test_clock_endpoints(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    clock = ManualClock()
    app = build_http_app(index, config, fake_management([]), clock=clock)
    system_clock_app = build_http_app(index, config, fake_management([]))

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        async with session.post(f"{origin}/admin/devhost/clock/advance?seconds=90.5") as response:
            assert response.status == 200 and (await response.json())["now"] == "2030-01-01T00:01:30.500000+00:00"
        async with session.get(f"{origin}/admin/devhost/clock") as response:
            assert (await response.json())["now"] == clock.now().isoformat()
        async with session.get(f"{origin}/admin/devhost/health") as response:
            assert await response.json() == {"status": "ok"}

    async def check_system_clock(session: aiohttp.ClientSession, origin: str) -> None:
        async with session.post(f"{origin}/admin/devhost/clock/advance?seconds=1") as response:
            assert response.status == 409
            assert_error_shape(409, await response.text(), response.content_type, "systemClock")

    run(loop_runner, serve, app, check)
    run(loop_runner, serve, system_clock_app, check_system_clock)
