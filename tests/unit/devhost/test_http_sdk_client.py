"""The SDK's own DurableOrchestrationClient, built from devhost's client payload, against the HTTP layer.

All SDK calls run on the session-wide loop (`loop_runner`): the SDK's aiohttp session is module-global.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from devhost.client_binding import client_payload
from devhost.config import HostConfig
from devhost.http import build_http_app
from devhost.loader import FunctionIndex

pytestmark = pytest.mark.unit


def make_client(origin: str, binding: dict[str, Any] | None = None) -> df.DurableOrchestrationClient:
    payload = client_payload(
        f"{origin}/runtime/webhooks/durabletask", f"{origin}/durabletask", "TestHubName", binding or {}
    )
    return df.DurableOrchestrationClient(payload)


def test_sdk_client_round_trip(loop_runner: Any, serve: Any, fake_management: Any, tmp_path: Any) -> None:
    management = fake_management(["HelloOrchestrator"])
    app = build_http_app(FunctionIndex([]), HostConfig(script_root=tmp_path), management)

    async def main() -> None:
        async with serve(app) as origin:
            client = make_client(origin)

            instance_id = await client.start_new("HelloOrchestrator", None, {"city": "Oslo"})
            assert instance_id == "instance-1"
            # The SDK double-encodes the input; the status shows the string the extension would show.
            status = await client.get_status(instance_id, show_input=True)
            assert status.runtime_status == OrchestrationRuntimeStatus.Pending
            assert json.loads(status.input_) == {"city": "Oslo"}
            assert status.created_time is not None

            with pytest.raises(Exception, match="doesn't exist, is disabled"):
                await client.start_new("Missing")

            second = await client.start_new("helloorchestrator", "fixed-id")
            assert second == "fixed-id"
            missing = await client.get_status("no-such-instance")
            assert not missing

            await client.raise_event(instance_id, "Approval", {"ok": True})
            assert management.events == [(instance_id, "Approval", json.dumps(json.dumps({"ok": True})))]
            with pytest.raises(Exception, match="No instance with ID no-such found"):
                await client.raise_event("no-such", "Approval", 1)

            management.instances[instance_id]["runtimeStatus"] = "Running"
            await client.suspend(instance_id, "pause please")
            assert (await client.get_status(instance_id)).runtime_status == OrchestrationRuntimeStatus.Suspended
            await client.resume(instance_id, "go on")
            await client.terminate(instance_id, "no longer needed")
            status = await client.get_status(instance_id)
            assert status.runtime_status == OrchestrationRuntimeStatus.Terminated
            assert status.output == "no longer needed"
            await client.terminate(instance_id, "again")  # 410: the SDK accepts it
            with pytest.raises(Exception, match="No instance with ID 'nope' found"):
                await client.terminate("nope", "x")

            everything = await client.get_status_all()
            assert sorted(s.instance_id for s in everything) == ["fixed-id", instance_id]
            pending = await client.get_status_by(
                created_time_from=datetime(2020, 1, 1, tzinfo=UTC),
                runtime_status=[OrchestrationRuntimeStatus.Pending],
            )
            assert [s.instance_id for s in pending] == ["fixed-id"]

            restarted = await client.restart(instance_id, restart_with_new_instance_id=True)
            assert restarted == "instance-2"
            management.finish("instance-2", "Failed")
            with pytest.raises(Exception, match="devhost does not support rewind"):
                await client.rewind("instance-2", "try again")
            assert management.instances["instance-2"]["runtimeStatus"] == "Failed"

            purged = await client.purge_instance_history(instance_id)
            assert purged.instances_deleted == 1
            assert (await client.purge_instance_history(instance_id)).instances_deleted == 0
            management.finish("fixed-id")
            purged = await client.purge_instance_history_by(created_time_from=datetime(2020, 1, 1, tzinfo=UTC))
            assert purged.instances_deleted == 2  # fixed-id, and instance-2 (still failed: not rewound)

            entity = df.EntityId("Counter", "k1")
            await client.signal_entity(entity, "add", 5)
            assert management.signals == [("Counter", "k1", "add", json.dumps(json.dumps(5)))]
            assert not (await client.read_entity_state(entity)).entity_exists
            management.entities[("counter", "k1")] = json.dumps(5)
            state = await client.read_entity_state(entity)
            assert (state.entity_exists, state.entity_state) == (True, 5)

            # The check-status response the SDK builds from the payload's management URLs.
            request = func.HttpRequest("POST", "https://example.test:8443/api/start", body=b"")
            response = client.create_check_status_response(request, "job 1")
            body = json.loads(response.get_body())
            assert response.status_code == 202
            assert body["statusQueryGetUri"] == (
                "https://example.test:8443/runtime/webhooks/durabletask/instances/job 1"
                "?taskHub=TestHubName&connection=Storage"
            )
            assert client.create_http_management_payload("x")["id"] == "x"

            done = await client.start_new("HelloOrchestrator", "done-id", 1)
            management.finish(done, output={"total": 3})
            response = await client.wait_for_completion_or_create_check_status_response(
                request, done, timeout_in_milliseconds=2000, retry_interval_in_milliseconds=100
            )
            assert (response.status_code, json.loads(response.get_body())) == (200, {"total": 3})

    loop_runner.run(main())


def test_binding_overrides_reach_the_urls() -> None:
    client = make_client("http://127.0.0.1:1", {"taskHub": "OtherHub", "connectionName": "OtherConn"})
    payload = client.create_http_management_payload("abc")
    assert payload["statusQueryGetUri"].endswith("/instances/abc?taskHub=OtherHub&connection=OtherConn")
    assert payload["terminatePostUri"].endswith(
        "/instances/abc/terminate?reason={text}&taskHub=OtherHub&connection=OtherConn"
    )
