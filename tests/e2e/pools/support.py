"""What the pool tests share: defining a pool, reading an error answer's problems, and jobs of `test.timed` tasks
(the batch_features app's), whose concurrency is read from the tasks' own start and end times."""

from __future__ import annotations

from typing import Any

import requests

from devtools.overlap import overlap
from tests.e2e.batch_host import BatchHost
from tests.e2e.jobs.support import FeaturesHost


def put_pool(host: BatchHost, pool_id: str, body: Any) -> requests.Response:
    """`PUT /api/pools/{pool_id}` with `body` as JSON."""
    return host.http.put(host.url(f"/pools/{pool_id}"), json=body, timeout=60)


def define_pool(host: BatchHost, slots: int) -> str:
    """A new pool of `slots` task slots, with a unique id; returns the id."""
    pool_id = host.unique_id("pool")
    response = put_pool(host, pool_id, {"taskSlots": slots})
    assert response.status_code == 201, response.text
    return pool_id


def problems(response: requests.Response) -> list[tuple[str, str]]:
    """An error answer's details as (path, message) pairs."""
    return [(d["path"], d["message"]) for d in response.json()["error"]["details"]]


def timed_job(host: FeaturesHost, stem: str, pool_id: str, tasks: int, seconds: float, **fields: Any) -> str:
    """Submit a job of `tasks` sleeping tasks of a call each in `pool_id`; returns its id."""
    job_id = host.unique_id(stem)
    spec = {
        "id": job_id,
        "poolInfo": {"poolId": pool_id},
        "taskBatchSize": 1,
        "tasks": [{"id": f"t{n:03d}", "handler": "test.timed", "input": {"seconds": seconds}} for n in range(tasks)],
        **fields,
    }
    response = host.submit(spec)
    assert response.status_code == 202, response.text
    return job_id


def spans(host: FeaturesHost, job_id: str) -> list[tuple[float, float]]:
    """(start, end) of each task of the job, as its handler measured them."""
    return [
        (result["start"], result["end"])
        for result in (host.task(job_id, task_id)["result"] for task_id in host.tasks_of(job_id))
    ]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one moment (`devtools.overlap`)."""
    return overlap(intervals).most


def succeeded(host: FeaturesHost, job_id: str) -> int:
    return int(host.get(f"/jobs/{job_id}").json()["taskCounts"]["succeeded"])
