"""The Durable management API over raw HTTP, on both the RPC base and the public webhook base."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from devhost.config import HostConfig
from devhost.http import build_http_app
from devhost.loader import FunctionIndex

pytestmark = pytest.mark.unit

BASES = ["/durabletask", "/runtime/webhooks/durabletask"]


class Api:
    """A raw client that checks every response body is empty or JSON, as the SDK needs."""

    def __init__(self, session: aiohttp.ClientSession, root: str) -> None:
        self.session = session
        self.root = root

    async def __call__(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.session.request(method, self.root + path, **kwargs) as response:
            text = await response.text()
            body = json.loads(text) if text else None  # raises if a body is not JSON
            if text:
                assert response.content_type == "application/json"
            return response.status, body, response


def run_api(loop_runner: Any, serve: Any, management: Any, base: str, check: Any, tmp_path: Any) -> None:
    app = build_http_app(FunctionIndex([]), HostConfig(script_root=tmp_path), management)

    async def main() -> None:
        async with serve(app) as origin, aiohttp.ClientSession() as session:
            await check(Api(session, origin + base), origin)

    loop_runner.run(main())


@pytest.fixture(params=BASES)
def base(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_start(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])

    async def check(api: Api, origin: str) -> None:
        status, body, response = await api("POST", "/orchestrators/hello", json={"a": 1})
        assert status == 202 and body["id"] == "instance-1"
        assert response.headers["Location"] == body["statusQueryGetUri"]
        assert response.headers["Retry-After"] == "10"
        webhook = f"{origin}/runtime/webhooks/durabletask/instances/instance-1"
        assert body == {
            "id": "instance-1",
            "statusQueryGetUri": f"{webhook}?taskHub=TestHubName&connection=Storage",
            "sendEventPostUri": f"{webhook}/raiseEvent/{{eventName}}?taskHub=TestHubName&connection=Storage",
            "terminatePostUri": f"{webhook}/terminate?reason={{text}}&taskHub=TestHubName&connection=Storage",
            "rewindPostUri": f"{webhook}/rewind?reason={{text}}&taskHub=TestHubName&connection=Storage",
            "purgeHistoryDeleteUri": f"{webhook}?taskHub=TestHubName&connection=Storage",
            "restartPostUri": f"{webhook}/restart?taskHub=TestHubName&connection=Storage",
            "suspendPostUri": f"{webhook}/suspend?reason={{text}}&taskHub=TestHubName&connection=Storage",
            "resumePostUri": f"{webhook}/resume?reason={{text}}&taskHub=TestHubName&connection=Storage",
        }
        # Payload rule: stored input is json.dumps(json.loads(body)); an empty body is None.
        assert management.calls[-1] == ("start_new", ("hello", None, '{"a": 1}'))
        status, body, _ = await api("POST", "/Orchestrators/Hello/my%20id", data=b"")
        assert status == 202 and body["id"] == "my id" and "/instances/my%20id?" in body["statusQueryGetUri"]
        assert management.calls[-1] == ("start_new", ("Hello", "my id", None))
        status, body, _ = await api("POST", "/orchestrators/hello/my%20id")
        assert status == 409
        status, body, _ = await api("POST", "/orchestrators/nope")
        assert status == 400 and "known orchestrator functions: 'Hello'" in body["ExceptionMessage"]
        status, body, _ = await api(
            "POST", "/orchestrators/hello", data=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert status == 400 and "not valid JSON" in body["Message"]
        status, body, _ = await api("POST", "/orchestrators/hello/@bad")
        assert status == 400
        status, body, response = await api("GET", "/orchestrators/hello")
        assert status == 405 and response.headers["Allow"] == "POST"

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_start_and_wait(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])
    original_start = management.start_new

    async def start_and_finish(name: str, instance_id: str | None, input_text: str | None) -> str:
        started = await original_start(name, instance_id, input_text)
        management.finish(started, output={"sum": 6})
        return str(started)

    management.start_new = start_and_finish

    async def check(api: Api, origin: str) -> None:
        status, body, _ = await api("POST", "/orchestrators/hello?timeout=5&pollingInterval=1")
        assert (status, body) == (200, {"sum": 6})
        status, _, _ = await api("POST", "/orchestrators/hello?timeout=soon")
        assert status == 400

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_status(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])

    async def check(api: Api, origin: str) -> None:
        await api("POST", "/orchestrators/hello/a", json="in")
        status, body, response = await api("GET", "/instances/a")
        assert status == 202 and body["runtimeStatus"] == "Pending" and body["input"] == "in"
        assert response.headers["Retry-After"] == "5" and response.headers["Location"].endswith("/instances/a")
        assert management.calls[-1] == ("get_status", ("a", False, False, True))  # showInput defaults to true
        status, body, _ = await api("GET", "/instances/a?showInput=FALSE&showHistory=True&showHistoryOutput=true")
        assert body["input"] is None and body["historyEvents"]
        assert management.calls[-1] == ("get_status", ("a", True, True, False))
        status, body, _ = await api("GET", "/instances/a?showHistory=maybe")
        assert status == 400
        management.finish("a", "Failed")
        assert (await api("GET", "/instances/a"))[0] == 200
        assert (await api("GET", "/instances/a?returnInternalServerErrorOnFailure=true"))[0] == 500
        status, body, _ = await api("GET", "/instances/unknown")
        assert (status, body) == (404, None)  # empty: the SDK turns it into a falsy status

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_list_and_paging(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])

    async def check(api: Api, origin: str) -> None:
        for name in ("job-1", "job-2", "job-3", "other"):
            await api("POST", f"/orchestrators/hello/{name}")
        management.finish("job-2")
        status, body, response = await api("GET", "/instances/")
        assert status == 200 and len(body) == 4 and "x-ms-continuation-token" not in response.headers
        status, body, response = await api("GET", "/instances?top=2&instanceIdPrefix=job-")
        assert [s["instanceId"] for s in body] == ["job-1", "job-2"]
        token = response.headers["x-ms-continuation-token"]
        status, body, response = await api(
            "GET", "/instances?top=2&instanceIdPrefix=job-", headers={"x-ms-continuation-token": token}
        )
        assert [s["instanceId"] for s in body] == ["job-3"] and "x-ms-continuation-token" not in response.headers
        status, body, _ = await api(
            "GET",
            "/instances?createdTimeFrom=2024-01-01T00:00:00.000000Z&createdTimeTo=2031-01-01T00:00:00Z"
            "&runtimeStatus=completed,Pending",
        )
        query = management.queries[-1]
        assert query.runtime_status == {"Completed", "Pending"}
        assert query.created_from.isoformat() == "2024-01-01T00:00:00+00:00"
        assert query.created_to.year == 2031 and query.top is None
        assert len(body) == 4
        assert (await api("GET", "/instances?runtimeStatus=Sleeping"))[0] == 400
        assert (await api("GET", "/instances?top=0"))[0] == 400
        assert (await api("GET", "/instances?createdTimeFrom=yesterday"))[0] == 400

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_raise_event(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])

    async def check(api: Api, origin: str) -> None:
        await api("POST", "/orchestrators/hello/a")
        status, body, _ = await api("POST", "/instances/a/raiseEvent/Approval", json=json.dumps({"ok": True}))
        assert (status, body) == (202, None)
        assert management.events == [("a", "Approval", json.dumps(json.dumps({"ok": True})))]
        status, body, _ = await api(
            "POST", "/instances/a/raiseEvent/Approval", data=b"1", headers={"Content-Type": "text/plain"}
        )
        assert status == 400 and body["Message"] == "Only application/json request content is supported"
        status, _, _ = await api(
            "POST", "/instances/a/raiseEvent/x", data=b"{", headers={"Content-Type": "application/json"}
        )
        assert status == 400
        assert (await api("POST", "/instances/zzz/raiseEvent/x", json=1))[0] == 404
        management.finish("a")
        assert (await api("POST", "/instances/a/raiseEvent/x", json=1))[0] == 410

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_lifecycle_operations(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])

    async def check(api: Api, origin: str) -> None:
        await api("POST", "/orchestrators/hello/a", json=[1, 2])
        management.instances["a"]["runtimeStatus"] = "Running"
        assert (await api("POST", "/instances/a/suspend?reason=pause"))[:2] == (202, None)
        assert management.instances["a"]["runtimeStatus"] == "Suspended"
        assert (await api("POST", "/instances/a/suspend"))[0] == 400
        assert (await api("POST", "/instances/a/resume?reason=go"))[0] == 202
        assert (await api("POST", "/instances/a/terminate?reason=stop%20it"))[:2] == (202, None)
        assert management.instances["a"]["output"] == "stop it"
        assert (await api("POST", "/instances/a/terminate"))[0] == 410
        assert (await api("POST", "/instances/zzz/terminate"))[0] == 404
        assert (await api("POST", "/instances/a/rewind?reason=again"))[0] == 410
        status, body, _ = await api("POST", "/instances/a/restart?restartWithNewInstanceId=FALSE")
        assert (status, body) == (202, "a")
        assert management.calls[-1] == ("start_new", ("Hello", "a", "[1, 2]"))
        status, body, _ = await api("POST", "/instances/a/restart")
        assert status == 202 and body == "instance-1"
        assert (await api("POST", "/instances/zzz/restart"))[0] == 404

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_purge(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management(["Hello"])

    async def check(api: Api, origin: str) -> None:
        for name in ("a", "b", "c"):
            await api("POST", f"/orchestrators/hello/{name}")
        assert (await api("DELETE", "/instances/a"))[0] == 400  # still pending
        management.finish("a")
        assert (await api("DELETE", "/instances/a"))[:2] == (200, {"instancesDeleted": 1})
        assert (await api("DELETE", "/instances/a"))[0] == 404
        assert (await api("DELETE", "/instances/"))[0] == 400  # createdTimeFrom is required
        management.finish("b", "Terminated")
        status, body, _ = await api(
            "DELETE", "/instances?createdTimeFrom=2020-01-01T00:00:00Z&runtimeStatus=Terminated"
        )
        assert (status, body) == (200, {"instancesDeleted": 1})
        status, _, _ = await api("DELETE", "/instances?createdTimeFrom=2020-01-01T00:00:00Z")
        assert status == 404

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_entities(loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any) -> None:
    management = fake_management([])
    management.entities[("counter", "k1")] = "5"

    async def check(api: Api, origin: str) -> None:
        assert (await api("POST", "/entities/Counter/k1?op=add", json=json.dumps(3)))[:2] == (202, None)
        assert (await api("POST", "/entities/Counter/k2?op=reset"))[0] == 202
        assert (await api("DELETE", "/entities/Counter/k1"))[0] == 202
        assert management.signals == [
            ("Counter", "k1", "add", json.dumps("3")),
            ("Counter", "k2", "reset", None),
            ("Counter", "k1", "delete", None),
        ]
        assert (await api("GET", "/entities/Counter/k1"))[:2] == (200, 5)
        assert (await api("GET", "/entities/Counter/none"))[0] == 404
        status, body, _ = await api("GET", "/entities/Counter")  # not supported: a 4xx, never a 5xx
        assert status == 400 and body["error"]["code"] == "notSupported"

    run_api(loop_runner, serve, management, base, check, tmp_path)


def test_unknown_routes_and_failures(
    loop_runner: Any, serve: Any, fake_management: Any, base: str, tmp_path: Any
) -> None:
    management = fake_management(["Hello"])

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store is down")

    management.list_instances = broken

    async def check(api: Api, origin: str) -> None:
        status, body, _ = await api("GET", "/nothing/here")
        assert status == 404 and "Message" in body
        status, body, _ = await api("GET", "/instances")
        assert status == 500 and body["ExceptionMessage"] == "store is down"
        assert (await api("POST", "/orchestrators/hello"))[0] == 202  # still serving

    run_api(loop_runner, serve, management, base, check, tmp_path)
