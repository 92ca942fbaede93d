"""Batch sizing: how many tasks a batch holds and how many task slots, from what earlier batches measured."""

from __future__ import annotations

import itertools
import math

import pytest

from durable_batch.batch.batching import MAX_BATCH, MIN_BATCH_SECONDS, TARGET_BATCH_SECONDS, BatchPlan, plan_batch

pytestmark = pytest.mark.unit


def test_a_command_is_a_batch_of_its_own() -> None:
    assert plan_batch("command", 30.0, ready=100, free_slots=50, share=50) == BatchPlan(1, 1)


def test_async_tasks_take_a_chunk_and_an_even_split_of_the_share() -> None:
    assert plan_batch("async", None, ready=2000, free_slots=400, share=400) == BatchPlan(500, 100)
    assert plan_batch("async", 0.05, ready=300, free_slots=60, share=60) == BatchPlan(500, 60)
    assert plan_batch("async", None, ready=2000, free_slots=7, share=400) == BatchPlan(500, 7)


def test_sync_tasks_not_timed_yet_are_probed_one_at_a_time() -> None:
    assert plan_batch("handler", None, ready=2000, free_slots=400, share=400) == BatchPlan(1, 1)


@pytest.mark.parametrize("mean", [1.5, 2.0, 600.0])
def test_long_sync_tasks_get_a_call_and_a_slot_each(mean: float) -> None:
    # A slot of a batch would wait for the batch's longest task with nothing to run.
    assert plan_batch("handler", mean, ready=2000, free_slots=400, share=400) == BatchPlan(1, 1)


def test_trivial_sync_tasks_run_a_chunk_one_after_another_on_one_slot() -> None:
    # 0.1 ms each: a slot needs 2,000 of them for MIN_BATCH_SECONDS of work, so a chunk is one slot's work.
    assert plan_batch("handler", 0.0001, ready=2000, free_slots=200, share=200) == BatchPlan(500, 1, 2000)


def test_sync_tasks_that_wait_spread_over_the_free_slots() -> None:
    # 2,000 tasks of 50 ms under a cap of 400 (the benchmark's job), once a probe has returned: 6 tasks a
    # slot (the ready tasks over the free slots), so a chunk of 500 holds 84 slots.
    assert plan_batch("handler", 0.05, ready=1998, free_slots=399, share=400) == BatchPlan(500, 84, 6)
    # The last chunk, with the other three running: the same spread.
    assert plan_batch("handler", 0.05, ready=500, free_slots=100, share=400) == BatchPlan(500, 100, 5)


def test_a_batch_aims_at_the_target_time_given_its_slots() -> None:
    # Plenty of tasks for few slots: each slot runs TARGET_BATCH_SECONDS of them (40 of 50 ms).
    assert plan_batch("handler", 0.05, ready=2000, free_slots=4, share=16) == BatchPlan(160, 4, 40)
    plan = plan_batch("handler", 0.05, ready=2000, free_slots=16, share=16)
    assert plan == BatchPlan(500, 13, 40)  # a chunk at most: 13 slots of 40 tasks hold it
    assert plan.size * 0.05 / plan.slots == pytest.approx(TARGET_BATCH_SECONDS, rel=0.05)


def test_a_slot_gets_at_least_the_minimum_work() -> None:
    # 100 tasks of 10 ms and 400 free slots: 20 tasks (0.2 s) a slot, so 5 slots, not 100.
    assert plan_batch("handler", 0.01, ready=100, free_slots=400, share=400) == BatchPlan(100, 5, 20)


def test_a_fixed_batch_size_keeps_its_size_and_gets_slots() -> None:
    # Not timed yet: the even split of the share, as for async tasks.
    assert plan_batch("handler", None, ready=100, free_slots=10, share=10, fixed=20) == BatchPlan(20, 2)
    assert plan_batch("handler", None, ready=5, free_slots=3, share=3, fixed=1) == BatchPlan(1, 1)
    # Timed: the minimum work per slot holds; trivial tasks stay on one slot.
    assert plan_batch("handler", 0.0001, ready=100, free_slots=10, share=10, fixed=20) == BatchPlan(20, 1, 2000)
    assert plan_batch("handler", 0.05, ready=100, free_slots=10, share=10, fixed=40) == BatchPlan(40, 4, 10)
    # Long tasks with a fixed size: a slot for each.
    assert plan_batch("handler", 5.0, ready=100, free_slots=10, share=10, fixed=8) == BatchPlan(8, 8, 1)


def test_a_batch_with_fewer_tasks_than_planned_holds_fewer_slots() -> None:
    plan = BatchPlan(500, 84, 6)
    assert [plan.slots_for(n) for n in (498, 60, 12, 7, 1, 0)] == [83, 10, 2, 2, 1, 1]
    assert [BatchPlan(500, 100).slots_for(n) for n in (500, 30, 1)] == [100, 30, 1]


@pytest.mark.parametrize(
    ("mean", "ready", "free", "fixed"),
    list(
        itertools.product(
            [0.00001, 0.001, 0.01, 0.05, 0.3, 0.9, 1.0, 1.2],
            [1, 3, 40, 499, 2000],
            [1, 2, 16, 400],
            [None, 1, 50],
        )
    ),
)
def test_every_sync_plan_keeps_within_the_free_slots_a_chunk_and_the_work_bounds(
    mean: float, ready: int, free: int, fixed: int | None
) -> None:
    plan = plan_batch("handler", mean, ready=ready, free_slots=free, share=max(free, 16), fixed=fixed)
    assert 1 <= plan.slots <= free and 1 <= plan.size <= MAX_BATCH
    assert plan.size == (fixed if fixed is not None else plan.size)
    for tasks in {1, min(plan.size, ready)}:
        slots = plan.slots_for(tasks)
        assert 1 <= slots <= min(plan.slots, tasks)
    if plan.per_slot > 1:
        # A slot's share of a full batch is at least the minimum work and at most the target.
        assert plan.per_slot * mean >= MIN_BATCH_SECONDS or plan.per_slot == math.floor(TARGET_BATCH_SECONDS / mean)
        assert plan.per_slot * mean <= TARGET_BATCH_SECONDS
    if plan.slots > 1:
        assert plan.size > (plan.slots - 1) * plan.per_slot or fixed is not None
