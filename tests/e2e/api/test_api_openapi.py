"""The document the app serves, and the answers of every route, success and error, checked against it."""

from __future__ import annotations

import pytest

from durable_batch.api.openapi import document
from tests.e2e.api.jobs import billing_job
from tests.e2e.batch_host import BatchHost
from tests.openapi_check import OpenApiChecker

pytestmark = pytest.mark.e2e


def test_the_app_serves_its_openapi_document(batch_host: BatchHost) -> None:
    response = batch_host.get("/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    assert response.json() == document()


def test_every_route_answers_as_the_document_says(batch_host: BatchHost) -> None:
    checker = OpenApiChecker()
    batch_host.http.hooks["response"].append(checker)
    try:
        job_id = batch_host.unique_id("openapi")
        spec = billing_job(job_id, 3)
        assert batch_host.submit(spec).status_code == 202
        assert batch_host.submit(spec).status_code == 200
        batch_host.wait_for_job(job_id)
        answers = [
            batch_host.submit({**spec, "maxParallelTasks": 7}),  # 409
            batch_host.submit({"id": "x", "tasks": [{"id": "a", "handler": "nope"}]}),  # 400
            batch_host.post("/jobs", data=b"{not json", headers={"Content-Type": "application/json"}),
            batch_host.get("/jobs"),
            batch_host.get("/jobs?state=succeeded&top=1"),
            batch_host.get("/jobs?state=bogus"),
            batch_host.get("/jobs?top=0"),
            batch_host.get("/jobs?continuationToken=forged"),
            batch_host.get(f"/jobs/{job_id}"),
            batch_host.get("/jobs/no-such-job"),
            batch_host.get(f"/jobs/{job_id}/tasks"),
            batch_host.get(f"/jobs/{job_id}/tasks?state=succeeded&top=1"),
            batch_host.get(f"/jobs/{job_id}/tasks?state=bogus"),
            batch_host.get("/jobs/no-such-job/tasks"),
            batch_host.get(f"/jobs/{job_id}/tasks/inv-000001"),
            batch_host.get(f"/jobs/{job_id}/tasks/ghost"),
            batch_host.post(f"/jobs/{job_id}/cancel"),  # 409: finished
            batch_host.post("/jobs/no-such-job/cancel"),
            batch_host.get("/openapi.json"),
            batch_host.get("/files/batch-results", params={"prefix": f"_jobs/{job_id}/"}),
            batch_host.get("/files/batch-results", params={"prefix": "../x"}),
            batch_host.get("/files/private"),
            batch_host.get(f"/files/batch-results/_jobs/{job_id}/job.json"),
            batch_host.get("/files/batch-results/inputs/missing.txt"),
            batch_host.http.put(batch_host.url("/files/batch-inputs/openapi/a.txt"), data=b"a", timeout=60),
            batch_host.http.put(batch_host.url(f"/files/batch-results/_jobs/{job_id}/job.json"), data=b"x", timeout=60),
            batch_host.delete(f"/jobs/{job_id}"),
            batch_host.delete("/jobs/no-such-job"),
        ]
        statuses = {response.status_code for response in answers}
        assert {200, 201, 204, 400, 403, 404, 409} <= statuses
    finally:
        batch_host.http.hooks["response"].remove(checker)
    checker.assert_clean()
    described = {method for method, _, _ in checker.checked}
    assert {"GET", "POST", "PUT", "DELETE"} <= described
    assert len(checker.checked) >= len(answers)
