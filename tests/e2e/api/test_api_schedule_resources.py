"""Schedules as resources through the HTTP API, on devhost (manual clock) and Azurite: create, list, get,
disable, enable, delete; occurrences that submit, skip while the previous job runs, and record errors; a host
restart that fires nothing twice; bad input to every route.

The module's tests share one host and so one clock: each moves it only by what its own schedule needs, and
deletes its schedules before it ends, so no schedule of one test fires in another."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite
from durable_batch.batch.schedules import is_occurrence_of
from tests.e2e.api.jobs import billing_job, sleeper
from tests.e2e.batch_host import BatchHost, start_batch_host

pytestmark = pytest.mark.e2e

EVERY_MINUTE = "0 * * * * *"
VALID = {"tasks": [{"id": "a", "handler": "billing.invoice", "input": {"customer": "c", "seed": 1, "period": "p"}}]}


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    batch_host = start_batch_host(azurite, tmp_path_factory.mktemp("devhost-schedules"), manual_clock=True)
    try:
        yield batch_host
    finally:
        batch_host.close()


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def template(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tasks": tasks}


def quick_template() -> dict[str, Any]:
    return billing_job(None, tasks=2)


def host_now(host: BatchHost) -> datetime:
    keys = host.process.keys
    headers = {"x-functions-key": keys.master_key} if keys else {}
    response = host.http.get(f"{host.base_url}/admin/devhost/clock", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["now"])


def next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def view(host: BatchHost, schedule_id: str) -> dict[str, Any]:
    response = host.get(f"/schedules/{schedule_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_view(host: BatchHost, schedule_id: str, predicate: Any, what: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def check() -> bool:
        found.update(view(host, schedule_id))
        return bool(predicate(found))

    host.wait_until(check, what=what)
    return found


def armed(host: BatchHost, schedule_id: str) -> datetime:
    """Wait until the schedule's orchestration has run once (its next occurrence is by the host's clock) and
    return that occurrence."""
    expected = next_minute(host_now(host))
    wait_view(host, schedule_id, lambda v: v["nextOccurrence"] == iso(expected), "the schedule to be armed")
    return expected


def advance_to(host: BatchHost, moment: datetime) -> None:
    host.process.advance_clock((moment - host_now(host)).total_seconds())


def schedule_jobs(host: BatchHost, schedule_id: str) -> list[str]:
    found: list[str] = []
    link: str | None = "/jobs?top=1000"
    while link:
        page = host.get(link).json()
        found += [job["id"] for job in page["value"] if is_occurrence_of(job["id"], schedule_id)]
        link = page["nextLink"]
    return sorted(found)


def create(host: BatchHost, body: dict[str, Any]) -> dict[str, Any]:
    response = host.post("/schedules", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_list_get_disable_enable_delete(host: BatchHost) -> None:
    schedule_id = unique("crud")
    other_id = unique("crud-b")
    body = {"id": schedule_id, "schedule": "0 0 2 * * *", "jobSpecification": quick_template()}
    try:
        created = create(host, body)
        assert created["id"] == schedule_id and created["state"] == "active"
        assert created["jobSpecification"] == quick_template()
        assert created["links"]["self"].endswith(f"/api/schedules/{schedule_id}")
        # The same body again is the same schedule; another body under the id is a conflict.
        again = host.post("/schedules", json=body)
        assert again.status_code == 200 and again.json()["id"] == schedule_id
        conflict = host.post("/schedules", json={**body, "schedule": "0 0 3 * * *"})
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "scheduleExists"
        create(host, {"id": other_id, "schedule": "0 30 * * * *", "jobSpecification": quick_template()})

        first = host.get("/schedules?top=1").json()
        listed = [item["id"] for item in first["value"]]
        link = first["nextLink"]
        while link:
            page = host.get(link).json()
            listed += [item["id"] for item in page["value"]]
            link = page["nextLink"]
        assert {schedule_id, other_id} <= set(listed) and listed == sorted(listed)

        nightly = armed_at(host, schedule_id, hour=2)
        assert view(host, schedule_id)["nextOccurrence"] == iso(nightly)
        disabled = host.post(f"/schedules/{schedule_id}/disable")
        assert disabled.status_code == 200
        assert disabled.json()["state"] == "disabled" and disabled.json()["nextOccurrence"] is None
        enabled = host.post(f"/schedules/{schedule_id}/enable")
        assert enabled.status_code == 200 and enabled.json()["state"] == "active"
        # Re-enabled, it is driven by a new orchestration, which arms itself by the host's clock again.
        armed_at(host, schedule_id, hour=2)

        assert host.delete(f"/schedules/{schedule_id}").status_code == 204
        assert host.get(f"/schedules/{schedule_id}").status_code == 404
        assert host.delete(f"/schedules/{schedule_id}").status_code == 404
    finally:
        host.delete(f"/schedules/{schedule_id}")
        host.delete(f"/schedules/{other_id}")


def armed_at(host: BatchHost, schedule_id: str, *, hour: int) -> datetime:
    now = host_now(host)
    expected = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if expected <= now:
        expected += timedelta(days=1)
    wait_view(host, schedule_id, lambda v: v["nextOccurrence"] == iso(expected), "the schedule to be armed")
    return expected


def test_occurrences_submit_skip_while_the_previous_job_runs_and_stop_when_disabled(host: BatchHost) -> None:
    schedule_id = unique("skip")
    create(host, {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecification": template([sleeper("s", 120)])})
    try:
        first = armed(host, schedule_id)
        advance_to(host, first)
        job_id = f"{schedule_id}-{first:%Y%m%dT%H%M%S}"
        fired = wait_view(host, schedule_id, lambda v: v["lastOccurrence"] is not None, "the first occurrence")
        assert fired["lastOccurrence"] == {"time": iso(first), "jobId": job_id, "outcome": "submitted", "message": None}
        host.wait_for_job(job_id, states=frozenset({"running"}))

        second = first + timedelta(minutes=1)
        wait_view(host, schedule_id, lambda v: v["nextOccurrence"] == iso(second), "the next occurrence")
        advance_to(host, second)
        skipped = wait_view(
            host, schedule_id, lambda v: v["lastOccurrence"]["time"] == iso(second), "the second occurrence"
        )
        assert skipped["lastOccurrence"]["outcome"] == "skipped"
        assert job_id in skipped["lastOccurrence"]["message"]
        assert skipped["recentProblems"][0] == skipped["lastOccurrence"]
        assert schedule_jobs(host, schedule_id) == [job_id]

        assert host.post(f"/jobs/{job_id}/cancel").status_code == 202
        host.wait_for_job(job_id)
        third = second + timedelta(minutes=1)
        wait_view(host, schedule_id, lambda v: v["nextOccurrence"] == iso(third), "the third occurrence")
        advance_to(host, third)
        resumed = wait_view(
            host, schedule_id, lambda v: v["lastOccurrence"]["time"] == iso(third), "the third occurrence"
        )
        third_job = f"{schedule_id}-{third:%Y%m%dT%H%M%S}"
        assert resumed["lastOccurrence"]["outcome"] == "submitted" and resumed["lastOccurrence"]["jobId"] == third_job
        assert host.post(f"/jobs/{third_job}/cancel").status_code == 202
        host.wait_for_job(third_job)

        # Disabled, it fires nothing however far the clock moves.
        instance = status_instance(host, schedule_id)
        assert host.post(f"/schedules/{schedule_id}/disable").status_code == 200
        host.wait_until(
            lambda: host.durable_status(instance).json()["runtimeStatus"] != "Running",
            what="the schedule's orchestration to stop",
        )
        advance_to(host, third + timedelta(minutes=3))
        assert schedule_jobs(host, schedule_id) == [job_id, third_job]
        assert view(host, schedule_id)["lastOccurrence"]["time"] == iso(third)
    finally:
        host.delete(f"/schedules/{schedule_id}")


def status_instance(host: BatchHost, schedule_id: str) -> str:
    """The schedule's running orchestration, found through the Durable webhook's instance query."""
    response = host.http.get(f"{host.base_url}/runtime/webhooks/durabletask/instances", timeout=30)
    assert response.status_code == 200, response.text
    running = [
        item["instanceId"]
        for item in response.json()
        if item["instanceId"].startswith(f"schedule@{schedule_id}@") and item["runtimeStatus"] in ("Pending", "Running")
    ]
    assert len(running) == 1, f"schedule {schedule_id} has {len(running)} running orchestrations"
    return str(running[0])


def test_a_blob_template_that_became_invalid_is_an_error_in_the_view(host: BatchHost, tmp_path: Path) -> None:
    schedule_id = unique("blob")
    blob = f"templates/{schedule_id}.json"
    path = tmp_path / "template.json"
    path.write_text(json.dumps(quick_template()))
    host.results.upload_file(blob, path)
    created = create(host, {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecificationBlob": blob})
    try:
        assert created["jobSpecificationBlob"] == blob and "jobSpecification" not in created
        first = armed(host, schedule_id)
        path.write_text(json.dumps({"tasks": [{"id": "a", "handler": "no.such.handler"}]}))
        host.results.upload_file(blob, path)
        advance_to(host, first)
        failed = wait_view(host, schedule_id, lambda v: v["lastOccurrence"] is not None, "the first occurrence")
        last = failed["lastOccurrence"]
        assert last["outcome"] == "error" and last["jobId"] is None
        assert "tasks[0].handler" in last["message"] and "no.such.handler" in last["message"]
        assert failed["recentProblems"] == [last]
        assert schedule_jobs(host, schedule_id) == []

        # Fixed, the next occurrence submits again.
        path.write_text(json.dumps(quick_template()))
        host.results.upload_file(blob, path)
        second = first + timedelta(minutes=1)
        wait_view(host, schedule_id, lambda v: v["nextOccurrence"] == iso(second), "the next occurrence")
        advance_to(host, second)
        fixed = wait_view(host, schedule_id, lambda v: v["lastOccurrence"]["time"] == iso(second), "the fix")
        assert fixed["lastOccurrence"]["outcome"] == "submitted"
        assert host.wait_for_job(fixed["lastOccurrence"]["jobId"])["state"] == "succeeded"
        assert fixed["recentProblems"] == [last]
    finally:
        host.delete(f"/schedules/{schedule_id}")


def test_a_changed_copy_of_an_inline_template_runs_nothing_and_the_view_says_why(host: BatchHost) -> None:
    schedule_id = unique("tampered")
    create(host, {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecification": quick_template()})
    try:
        listed = host.get("/files/batch-results", params={"prefix": f"_schedules/{schedule_id}/"}).json()["value"]
        assert len(listed) == 1
        blob = listed[0]["name"]
        injected = template([{"id": "x", "commandLine": ["sh", "-c", "echo injected"]}])
        refused = host.http.put(host.url(f"/files/batch-results/{blob}"), data=json.dumps(injected), timeout=60)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "reservedPath"
        assert view(host, schedule_id)["jobSpecification"] == quick_template()

        # Written to storage directly, as anything holding the account's key could.
        host.results.write_text(blob, json.dumps(injected), "application/json")
        reason = (
            f"the schedule's copy of its template (batch-results/{blob}) is not the template it was created with (its "
            "content does not match the schedule's recorded hash): it was changed outside the API, and nothing is "
            "run from it; delete the schedule and create it again"
        )
        shown = view(host, schedule_id)
        assert "jobSpecification" not in shown and shown["templateError"] == reason
        first = armed(host, schedule_id)
        advance_to(host, first)
        failed = wait_view(host, schedule_id, lambda v: v["lastOccurrence"] is not None, "the first occurrence")
        assert failed["lastOccurrence"] == {"time": iso(first), "jobId": None, "outcome": "error", "message": reason}
        assert schedule_jobs(host, schedule_id) == []
    finally:
        host.delete(f"/schedules/{schedule_id}")


def test_an_occurrences_id_is_refused_to_a_submit_while_its_schedule_exists(host: BatchHost) -> None:
    schedule_id = unique("reserved")
    create(host, {"id": schedule_id, "schedule": "0 0 2 * * *", "jobSpecification": quick_template()})
    try:
        job_id = f"{schedule_id}-20991231T020000"
        answer = host.post("/jobs", json=billing_job(job_id, 1))
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        message = (
            f"'{job_id}' is the id of the occurrence at 2099-12-31T02:00:00.000Z of schedule '{schedule_id}': ids "
            f"'{schedule_id}-{{YYYYmmddTHHMMSS}}' are reserved for that schedule's jobs; choose another id"
        )
        assert error["code"] == "invalidJobSpec" and error["details"] == [{"path": "id", "message": message}]
        assert host.get(f"/jobs/{job_id}").status_code == 404
    finally:
        host.delete(f"/schedules/{schedule_id}")
    # Without the schedule, the id is anyone's.
    assert host.post("/jobs", json=billing_job(job_id, 1)).status_code == 202
    host.wait_for_job(job_id)
    assert host.delete(f"/jobs/{job_id}").status_code == 204


def test_an_occurrence_whose_id_was_taken_before_the_schedule_existed_says_so(host: BatchHost) -> None:
    schedule_id = unique("taken")
    first = next_minute(host_now(host))
    job_id = f"{schedule_id}-{first:%Y%m%dT%H%M%S}"
    assert host.post("/jobs", json=billing_job(job_id, 1)).status_code == 202
    host.wait_for_job(job_id)
    create(host, {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecification": quick_template()})
    try:
        assert armed(host, schedule_id) == first
        advance_to(host, first)
        failed = wait_view(host, schedule_id, lambda v: v["lastOccurrence"] is not None, "the first occurrence")
        assert failed["lastOccurrence"]["outcome"] == "error" and failed["recentProblems"] == [failed["lastOccurrence"]]
        assert failed["lastOccurrence"]["message"] == (
            f"the occurrence's job id '{job_id}' is taken by a job that is not this schedule's (it has another spec): "
            "nothing was submitted for this occurrence; delete or rename that job to free the id"
        )
        assert host.get(f"/jobs/{job_id}").json()["taskCounts"]["total"] == 1
    finally:
        host.delete(f"/schedules/{schedule_id}")
        host.delete(f"/jobs/{job_id}")


def test_a_restarted_host_fires_each_occurrence_once(azurite: Azurite, tmp_path: Path) -> None:
    schedule_id = unique("restart")
    state = tmp_path / "state"
    first_host = start_batch_host(azurite, state, manual_clock=True)
    try:
        create(first_host, {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecification": quick_template()})
        first = armed(first_host, schedule_id)
        advance_to(first_host, first)
        fired = wait_view(first_host, schedule_id, lambda v: v["lastOccurrence"] is not None, "the occurrence")
        first_host.wait_for_job(fired["lastOccurrence"]["jobId"])
        wait_view(
            first_host,
            schedule_id,
            lambda v: v["nextOccurrence"] == iso(first + timedelta(minutes=1)),
            "the schedule to sleep again",
        )
    finally:
        # A crash, not a shutdown: durable state is all the next host has.
        first_host.process.kill()
        first_host.http.close()
    second_host = start_batch_host(azurite, state, manual_clock=True)
    try:
        # The new host's manual clock starts over; the orchestration's timer is still for the next minute.
        following = first + timedelta(minutes=1)
        advance_to(second_host, following)
        resumed = wait_view(
            second_host, schedule_id, lambda v: v["lastOccurrence"]["time"] == iso(following), "the next occurrence"
        )
        assert resumed["lastOccurrence"]["outcome"] == "submitted"
        second_host.wait_for_job(resumed["lastOccurrence"]["jobId"])
        expected = [f"{schedule_id}-{moment:%Y%m%dT%H%M%S}" for moment in (first, following)]
        assert schedule_jobs(second_host, schedule_id) == expected
    finally:
        second_host.delete(f"/schedules/{schedule_id}")
        second_host.close()


def test_a_schedule_with_an_end_completes(host: BatchHost) -> None:
    schedule_id = unique("window")
    start = next_minute(host_now(host))
    body = {
        "id": schedule_id,
        "schedule": EVERY_MINUTE,
        "jobSpecification": quick_template(),
        "startAt": iso(start),
        "endAt": iso(start + timedelta(seconds=30)),
    }
    create(host, body)
    try:
        wait_view(host, schedule_id, lambda v: v["nextOccurrence"] == iso(start), "the only occurrence")
        advance_to(host, start)
        done = wait_view(host, schedule_id, lambda v: v["state"] == "completed", "the schedule to complete")
        assert done["lastOccurrence"]["outcome"] == "submitted" and done["nextOccurrence"] is None
        host.wait_for_job(done["lastOccurrence"]["jobId"])
        enable = host.post(f"/schedules/{schedule_id}/enable")
        assert enable.status_code == 409 and enable.json()["error"]["code"] == "scheduleCompleted"
    finally:
        host.delete(f"/schedules/{schedule_id}")


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"schedule": EVERY_MINUTE, "jobSpecification": VALID}, {"id"}),
        ({"id": "x", "jobSpecification": VALID}, {"schedule"}),
        ({"id": "x", "schedule": "* * * * *", "jobSpecification": VALID}, {"schedule"}),
        ({"id": "x", "schedule": "0 0 25 * * *", "jobSpecification": VALID}, {"schedule"}),
        ({"id": "x", "schedule": EVERY_MINUTE}, {"jobSpecification"}),
        ({"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": []}, {"jobSpecification"}),
        ({"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": {**VALID, "id": "j"}}, {"jobSpecification.id"}),
        (
            {"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": {"tasks": [{"id": "a", "handler": "nope"}]}},
            {"jobSpecification.tasks[0].handler"},
        ),
        ({"id": "x", "schedule": EVERY_MINUTE, "jobSpecificationBlob": "../up.json"}, {"jobSpecificationBlob"}),
        (
            {"id": "x", "schedule": EVERY_MINUTE, "jobSpecificationBlob": "templates/none.json"},
            {"jobSpecificationBlob"},
        ),
        ({"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": {}, "jobSpecificationBlob": "a.json"}, None),
        ({"id": "x" * 120, "schedule": EVERY_MINUTE, "jobSpecification": VALID}, {"id"}),
        ({"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": VALID, "startAt": "soon"}, {"startAt"}),
        (
            {"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": VALID, "endAt": "2030-01-01T00:00:00"},
            {"endAt"},
        ),
        (
            {
                "id": "x",
                "schedule": EVERY_MINUTE,
                "jobSpecification": VALID,
                "startAt": "2030-01-02T00:00:00Z",
                "endAt": "2030-01-01T00:00:00Z",
            },
            {"endAt"},
        ),
        ({"id": "x", "schedule": EVERY_MINUTE, "jobSpecification": VALID, "shedule": 1}, {"shedule"}),
        ([], {""}),
    ],
)
def test_a_bad_schedule_is_refused_with_the_path_of_each_problem(
    host: BatchHost, body: Any, paths: set[str] | None
) -> None:
    response = host.post("/schedules", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalidSchedule"
    found = {item["path"] for item in error["details"]}
    if paths is None:
        assert found
    else:
        assert found == paths, error
    assert host.get("/schedules/x").status_code == 404


def test_a_blob_template_is_checked_at_creation(host: BatchHost, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    cases = [
        ("[" * 100_000 + "]" * 100_000, "too deeply", "jobSpecificationBlob"),
        ("{", "not valid JSON", "jobSpecificationBlob"),
        (json.dumps({"id": "x", **VALID}), "has an id", "jobSpecificationBlob"),
        (json.dumps({"tasks": [{"id": "a", "handler": "nope"}]}), "nope", "jobSpecificationBlob.tasks[0].handler"),
    ]
    for content, message, where in cases:
        blob = f"templates/{unique('bad')}.json"
        path.write_text(content)
        host.results.upload_file(blob, path)
        response = host.post(
            "/schedules", json={"id": unique("b"), "schedule": EVERY_MINUTE, "jobSpecificationBlob": blob}
        )
        assert response.status_code == 400, response.text
        (detail,) = response.json()["error"]["details"]
        assert detail["path"] == where and message in detail["message"], detail


def test_bad_requests_to_every_schedule_route(host: BatchHost) -> None:
    bad_json = host.http.post(host.url("/schedules"), data=b"{not json", timeout=30)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["details"][0]["path"] == ""
    too_large = host.http.post(host.url("/schedules"), data=b" " * (300 * 1024), timeout=30)
    assert too_large.status_code == 413
    for query in ("top=0", "top=x", "continuationToken=nonsense"):
        response = host.get(f"/schedules?{query}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalidQuery", query
    missing = "no-such-schedule"
    for method, path in (
        ("GET", f"/schedules/{missing}"),
        ("DELETE", f"/schedules/{missing}"),
        ("POST", f"/schedules/{missing}/disable"),
        ("POST", f"/schedules/{missing}/enable"),
        ("GET", "/schedules/bad%20id"),
    ):
        response = host.http.request(method, host.url(path), timeout=30)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "scheduleNotFound"


def test_with_keys_required_every_schedule_route_needs_one(azurite: Azurite, tmp_path: Path) -> None:
    keyed = start_batch_host(azurite, tmp_path / "state", manual_clock=True, extra_args=["--require-keys"])
    schedule_id = unique("keyed")
    try:
        assert keyed.process.keys is not None
        routes = [
            ("POST", "/schedules"),
            ("GET", "/schedules"),
            ("GET", f"/schedules/{schedule_id}"),
            ("POST", f"/schedules/{schedule_id}/disable"),
            ("POST", f"/schedules/{schedule_id}/enable"),
            ("DELETE", f"/schedules/{schedule_id}"),
        ]
        for method, path in routes:
            response = keyed.http.request(method, keyed.url(path), json={}, timeout=30)
            assert response.status_code == 401, (method, path, response.status_code)
        assert keyed.get("/schedules").status_code == 401 and keyed.get(f"/schedules/{schedule_id}").status_code == 401
        keyed.http.headers["x-functions-key"] = keyed.process.keys.function_key
        create(keyed, {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecification": quick_template()})
        # The schedule's own orchestration calls the app's Durable client under the same keys, and fires.
        first = armed(keyed, schedule_id)
        advance_to(keyed, first)
        fired = wait_view(keyed, schedule_id, lambda v: v["lastOccurrence"] is not None, "the occurrence")
        assert fired["lastOccurrence"]["outcome"] == "submitted"
        keyed.wait_for_job(fired["lastOccurrence"]["jobId"])
        assert keyed.delete(f"/schedules/{schedule_id}").status_code == 204
    finally:
        keyed.close()


def test_a_deleted_schedule_fires_nothing_and_its_id_can_be_used_again(host: BatchHost) -> None:
    schedule_id = unique("reuse")
    old = {"id": schedule_id, "schedule": EVERY_MINUTE, "jobSpecification": billing_job(None, tasks=1)}
    create(host, old)
    try:
        armed(host, schedule_id)
        old_instance = status_instance(host, schedule_id)
        assert host.delete(f"/schedules/{schedule_id}").status_code == 204
        host.wait_until(
            lambda: host.durable_status(old_instance).json()["runtimeStatus"] != "Running",
            what="the deleted schedule's orchestration to stop",
        )
        # Another body under the same id is a new schedule, with an orchestration of its own.
        new = {**old, "jobSpecification": billing_job(None, tasks=3)}
        create(host, new)
        first = armed(host, schedule_id)
        new_instance = status_instance(host, schedule_id)
        assert new_instance != old_instance
        advance_to(host, first)
        fired = wait_view(host, schedule_id, lambda v: v["lastOccurrence"] is not None, "the occurrence")
        job = host.wait_for_job(fired["lastOccurrence"]["jobId"])
        assert job["taskCounts"]["total"] == 3
        assert schedule_jobs(host, schedule_id) == [fired["lastOccurrence"]["jobId"]]

        assert host.delete(f"/schedules/{schedule_id}").status_code == 204
        host.wait_until(
            lambda: host.durable_status(new_instance).json()["runtimeStatus"] != "Running",
            what="the deleted schedule's orchestration to stop",
        )
        advance_to(host, first + timedelta(minutes=2))
        assert schedule_jobs(host, schedule_id) == [fired["lastOccurrence"]["jobId"]]
        # Its jobs stay.
        assert host.get(f"/jobs/{fired['lastOccurrence']['jobId']}").status_code == 200
    finally:
        host.delete(f"/schedules/{schedule_id}")
