"""The pool routes over real HTTP: define, read, list, redefine and delete pools; every bad input a 4xx that says
what is wrong and where; jobs that name a pool and a priority, and the checks a submit and a PATCH make."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.batch_host import BatchHost
from tests.e2e.pools.support import problems, put_pool

pytestmark = pytest.mark.e2e


def test_a_pool_is_defined_read_listed_redefined_and_deleted(batch_host: BatchHost) -> None:
    pool_id = batch_host.unique_id("pool")
    created = put_pool(batch_host, pool_id, {"taskSlots": 5})
    assert created.status_code == 201, created.text
    view = created.json()
    assert created.headers["Location"] == view["links"]["self"] == batch_host.url(f"/pools/{pool_id}")
    assert (view["id"], view["taskSlots"], view["slotsInUse"], view["jobs"], view["jobsWaiting"]) == (
        pool_id,
        5,
        0,
        [],
        0,
    )
    assert view["created"] == view["updated"]

    redefined = put_pool(batch_host, pool_id, {"taskSlots": 7})
    assert redefined.status_code == 200, redefined.text
    assert redefined.json()["taskSlots"] == 7
    read = batch_host.get(f"/pools/{pool_id}")
    assert read.status_code == 200 and read.json()["taskSlots"] == 7
    assert read.json()["created"] == view["created"]

    listed = batch_host.get("/pools?top=1000").json()
    ids = [pool["id"] for pool in listed["value"]]
    assert ids[0] == "default" and pool_id in ids and listed["continuationToken"] is None
    default = listed["value"][0]
    assert default["taskSlots"] == 1000 and default["created"] is None

    assert batch_host.delete(f"/pools/{pool_id}").status_code == 204
    gone = batch_host.get(f"/pools/{pool_id}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "poolNotFound"
    assert batch_host.delete(f"/pools/{pool_id}").status_code == 404


def test_lists_of_pools_page_in_id_order(batch_host: BatchHost) -> None:
    stem = batch_host.unique_id("page")
    for n in range(3):
        assert put_pool(batch_host, f"{stem}-{n}", {"taskSlots": n + 1}).status_code == 201
    seen: list[str] = []
    link: str | None = "/pools?top=2"
    while link:
        page = batch_host.get(link).json()
        seen += [pool["id"] for pool in page["value"]]
        link = page["nextLink"]
    assert [i for i in seen if i.startswith(stem)] == [f"{stem}-0", f"{stem}-1", f"{stem}-2"]
    assert seen.count("default") == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"taskSlots": 0}, [("taskSlots", "must be from 1 to 100,000, not 0")]),
        ({"taskSlots": -3}, [("taskSlots", "must be from 1 to 100,000, not -3")]),
        ({"taskSlots": 100_001}, [("taskSlots", "must be from 1 to 100,000, not 100,001")]),
        ({"taskSlots": 2.5}, [("taskSlots", "must be an integer, not a number")]),
        ({"taskSlots": "8"}, [("taskSlots", "must be an integer, not a string")]),
        ({"taskSlots": True}, [("taskSlots", "must be an integer, not a boolean")]),
        (
            {},
            [("taskSlots", "missing required field: how many tasks of the pool's jobs may run at once")],
        ),
        (
            {"taskSlots": 3, "slots": 4},
            [("slots", "unknown field 'slots' (did you mean 'taskSlots'?)")],
        ),
        (
            {"taskSlots": 3, "size": 4},
            [("size", "unknown field 'size'; known fields: rateLimits, taskSlots")],
        ),
        ([3], [("", "must be a pool definition (a JSON object), not an array")]),
    ],
)
def test_a_bad_pool_is_refused_saying_what_and_where(batch_host: BatchHost, body: Any, expected: Any) -> None:
    pool_id = batch_host.unique_id("bad")
    response = put_pool(batch_host, pool_id, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalidPool"
    assert problems(response) == expected
    assert batch_host.get(f"/pools/{pool_id}").status_code == 404, "a refused pool was created"


def test_bad_pool_ids_bodies_and_deletes_get_clear_errors(batch_host: BatchHost) -> None:
    bad_id = batch_host.http.put(batch_host.url("/pools/-x"), json={"taskSlots": 1}, timeout=60)
    assert bad_id.status_code == 400 and problems(bad_id)[0][0] == "poolId"
    assert batch_host.get("/pools/-x").status_code == 400
    not_json = batch_host.http.put(batch_host.url("/pools/p-json"), data=b"{", timeout=60)
    assert not_json.status_code == 400 and "not valid JSON" in problems(not_json)[0][1]
    huge = batch_host.http.put(batch_host.url("/pools/p-huge"), data=b" " * (64 * 1024 + 1), timeout=60)
    assert huge.status_code == 413, huge.text
    refused = batch_host.delete("/pools/default")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "defaultPool"
    missing = batch_host.get("/pools/no-such-pool")
    assert missing.status_code == 404 and "PUT /api/pools/{poolId}" in missing.json()["error"]["message"]


def test_a_job_runs_in_the_pool_it_names_with_its_priority(batch_host: BatchHost) -> None:
    pool_id = batch_host.unique_id("runs")
    assert put_pool(batch_host, pool_id, {"taskSlots": 3}).status_code == 201
    job_id = batch_host.unique_id("pooled")
    spec = {
        "id": job_id,
        "poolInfo": {"poolId": pool_id},
        "priority": -7,
        "tasks": [{"id": f"t{n}", "handler": "builtin.echo", "input": n} for n in range(20)],
    }
    submitted = batch_host.submit(spec)
    assert submitted.status_code == 202, submitted.text
    assert (submitted.json()["poolInfo"], submitted.json()["priority"]) == ({"poolId": pool_id}, -7)
    view = batch_host.wait_for_job(job_id)
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 20
    assert (view["poolInfo"], view["priority"]) == ({"poolId": pool_id}, -7)
    # The job's partitions gave back what they held, and the job left the pool.
    pool = batch_host.get(f"/pools/{pool_id}").json()
    assert (pool["slotsInUse"], pool["jobs"]) == (0, [])
    # A job in the default pool says so.
    plain = batch_host.unique_id("plain")
    batch_host.submit({"id": plain, "tasks": [{"id": "a", "handler": "builtin.echo", "input": 1}]})
    assert batch_host.wait_for_job(plain)["poolInfo"] == {"poolId": "default"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"poolInfo": {"poolId": "no-such-pool"}},
            ("poolInfo.poolId", "no pool has the id 'no-such-pool': define it first with PUT /api/pools/no-such-pool"),
        ),
        ({"poolInfo": {"poolId": 3}}, ("poolInfo.poolId", "must be a string, not an integer")),
        ({"poolInfo": {}}, ("poolInfo.poolId", "missing required field")),
        ({"poolInfo": {"poolId": "default", "x": 1}}, ("poolInfo.x", "unknown field 'x'; known fields: poolId")),
        ({"poolInfo": "default"}, ("poolInfo", "must be a pool reference (a JSON object), not a string")),
        ({"priority": 1001}, ("priority", "must be from -1,000 to 1,000, not 1,001")),
        ({"priority": 0.5}, ("priority", "must be an integer, not a number")),
    ],
)
def test_a_job_with_a_bad_pool_or_priority_is_refused(
    batch_host: BatchHost, fields: dict[str, Any], expected: tuple[str, str]
) -> None:
    job_id = batch_host.unique_id("refused")
    response = batch_host.submit({"id": job_id, "tasks": [{"id": "a", "handler": "builtin.echo"}], **fields})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalidJobSpec"
    assert problems(response) == [expected]
    assert batch_host.get(f"/jobs/{job_id}").status_code == 404, "a refused job was created"
