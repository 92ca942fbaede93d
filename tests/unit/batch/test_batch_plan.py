"""Partitioning a job and sharing its parallelism cap among partitions."""

from __future__ import annotations

import random

import pytest

from durable_batch.batch.errors import PlanError
from durable_batch.batch.graph import weak_components
from durable_batch.batch.plan import (
    DEFAULT_PARTITION_SIZE,
    PER_CALL_PARTITION_SIZE,
    JobPlan,
    Partition,
    concurrency_shares,
    partition_size_for,
    plan_job,
    plan_tasks,
)
from durable_batch.batch.spec import JobSpec, TaskSpec

pytestmark = pytest.mark.unit


def check_invariants(dependencies: list[list[int]], size: int) -> JobPlan:
    plan = plan_tasks(dependencies, size)
    n = len(dependencies)
    assert plan.task_count == n and plan.partition_size == size
    assert [p.index for p in plan.partitions] == list(range(len(plan.partitions)))
    # Every task in exactly one partition.
    assert sorted(i for p in plan.partitions for i in p.task_indexes()) == list(range(n))
    # Dependencies never cross partitions.
    owner = plan.partition_of()
    assert all(owner[i] == owner[d] for i, deps in enumerate(dependencies) for d in deps)
    labels = weak_components(n, dependencies)
    for partition in plan.partitions:
        # Ranges are ascending, non-empty and do not touch (else they would have been merged).
        for (start, stop), (next_start, _) in zip(partition.ranges, partition.ranges[1:], strict=False):
            assert start < stop < next_start
        # Over the size only when the partition is one component that is bigger than the size.
        if partition.size > size:
            assert len({labels[i] for i in partition.task_indexes()}) == 1
    # Packed in task order: partitions start at increasing first tasks, and a partition was closed only
    # because the next component did not fit in it.
    firsts = [p.ranges[0][0] for p in plan.partitions]
    assert firsts == sorted(firsts)
    component_sizes = [labels.count(label) for label in range(max(labels, default=-1) + 1)]
    for previous, following in zip(plan.partitions, plan.partitions[1:], strict=False):
        assert previous.size + component_sizes[labels[following.ranges[0][0]]] > size
    return plan


def test_independent_tasks_are_contiguous_ranges() -> None:
    plan = check_invariants([[] for _ in range(10)], 3)
    assert [p.ranges for p in plan.partitions] == [((0, 3),), ((3, 6),), ((6, 9),), ((9, 10),)]


def test_connected_tasks_stay_together_even_when_interleaved() -> None:
    # 0-2-4 and 1-3 are chains; 5 and 6 are on their own.
    plan = check_invariants([[], [], [0], [1], [2], [], []], 3)
    assert [p.ranges for p in plan.partitions] == [((0, 1), (2, 3), (4, 5)), ((1, 2), (3, 4), (5, 6)), ((6, 7),)]


def test_a_component_larger_than_the_size_is_a_partition_of_its_own() -> None:
    deps: list[list[int]] = [[], [], [1], [2], [3], []]  # 1..4 is a chain of four
    plan = check_invariants(deps, 2)
    assert [p.ranges for p in plan.partitions] == [((0, 1),), ((1, 5),), ((5, 6),)]
    assert plan.partitions[1].size == 4


def test_a_component_joined_through_a_later_task_counts_as_one() -> None:
    # 0 and 1 only become connected through task 2, which depends on both.
    plan = check_invariants([[], [], [0, 1], []], 3)
    assert [p.ranges for p in plan.partitions] == [((0, 3),), ((3, 4),)]


@pytest.mark.parametrize("seed", range(25))
def test_partition_invariants_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 400)
    density = rng.choice([0.0, 0.002, 0.01, 0.05])
    dependencies = [[j for j in range(n) if j != i and rng.random() < density] for i in range(n)]
    check_invariants(dependencies, rng.randint(1, 60))


def test_plan_job_uses_task_ids_and_round_trips_through_json() -> None:
    tasks = tuple(TaskSpec(f"t{i}", "noop", depends_on=(f"t{i - 1}",) if i % 4 else ()) for i in range(10))
    plan = plan_job(JobSpec("j", tasks), partition_size=4)
    assert [p.ranges for p in plan.partitions] == [((0, 4),), ((4, 8),), ((8, 10),)]
    assert JobPlan.from_json(plan.to_json()) == plan
    assert Partition.from_json({"index": 2, "ranges": [[8, 10]]}) == plan.partitions[2]
    assert plan.to_json()["partitions"][0] == {"index": 0, "ranges": [[0, 4]]}


def test_a_100k_task_job_plans_compactly() -> None:
    plan = plan_tasks([[] for _ in range(100_000)])
    assert len(plan.partitions) == 100_000 // DEFAULT_PARTITION_SIZE
    assert all(len(p.ranges) == 1 and p.size == DEFAULT_PARTITION_SIZE for p in plan.partitions)
    chain = plan_tasks([[i - 1] if i else [] for i in range(100_000)])
    assert [p.ranges for p in chain.partitions] == [((0, 100_000),)]


def test_partition_size_must_be_positive() -> None:
    with pytest.raises(PlanError):
        plan_tasks([[]], 0)


@pytest.mark.parametrize("max_parallel", [1, 2, 3, 7, 50, 100, 199, 200])
@pytest.mark.parametrize("running", [0, 1, 2, 3, 6, 7, 8, 64, 199, 200, 201, 1000])
def test_concurrency_shares_never_exceed_the_cap(max_parallel: int, running: int) -> None:
    shares = concurrency_shares(max_parallel, running)
    assert len(shares) == min(running, max_parallel)
    assert sum(shares) <= max_parallel
    if running:
        assert sum(shares) == max_parallel
        assert min(shares) >= 1
        assert max(shares) - min(shares) <= 1
        assert shares == sorted(shares, reverse=True)


def test_concurrency_shares_examples() -> None:
    assert concurrency_shares(200, 20) == [10] * 20
    assert concurrency_shares(10, 3) == [4, 3, 3]
    assert concurrency_shares(3, 5) == [1, 1, 1]
    assert concurrency_shares(5, 0) == []


def test_concurrency_shares_reject_nonsense() -> None:
    with pytest.raises(PlanError):
        concurrency_shares(0, 1)
    with pytest.raises(PlanError):
        concurrency_shares(1, -1)


def test_jobs_whose_tasks_get_a_call_each_get_smaller_partitions() -> None:
    handlers = tuple(TaskSpec(id=f"h{i}", handler="t.ok", input=i) for i in range(3))
    commands = tuple(TaskSpec(id=f"c{i}", command_line=("true",)) for i in range(3))
    assert partition_size_for(JobSpec(id="batched", tasks=handlers), 2000) == 2000
    assert (
        partition_size_for(JobSpec(id="one-call", tasks=handlers, task_batch_size=1), 2000) == PER_CALL_PARTITION_SIZE
    )
    assert partition_size_for(JobSpec(id="commands", tasks=commands), 2000) == PER_CALL_PARTITION_SIZE
    assert partition_size_for(JobSpec(id="mixed", tasks=handlers + commands), 2000) == 2000
    mixed_calls = JobSpec(id="mixed-calls", tasks=handlers + commands, task_batch_size=1)
    assert partition_size_for(mixed_calls, 2000) == PER_CALL_PARTITION_SIZE
    # A smaller configured size stays.
    assert partition_size_for(JobSpec(id="small", tasks=commands), 40) == 40
