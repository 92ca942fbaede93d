"""devhost end to end: the features app in a devhost process, driven by the SDK's own client over HTTP.

Time is a manual clock moved through devhost's admin endpoint: no test waits for a timer or a back-off. Every
test runs once per store (SQLite, and Azure Storage on Azurite).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from devhost.testing import DevHostProcess
from tests.conftest import SdkLoop
from tests.host.helpers import STORES, Client, StoreSetup, store_setup

APP = Path(__file__).resolve().parent.parent / "apps" / "features"
pytestmark = pytest.mark.host


@pytest.fixture(scope="module", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def store(store_kind: str, request: pytest.FixtureRequest) -> StoreSetup:
    return store_setup(store_kind, request)


@pytest.fixture(scope="module")
def counters(tmp_path_factory: pytest.TempPathFactory, store_kind: str) -> Path:
    return tmp_path_factory.mktemp(f"counters-{store_kind}")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, counters: Path, store: StoreSetup) -> Iterator[DevHostProcess]:
    env = {"FEATURES_COUNTER_DIR": str(counters), "TICK_SCHEDULE": "0 */5 * * * *", **store.env}
    state = tmp_path_factory.mktemp("state")
    with DevHostProcess(APP, state_dir=state, manual_clock=True, env=env, extra_args=store.args) as process:
        yield process


@pytest.fixture(scope="module")
def client(host: DevHostProcess, sdk: SdkLoop, store: StoreSetup) -> Client:
    return Client(host, sdk, hub=store.hub)


def test_fan_out_applies_every_result(client: Client) -> None:
    instance_id = client.start_new("fan_out", None, 1000)
    status = client.wait(instance_id)
    assert status.runtime_status.value == "Completed"
    assert status.output == sum(2 * i for i in range(1000))


def test_retry_waits_for_the_back_off_then_succeeds(client: Client, host: DevHostProcess) -> None:
    instance_id = client.start_new("with_retry", None, 3)
    # The first attempt fails and the back-off is a minute: without the clock moving, nothing more happens.
    client.wait_for(lambda: _history_has(client, instance_id, "TimerCreated"), what="the first back-off timer")
    assert client.get_status(instance_id).runtime_status.value == "Running"
    status = client.wait(instance_id, advance=60)
    assert status.runtime_status.value == "Completed"
    assert status.output == f"{instance_id} ok after 3"


def test_retry_gives_up_after_the_last_attempt(client: Client) -> None:
    instance_id = client.start_new("with_retry", None, 2)
    status = client.wait(instance_id, advance=60)
    assert status.runtime_status.value == "Failed"
    assert "attempt 2 of" in status.output
    assert status.output.startswith("Orchestrator function 'with_retry' failed: Activity function 'flaky' failed")


def test_durable_timer_fires_when_the_clock_reaches_it(client: Client, host: DevHostProcess) -> None:
    instance_id = client.start_new("sleeper", None, None)
    client.wait_for(lambda: _history_has(client, instance_id, "TimerCreated"), what="the timer")
    host.advance_clock(1800)
    assert client.get_status(instance_id).runtime_status.value == "Running"
    # The clock reaches the timer and stays there: moving it on while the host wakes the orchestration (as a
    # poll that advances would, on a busy machine) would make its wake-up time later than the timer's.
    host.advance_clock(1800)
    status = client.wait(instance_id)
    assert status.output == 3600.0
    assert status.custom_status == {"stage": "woke"}


def test_external_event_wins_over_the_timeout(client: Client) -> None:
    instance_id = client.start_new("approval", None, None)
    client.wait_for(lambda: client.get_status(instance_id).custom_status == "waiting", what="waiting status")
    client.raise_event(instance_id, "Approve", {"by": "ana"})
    status = client.wait(instance_id)
    # The SDK client double-encodes event data and the orchestrator sees the JSON text (reference §2.12).
    assert json.loads(status.output["approved"]) == {"by": "ana"}
    again = client.get_status(instance_id)
    assert again.output["uuid"] == status.output["uuid"]  # new_uuid is stable across replays


def test_timeout_wins_when_no_event_comes(client: Client) -> None:
    instance_id = client.start_new("approval", None, None)
    status = client.wait(instance_id, advance=6 * 3600)
    assert status.output == {"approved": None}


def test_sub_orchestrations_and_a_failing_child(client: Client) -> None:
    instance_id = client.start_new("parent", None, 10)
    status = client.wait(instance_id)
    assert status.output["totals"] == [90, 90, 90]
    assert "boom went the orchestrator" in status.output["child_error"]


def test_uncaught_failure_fails_the_instance_with_its_message(client: Client) -> None:
    instance_id = client.start_new("boom", None, None)
    status = client.wait(instance_id)
    assert status.runtime_status.value == "Failed"
    assert status.output == "Orchestrator function 'boom' failed: boom went the orchestrator"


def test_continue_as_new_restarts_with_the_new_input(client: Client) -> None:
    instance_id = client.start_new("counter_loop", None, {"value": 1, "round": 0})
    status = client.wait(instance_id)
    assert status.output == 16
    history = client.get_status(instance_id, show_history=True).historyEvents
    # Only the last execution's history remains.
    assert [e["EventType"] for e in history if e["EventType"] == "ExecutionStarted"] == ["ExecutionStarted"]


def test_entities_called_signalled_and_read(client: Client) -> None:
    instance_id = client.start_new("use_counter", None, "orch-key")
    assert client.wait(instance_id).output == 7
    client.signal_entity(_entity("client-key"), "add", 4)
    client.signal_entity(_entity("client-key"), "add", 5)
    client.wait_for(lambda: client.read_entity_state(_entity("client-key")).entity_state == 9, what="entity state")


def test_terminate_suspend_resume(client: Client) -> None:
    first = client.start_new("approval", None, None)
    client.wait_for(lambda: client.get_status(first).runtime_status.value == "Running", what="running")
    client.terminate(first, "not needed")
    status = client.wait(first)
    assert (status.runtime_status.value, status.output) == ("Terminated", "not needed")

    second = client.start_new("approval", None, None)
    client.wait_for(lambda: client.get_status(second).runtime_status.value == "Running", what="running")
    client.suspend(second, "hold on")
    client.wait_for(lambda: client.get_status(second).runtime_status.value == "Suspended", what="suspended")
    client.raise_event(second, "Approve", "late")  # held while suspended
    assert client.get_status(second).runtime_status.value == "Suspended"
    client.resume(second, "go")
    assert client.wait(second).output["approved"] == '"late"'


def test_purge_and_queries(client: Client) -> None:
    instance_id = client.start_new("fan_out", "purge-me", 3)
    client.wait(instance_id)
    assert any(s.instance_id == "purge-me" for s in client.get_status_all())
    assert client.purge_instance_history("purge-me").instances_deleted == 1
    assert not client.get_status("purge-me")


def test_nondeterministic_code_fails_the_instance(
    tmp_path: Path, sdk: SdkLoop, counters: Path, store_kind: str, request: pytest.FixtureRequest
) -> None:
    own = store_setup(store_kind, request)  # a hub of its own: the module's host is running on the other
    env = {"FEATURES_COUNTER_DIR": str(counters), "TICK_SCHEDULE": "0 */5 * * * *", **own.env}
    drift = {**env, "DRIFT_ACTIVITY": "double"}
    with DevHostProcess(APP, state_dir=tmp_path, env=drift, extra_args=own.args) as first:
        instance_id = Client(first, sdk, hub=own.hub).start_new("drifting", None, None)
        Client(first, sdk, hub=own.hub).wait_for(
            lambda: _history_has(Client(first, sdk, hub=own.hub), instance_id, "TaskCompleted"),
            what="the activity",
        )
    drift = {**env, "DRIFT_ACTIVITY": "slow_double"}
    with DevHostProcess(APP, state_dir=tmp_path, env=drift, extra_args=own.args) as second:
        client = Client(second, sdk, hub=own.hub)
        client.raise_event(instance_id, "go", None)
        status = client.wait(instance_id)
    assert status.runtime_status.value == "Failed"
    assert "Non-Deterministic workflow detected" in status.output
    assert "sequence number 0 named 'double'" in status.output
    assert "named 'slow_double'" in status.output


def test_timer_trigger_fires_on_schedule(
    tmp_path: Path, sdk: SdkLoop, store_kind: str, request: pytest.FixtureRequest
) -> None:
    # A host of its own, fresh: the module's host has had its clock moved by earlier tests, so a tick they left
    # queued could start an orchestration after this test's advance and pass it without the advance's tick.
    own = store_setup(store_kind, request)
    counters = tmp_path / "counters"
    counters.mkdir()
    env = {"FEATURES_COUNTER_DIR": str(counters), "TICK_SCHEDULE": "0 */5 * * * *", **own.env}
    with DevHostProcess(APP, state_dir=tmp_path / "state", manual_clock=True, env=env, extra_args=own.args) as host:
        client = Client(host, sdk, hub=own.hub)

        def starts() -> list[Any]:
            return [s for s in client.get_status_all() if s.instance_id.startswith("tick-")]

        now = datetime.fromisoformat(requests.get(f"{host.base_url}/admin/devhost/clock", timeout=30).json()["now"])
        # The schedule's next occurrence: the next multiple of five minutes.
        due = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
        assert starts() == [], "a tick fired before the clock reached its schedule"
        host.advance_clock(300)
        client.wait_for(lambda: bool(starts()), what="the timer function to start an orchestration")
        (started,) = starts()
        assert started.created_time >= due, (started.created_time, due)
        assert started.instance_id == "tick-0-0"  # on time (not past due), and the first of its kind


def test_bad_requests_get_clear_errors(host: DevHostProcess) -> None:
    base = f"{host.base_url}/runtime/webhooks/durabletask"
    unknown = requests.get(f"{base}/instances/no-such-instance", timeout=10)
    assert unknown.status_code == 404
    bad_json = requests.post(f"{base}/orchestrators/fan_out", data=b"{not json", timeout=10)
    assert bad_json.status_code == 400
    assert bad_json.json()
    unknown_orchestrator = requests.post(f"{base}/orchestrators/nope", json=1, timeout=10)
    assert unknown_orchestrator.status_code == 400
    assert "'nope' doesn't exist" in unknown_orchestrator.json()["ExceptionMessage"]
    no_route = requests.get(f"{host.base_url}/api/not/a/route", timeout=10)
    assert no_route.status_code == 404
    assert no_route.json()
    # The host is still serving.
    assert requests.get(f"{host.base_url}/admin/devhost/health", timeout=10).json() == {"status": "ok"}


def test_events_for_finished_instances_are_refused(client: Client, host: DevHostProcess) -> None:
    instance_id = client.start_new("fan_out", None, 1)
    client.wait(instance_id)
    response = requests.post(
        f"{host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/x", json=1, timeout=10
    )
    assert response.status_code == 410


def _entity(key: str) -> object:
    import azure.durable_functions as df

    return df.EntityId("counter", key)


def _history_has(client: Client, instance_id: str, event_type: str) -> bool:
    status = client.get_status(instance_id, show_history=True)
    return any(e["EventType"] == event_type for e in (getattr(status, "historyEvents", None) or []))


def test_call_http_makes_the_request(client: Client, host: DevHostProcess) -> None:
    instance_id = client.start_new("http_caller", None, f"{host.base_url}/admin/devhost/health")
    status = client.wait(instance_id)
    assert status.output == {"status": 200, "body": {"status": "ok"}}


def test_sub_orchestration_with_retry_runs_the_child_again(client: Client) -> None:
    # The child's activity fails on its first two calls (one per child attempt), so the third child succeeds.
    instance_id = client.start_new("retried_child", None, None)
    status = client.wait(instance_id, advance=1)
    assert status.runtime_status.value == "Completed"
    assert status.output == f"{instance_id} ok after 3"


def test_status_reads_do_not_wait_for_a_busy_engine(client: Client, tmp_path: Path) -> None:
    # The orchestration holds the engine's thread until the release file exists; the status reads below must
    # answer meanwhile (if they waited for the engine, they would time out, and the release would never come).
    flags = {"holding": str(tmp_path / "holding"), "release": str(tmp_path / "release")}
    instance_id = client.start_new("holds_the_engine", None, flags)
    client.wait_for(lambda: Path(flags["holding"]).exists(), what="the orchestration to hold the engine")
    try:
        status = client.get_status(instance_id)
        assert status.runtime_status.value in ("Pending", "Running")
        listed = client.get_status_by(runtime_status=[status.runtime_status])
        assert instance_id in {s.instance_id for s in listed}
        assert not client.read_entity_state(_entity("never-signalled")).entity_exists
    finally:
        Path(flags["release"]).touch()
    assert client.wait(instance_id).output == "released"
