"""Keys with `--require-keys`, over real HTTP: every management and admin route refuses anonymous callers with a
401 in the documented shape and works with the right key; the RPC base also takes the secret the host puts in
its functions' `rpcBaseUrl`, so the SDK's client inside a function works unchanged; and no answer hands the
system key to a caller who did not present it (or the master key)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devhost.clock import ManualClock
from devhost.config import HostConfig, load_config
from devhost.http import KeySet, build_http_app
from devhost.loader import FunctionIndex, load_app

pytestmark = pytest.mark.unit

WEBHOOKS = "/runtime/webhooks/durabletask"
RPC = "/durabletask"

# Every management route, as (method, path after the base, what it answers once let in).
MANAGEMENT_ROUTES: list[tuple[str, str, int]] = [
    ("POST", "/orchestrators/hello_orchestrator", 202),
    ("POST", "/orchestrators/hello_orchestrator/keyed-1", 202),
    ("GET", "/instances", 200),
    ("DELETE", "/instances?createdTimeFrom=2000-01-01T00:00:00Z", 200),
    ("GET", "/instances/running", 202),
    ("DELETE", "/instances/done", 200),
    ("POST", "/instances/running/raiseEvent/go", 202),
    ("POST", "/instances/running/suspend", 202),
    ("POST", "/instances/suspended/resume", 202),
    ("POST", "/instances/running/terminate?reason=test", 202),
    ("POST", "/instances/failed/rewind", 400),  # devhost does not rewind, but only after the key check
    ("POST", "/instances/done2/restart", 202),
    ("GET", "/entities/counter", 400),
    ("GET", "/entities/counter/k", 404),
    ("POST", "/entities/counter/k?op=add", 202),
    ("DELETE", "/entities/counter/k", 202),
]
ADMIN_ROUTES: list[tuple[str, str, int]] = [
    ("GET", "/admin/host/status", 200),
    ("GET", "/admin/devhost/health", 200),
    ("GET", "/admin/devhost/clock", 200),
    ("POST", "/admin/devhost/clock/advance?seconds=5", 200),
]


@pytest.fixture(scope="module")
def index() -> FunctionIndex:
    return load_app(Path(__file__).resolve().parents[2] / "apps" / "devhost_http")


@pytest.fixture
def config(apps_dir: Path) -> HostConfig:
    return load_config(apps_dir / "devhost_http", {})


def seeded(fake_management: Any) -> Any:
    """A fake with an instance in each state the routes above need."""
    management = fake_management(["hello_orchestrator"])
    for instance_id, final in [
        ("running", "Running"),
        ("suspended", "Suspended"),
        ("done", "Completed"),
        ("done2", "Completed"),
        ("failed", "Failed"),
    ]:
        management.instances[instance_id] = {
            "name": "hello_orchestrator",
            "instanceId": instance_id,
            "runtimeStatus": final,
            "input": None,
            "customStatus": None,
            "output": None,
            "createdTime": "2030-01-01T00:00:00Z",
            "lastUpdatedTime": "2030-01-01T00:00:00Z",
        }
    return management


def run(loop_runner: Any, serve: Any, app: Any, check: Any) -> None:
    async def main() -> None:
        async with serve(app) as origin, aiohttp.ClientSession() as session:
            await check(session, origin)

    loop_runner.run(main())


def basic(password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth("devhost", password)}


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    if method == "POST" and "json" not in kwargs:  # every POST route takes a JSON body (raise event needs one)
        kwargs.setdefault("data", b"1")
        kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
    async with session.request(method, url, **kwargs) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None)


def assert_unauthorized(status: int, body: Any, what: str) -> None:
    assert status == 401, what
    assert body["error"]["code"] == "unauthorized" and body["error"]["message"], what


@pytest.mark.parametrize("method,path,expected", MANAGEMENT_ROUTES)
@pytest.mark.parametrize("base", [WEBHOOKS, RPC])
def test_management_routes_need_a_key(
    loop_runner: Any,
    serve: Any,
    index: FunctionIndex,
    config: HostConfig,
    fake_management: Any,
    base: str,
    method: str,
    path: str,
    expected: int,
) -> None:
    keys = KeySet.generate()
    management = seeded(fake_management)
    app = build_http_app(index, config, management, keys=keys)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        url = origin + base + path
        before = json.dumps(management.instances, sort_keys=True)
        for refused in ({}, {"x-functions-key": "wrong"}, {"x-functions-key": keys.function_key}):
            status, body = await call(session, method, url, headers=refused)
            assert_unauthorized(status, body, f"{method} {base}{path} with {refused}")
        # A refused request changed nothing.
        assert json.dumps(management.instances, sort_keys=True) == before
        assert management.signals == [] and management.events == []
        status, _ = await call(session, method, url, headers={"x-functions-key": keys.system_key})
        assert status == expected

    run(loop_runner, serve, app, check)


def test_the_rpc_secret_opens_the_rpc_base_only(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    keys = KeySet.generate()
    app = build_http_app(index, config, seeded(fake_management), keys=keys, clock=ManualClock())

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        secret = basic(keys.rpc_secret)
        assert (await call(session, "GET", f"{origin}{RPC}/instances", headers=secret))[0] == 200
        wrong = basic("wrong")
        assert_unauthorized(*(await call(session, "GET", f"{origin}{RPC}/instances", headers=wrong)), "wrong secret")
        for url in (f"{origin}{WEBHOOKS}/instances", f"{origin}/admin/host/status", f"{origin}/api/secret"):
            assert_unauthorized(*(await call(session, "GET", url, headers=secret)), url)
            status, body = await call(session, "GET", url, params={"code": keys.rpc_secret})
            assert_unauthorized(status, body, url)
        # The master key opens the RPC base too, also as a basic-auth password (how a binding would carry it).
        master = basic(keys.master_key)
        assert (await call(session, "GET", f"{origin}{RPC}/instances", headers=master))[0] == 200

    run(loop_runner, serve, app, check)


@pytest.mark.parametrize("method,path,expected", ADMIN_ROUTES)
def test_admin_routes_need_the_master_key(
    loop_runner: Any,
    serve: Any,
    index: FunctionIndex,
    config: HostConfig,
    fake_management: Any,
    method: str,
    path: str,
    expected: int,
) -> None:
    keys = KeySet.generate()
    clock = ManualClock()
    app = build_http_app(index, config, fake_management([]), keys=keys, clock=clock)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        before = clock.now()
        for key in (None, "wrong", keys.function_key, keys.system_key):
            headers = {"x-functions-key": key} if key else {}
            status, body = await call(session, method, origin + path, headers=headers)
            assert_unauthorized(status, body, f"{method} {path} with {key}")
        assert clock.now() == before
        status, _ = await call(session, method, origin + path, params={"code": keys.master_key})
        assert status == expected

    run(loop_runner, serve, app, check)


def test_answers_carry_the_system_key_only_for_callers_who_presented_it(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    keys = KeySet.generate()
    app = build_http_app(index, config, fake_management(["hello_orchestrator"]), keys=keys)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        start = "/orchestrators/hello_orchestrator"
        secret = basic(keys.rpc_secret)
        # The start answer of the RPC base to the binding's secret (the SDK's client) carries no key...
        status, body = await call(session, "POST", origin + RPC + start, headers=secret)
        assert status == 202 and keys.system_key not in json.dumps(body)
        # ...nor the start-and-wait answer once its wait is over.
        status, body = await call(session, "POST", origin + RPC + start + "?timeout=0", headers=secret)
        assert status == 202 and keys.system_key not in json.dumps(body)
        # With the system or master key the URLs carry the system key, and work as handed out.
        for key in (keys.system_key, keys.master_key):
            status, body = await call(session, "POST", origin + WEBHOOKS + start, params={"code": key})
            assert status == 202 and f"code={keys.system_key}" in body["statusQueryGetUri"]
            assert (await call(session, "GET", body["statusQueryGetUri"]))[0] == 202
        # A function's client binding: no key for an anonymous or function-key caller of the function...
        for presented in (None, keys.function_key):
            params = {"code": presented} if presented else {}
            status, body = await call(session, "POST", f"{origin}/api/start/hello_orchestrator", params=params)
            assert status == 202 and keys.system_key not in json.dumps(body), presented
            assert "code=" not in body["statusQueryGetUri"]
        # ...the system key for a caller who presented it.
        status, body = await call(
            session, "POST", f"{origin}/api/start/hello_orchestrator", headers={"x-functions-key": keys.system_key}
        )
        assert status == 202 and f"code={keys.system_key}" in body["statusQueryGetUri"]

    run(loop_runner, serve, app, check)


def test_the_client_inside_a_function_works_with_keys_required(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    keys = KeySet.generate()
    management = fake_management(["hello_orchestrator"])
    app = build_http_app(index, config, management, keys=keys)

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        status, body = await call(session, "POST", f"{origin}/api/start/hello_orchestrator/job-1", json={"n": 1})
        assert status == 202 and body["id"] == "job-1"
        assert management.calls[0][0] == "start_new"
        status, _ = await call(session, "GET", f"{origin}/api/status/job-1")
        assert status == 200

    run(loop_runner, serve, app, check)


def test_without_keys_everything_stays_open(
    loop_runner: Any, serve: Any, index: FunctionIndex, config: HostConfig, fake_management: Any
) -> None:
    app = build_http_app(index, config, seeded(fake_management), clock=ManualClock())

    async def check(session: aiohttp.ClientSession, origin: str) -> None:
        for base in (WEBHOOKS, RPC):
            assert (await call(session, "GET", f"{origin}{base}/instances"))[0] == 200
        for method, path, expected in ADMIN_ROUTES:
            assert (await call(session, method, origin + path))[0] == expected
        status, body = await call(session, "POST", f"{origin}/api/start/hello_orchestrator")
        assert status == 202 and "code=" not in json.dumps(body)

    run(loop_runner, serve, app, check)
