"""A pool's rate limits through the API on devhost and Azurite: tasks of several jobs that name a key start, all
together, at most `perSecond` in any one-second window plus `burst` (read from the tasks' own start times);
tasks without the key are not held back; a key the pool does not have is refused at submit, with its path."""

from __future__ import annotations

import pytest

from tests.e2e.jobs.support import FeaturesHost
from tests.e2e.pools.support import problems, put_pool, spans, timed_job

pytestmark = pytest.mark.e2e


def most_in_a_second(starts: list[float]) -> int:
    """The most starts in any window [t, t + 1 s) (the busiest window starts at a start)."""
    ordered = sorted(starts)
    return max(sum(1 for s in ordered[i:] if s < first + 1.0) for i, first in enumerate(ordered))


def test_jobs_that_share_a_rate_limit_start_within_it_together(pool_host: FeaturesHost) -> None:
    pool_id = pool_host.unique_id("rated")
    limits = [{"key": "crm", "perSecond": 8, "burst": 2}]
    defined = put_pool(pool_host, pool_id, {"taskSlots": 50, "rateLimits": limits})
    assert defined.status_code == 201, defined.text
    assert defined.json()["rateLimits"] == [{"key": "crm", "perSecond": 8.0, "burst": 2}]
    limited = [
        timed_job(pool_host, f"crm-{n}", pool_id, 20, 0.05, maxParallelTasks=20, rateLimitKey="crm") for n in range(2)
    ]
    free = timed_job(pool_host, "free", pool_id, 40, 0.05, maxParallelTasks=20)
    for job_id in [*limited, free]:
        view = pool_host.wait_for_job(job_id, timeout=120)
        assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == view["taskCounts"]["total"], view
    starts = [start for job_id in limited for start, _ in spans(pool_host, job_id)]
    assert len(starts) == 40
    assert most_in_a_second(starts) <= 8 + 2
    # 40 starts at 8 a second take at least four seconds from the first to the last.
    assert max(starts) - min(starts) >= (40 - 8 - 2) / 8
    # Tasks without the key did not wait their turn: they ran more than the limit allows in some second.
    assert most_in_a_second([start for start, _ in spans(pool_host, free)]) > 10


def test_a_key_the_pool_does_not_have_is_refused_with_its_path(pool_host: FeaturesHost) -> None:
    pool_id = pool_host.unique_id("keys")
    assert put_pool(pool_host, pool_id, {"taskSlots": 2, "rateLimits": [{"key": "crm", "perSecond": 1}]}).ok
    job_id = pool_host.unique_id("unknown-key")
    spec = {
        "id": job_id,
        "poolInfo": {"poolId": pool_id},
        "tasks": [
            {"id": "a", "handler": "test.echo", "input": {"value": 1}, "rateLimitKey": "crm"},
            {"id": "b", "handler": "test.echo", "input": {"value": 2}, "rateLimitKey": "erp"},
        ],
    }
    refused = pool_host.submit(spec)
    assert refused.status_code == 400, refused.text
    assert problems(refused) == [
        ("tasks[1].rateLimitKey", f"pool {pool_id!r} has no rate limit 'erp' (its rate limits: crm)")
    ]
    assert pool_host.get(f"/jobs/{job_id}").status_code == 404


def test_a_running_job_cannot_move_to_a_pool_without_its_rate_limits(pool_host: FeaturesHost) -> None:
    limited = pool_host.unique_id("crm-pool")
    assert put_pool(pool_host, limited, {"taskSlots": 1, "rateLimits": [{"key": "crm", "perSecond": 2}]}).ok
    plain = pool_host.unique_id("plain-pool")
    assert put_pool(pool_host, plain, {"taskSlots": 2}).ok
    job_id = pool_host.unique_id("keyed")
    tasks = [
        {"id": f"t{n}", "handler": "test.sleep", "input": {"seconds": 0.2}, "rateLimitKey": "crm"} for n in range(10)
    ]
    assert pool_host.submit({"id": job_id, "poolInfo": {"poolId": limited}, "tasks": tasks}).status_code == 202
    pool_host.wait_until(lambda: pool_host.get(f"/pools/{limited}").json()["jobs"], what="the job in its pool")
    refused = pool_host.http.patch(pool_host.url(f"/jobs/{job_id}"), json={"poolInfo": {"poolId": plain}}, timeout=60)
    assert refused.status_code == 400, refused.text
    assert problems(refused) == [
        ("tasks[0].rateLimitKey", f"pool {plain!r} has no rate limit 'crm' (its rate limits: none)")
    ] + [(f"tasks[{n}].rateLimitKey", problems(refused)[n][1]) for n in range(1, 10)]
    view = pool_host.wait_for_job(job_id)
    assert view["poolInfo"] == {"poolId": limited} and view["taskCounts"]["succeeded"] == 10


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (
            [{"key": "crm", "perSecond": 0}],
            ("rateLimits[0].perSecond", "must be more than 0 and at most 100,000, not 0"),
        ),
        (
            [{"key": "crm", "perSecond": -5}],
            ("rateLimits[0].perSecond", "must be more than 0 and at most 100,000, not -5"),
        ),
        ([{"key": "crm", "perSecond": "50"}], ("rateLimits[0].perSecond", "must be a number, not a string")),
        ([{"key": "crm", "perSecond": 5, "burst": 1.5}], ("rateLimits[0].burst", "must be an integer, not a number")),
        ([{"key": "crm", "perSecond": 5, "burst": -1}], ("rateLimits[0].burst", "must be from 0 to 100,000, not -1")),
        (
            [{"perSecond": 5}],
            ("rateLimits[0].key", "missing required field: the name tasks give as their rateLimitKey"),
        ),
        (
            [{"key": "crm", "perSecond": 5}, {"key": "crm", "perSecond": 6}],
            ("rateLimits[1].key", "duplicate key 'crm' (first in rateLimits[0])"),
        ),
        ({"crm": 5}, ("rateLimits", "must be an array of rate limits, not an object")),
        (
            [{"key": "crm", "perSecond": 5, "per": 1}],
            ("rateLimits[0].per", "unknown field 'per'; known fields: burst, key, perSecond"),
        ),
    ],
)
def test_a_bad_rate_limit_is_refused_naming_the_field(
    pool_host: FeaturesHost, limits: object, expected: tuple[str, str]
) -> None:
    pool_id = pool_host.unique_id("bad-rate")
    refused = put_pool(pool_host, pool_id, {"taskSlots": 3, "rateLimits": limits})
    assert refused.status_code == 400, refused.text
    assert problems(refused) == [expected]
    assert pool_host.get(f"/pools/{pool_id}").status_code == 404
