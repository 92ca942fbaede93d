"""Jobs run from an app's own orchestration (`durable_batch.run_job`), on devhost + Azurite through real HTTP:
the features app's `test_run_job` orchestration, started through the Durable management API as a user would,
and the reference app's month-end close (two example jobs in a pipeline), started through its own route."""

from __future__ import annotations

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.batch_host import BatchHost
from tests.e2e.jobs.support import FeaturesHost, all_succeeded, echo, failing

pytestmark = pytest.mark.e2e

ENDED = {"Completed", "Failed", "Terminated"}


def start(host: BatchHost, value: dict[str, Any]) -> str:
    instance_id = f"run-{uuid.uuid4().hex[:10]}"
    url = f"{host.base_url}/runtime/webhooks/durabletask/orchestrators/test_run_job/{instance_id}"
    response = host.http.post(url, json=value, timeout=60)
    assert response.status_code == 202, response.text
    return instance_id


def finished(host: BatchHost, instance_id: str, timeout: float = 90.0) -> dict[str, Any]:
    """The instance's status once it has ended."""
    deadline = time.monotonic() + timeout
    while True:
        response = host.durable_status(instance_id)
        assert response.status_code in (200, 202), response.text
        status: dict[str, Any] = response.json()
        if status["runtimeStatus"] in ENDED:
            return status
        assert time.monotonic() < deadline, f"{instance_id} still {status['runtimeStatus']}: {status}"
        time.sleep(0.2)


def test_two_orchestrations_that_run_the_same_job_share_one_run_of_it(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("shared")
    spec = {"id": job_id, "tasks": [echo(f"t{n}", n) for n in range(6)], "reduce": {"handler": "test.sum"}}
    first, second = start(features_host, {"spec": spec}), start(features_host, {"spec": spec})
    outputs = [finished(features_host, first), finished(features_host, second)]
    assert [item["runtimeStatus"] for item in outputs] == ["Completed", "Completed"], outputs
    outcome = outputs[0]["output"]
    assert outputs[1]["output"] == outcome
    assert (outcome["id"], outcome["state"], outcome["finished"]) == (job_id, "succeeded", True)
    assert outcome["taskCounts"] == all_succeeded(6)
    assert outcome["reduce"]["sum"] == sum(range(6)) and outcome["reduce"]["count"] == 6
    assert outcome["results"]["summaryBlob"] == f"{features_host.results.job_prefix(job_id)}summary.json"
    # One job, each task run once: the second submit found the first one's job.
    assert all(features_host.calls(job_id, f"t{n}") == 1 for n in range(6))
    view = features_host.get(f"/jobs/{job_id}").json()
    assert (view["state"], view["taskCounts"]) == ("succeeded", outcome["taskCounts"])
    assert (view["reduce"]["result"], view["reduce"]["resultBlob"]) == (outcome["reduce"], outcome["reduceBlob"])


def test_a_job_without_an_id_gets_one_and_a_failed_job_is_the_outcome(features_host: FeaturesHost) -> None:
    spec = {"tasks": [echo("ok", 1), failing("bad")], "toleratedFailurePercentage": 0}
    status = finished(features_host, start(features_host, {"spec": spec}))
    assert status["runtimeStatus"] == "Completed", status["output"]
    outcome = status["output"]
    assert outcome["id"].startswith("job-") and (outcome["state"], outcome["failedTasks"]) == ("failed", ["bad"])
    view = features_host.get(f"/jobs/{outcome['id']}").json()
    assert (view["state"], view["failedTasks"]) == ("failed", ["bad"])


def test_a_refused_spec_fails_the_orchestration_with_the_apis_message_and_starts_nothing(
    features_host: FeaturesHost,
) -> None:
    job_id = features_host.unique_id("refused")
    spec = {"id": job_id, "tasks": [{"id": "a", "handler": "no.such.handler"}]}
    caught = finished(features_host, start(features_host, {"spec": spec, "catch": True}))
    assert caught["runtimeStatus"] == "Completed"
    error = caught["output"]["error"]
    assert error["code"] == "invalidJobSpec" and [item["path"] for item in error["details"]] == ["tasks[0].handler"]
    failed = finished(features_host, start(features_host, {"spec": spec}))
    assert failed["runtimeStatus"] == "Failed"
    assert "no.such.handler" in str(failed["output"]) and job_id in str(failed["output"])
    assert features_host.get(f"/jobs/{job_id}").status_code == 404


def month_end(host: BatchHost, body: Any) -> Any:
    return host.http.post(f"{host.api}/pipelines/month-end", json=body, timeout=60)


def test_the_month_end_close_runs_the_etl_job_then_billing(batch_host: BatchHost) -> None:
    seed = random.randrange(10**6, 10**7)  # jobs are named by their parameters: this run's are its own
    body = {"period": "2026-10", "seed": seed, "stores": 8, "customers": 5}
    response = month_end(batch_host, body)
    assert response.status_code == 202, response.text
    links = response.json()
    instance_id = f"month-end-2026-10-s{seed}-e8-b5"
    assert links["id"] == instance_id
    status = finished(batch_host, instance_id, timeout=180)
    assert status["runtimeStatus"] == "Completed", status["output"]
    output = status["output"]
    etl, billing = output["etl"], output["billing"]
    assert (etl["id"], etl["state"], etl["reduce"]["reconciled"]) == (f"etl-2026-10-s{seed}-n8", "succeeded", True)
    assert (billing["id"], billing["state"]) == (f"billing-2026-10-s{seed}-n5", "succeeded")
    assert billing["reduce"]["invoices"] == 5
    for job in (etl, billing):
        view = batch_host.get(f"/jobs/{job['id']}").json()
        assert (view["state"], view["reduce"]["resultBlob"]) == ("succeeded", job["reduceBlob"])
    # The same close again: the completed instance, nothing started twice.
    again = month_end(batch_host, body)
    assert again.status_code == 200 and again.json()["id"] == instance_id
    assert finished(batch_host, instance_id)["output"] == output


def test_requests_for_the_same_close_at_once_all_get_its_links(batch_host: BatchHost) -> None:
    seed = random.randrange(10**6, 10**7)
    body = {"period": "2026-11", "seed": seed, "stores": 1, "customers": 1}
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: month_end(batch_host, body), range(4)))
    assert all(a.status_code in (200, 202) for a in answers), [(a.status_code, a.text) for a in answers]
    instance_id = f"month-end-2026-11-s{seed}-e1-b1"
    assert {a.json()["id"] for a in answers} == {instance_id}
    assert finished(batch_host, instance_id, timeout=180)["runtimeStatus"] == "Completed"


def test_a_bad_month_end_request_is_a_400_naming_the_field(batch_host: BatchHost) -> None:
    response = month_end(batch_host, {"period": "2026-10", "stores": 0})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"] == [{"path": "stores", "message": "expected an integer from 1 to 2000, got 0"}]
