"""DagScheduler: what may start when, skips that cascade, determinism; and how a finished job ends."""

from __future__ import annotations

import random

import pytest

from durable_batch.batch.errors import PlanError
from durable_batch.batch.plan import DagScheduler, JobOutcome, job_outcome, plan_job
from durable_batch.batch.spec import JobSpec, TaskSpec
from durable_batch.batch.states import JobState, TaskCounts, TaskState

pytestmark = pytest.mark.unit


def scheduler(graph: dict[str, list[str]]) -> DagScheduler:
    """Tasks in the dict's order; each maps to the ids it depends on."""
    return DagScheduler(list(graph), list(graph.values()))


def test_independent_tasks_come_out_in_task_order_up_to_the_limit() -> None:
    s = scheduler({"a": [], "b": [], "c": []})
    assert s.ready(2) == ["a", "b"]
    assert s.ready(0) == []
    assert s.counts == TaskCounts(total=3, pending=1, running=2, succeeded=0, failed=0, skipped=0)
    assert s.ready(10) == ["c"]
    assert not s.has_ready and not s.is_finished


def test_a_task_starts_only_after_all_its_dependencies_succeeded() -> None:
    s = scheduler({"a": [], "b": [], "c": ["a", "b"]})
    assert s.ready(10) == ["a", "b"]
    s.mark_succeeded("a")
    assert s.ready(10) == []
    assert s.state_of("c") is TaskState.PENDING
    s.mark_succeeded("b")
    assert s.ready(10) == ["c"]
    s.mark_succeeded("c")
    assert s.is_finished
    assert s.counts == TaskCounts(total=3, pending=0, running=0, succeeded=3, failed=0, skipped=0)


def test_tasks_unblocked_later_still_come_out_in_task_order() -> None:
    s = scheduler({"x": ["a"], "a": [], "b": [], "c": []})
    assert s.ready(1) == ["a"]
    s.mark_succeeded("a")
    assert s.ready(10) == ["x", "b", "c"]


def test_a_failure_skips_dependents_transitively_in_task_order() -> None:
    s = scheduler({"d": ["c", "e"], "a": [], "b": ["a"], "c": ["b"], "e": [], "f": ["e"]})
    assert s.ready(10) == ["a", "e"]
    assert s.mark_failed("a") == ["d", "b", "c"]
    assert [s.state_of(t) for t in ("a", "b", "c", "d")] == [
        TaskState.FAILED,
        TaskState.SKIPPED,
        TaskState.SKIPPED,
        TaskState.SKIPPED,
    ]
    s.mark_succeeded("e")
    assert s.ready(10) == ["f"]
    s.mark_succeeded("f")
    assert s.is_finished
    assert s.counts == TaskCounts(total=6, pending=0, running=0, succeeded=2, failed=1, skipped=3)


def test_diamond_success_and_failure() -> None:
    diamond = {"top": ["left", "right"], "left": ["bottom"], "right": ["bottom"], "bottom": []}
    s = scheduler(diamond)
    assert s.ready(10) == ["bottom"]
    s.mark_succeeded("bottom")
    assert s.ready(10) == ["left", "right"]
    s.mark_succeeded("right")
    assert s.ready(10) == []
    s.mark_succeeded("left")
    assert s.ready(10) == ["top"]

    s = scheduler(diamond)
    s.ready(10)
    assert s.mark_failed("bottom") == ["top", "left", "right"]
    assert s.is_finished


def test_a_task_already_skipped_is_not_reported_again() -> None:
    s = scheduler({"a": [], "b": [], "d": ["a", "b"]})
    s.ready(10)
    assert s.mark_failed("a") == ["d"]
    assert s.mark_failed("b") == []
    assert s.counts.skipped == 1


def test_skip_all_pending_leaves_running_tasks_running() -> None:
    s = scheduler({"a": [], "b": [], "c": ["a"], "d": []})
    assert s.ready(2) == ["a", "b"]
    assert s.skip_all_pending() == ["c", "d"]
    assert not s.has_ready and not s.is_finished
    s.mark_succeeded("a")  # c was skipped: it must not become ready now
    assert s.ready(10) == []
    assert s.mark_failed("b") == []
    assert s.is_finished
    assert s.counts == TaskCounts(total=4, pending=0, running=0, succeeded=1, failed=1, skipped=2)
    assert s.skip_all_pending() == []


def test_misuse_is_a_plan_error() -> None:
    s = scheduler({"a": [], "b": ["a"]})
    with pytest.raises(PlanError, match="'a' is pending, not running"):
        s.mark_succeeded("a")
    s.ready(1)
    s.mark_succeeded("a")
    with pytest.raises(PlanError, match="'a' is succeeded, not running"):
        s.mark_failed("a")
    with pytest.raises(PlanError, match="'zz' is not scheduled here"):
        s.mark_succeeded("zz")
    with pytest.raises(PlanError, match="'zz' is not scheduled here"):
        s.state_of("zz")
    with pytest.raises(PlanError, match="must not be negative"):
        s.ready(-1)


@pytest.mark.parametrize(
    ("ids", "deps", "message"),
    [
        (["a"], [["x"]], "'a' depends on 'x', which is not scheduled here"),
        (["a", "a"], [[], []], "unique"),
        (["a", "b"], [["b"], ["a"]], "cycle"),
        (["a"], [[], []], "same length"),
    ],
)
def test_bad_graphs_are_refused(ids: list[str], deps: list[list[str]], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        DagScheduler(ids, deps)


def random_graph(rng: random.Random, n: int) -> dict[str, list[str]]:
    # Dependencies only on earlier tasks, so the graph is acyclic; then shuffle the task order.
    ids = [f"t{i}" for i in range(n)]
    graph = {ids[i]: [ids[j] for j in range(i) if rng.random() < 3 / (i + 1)] for i in range(n)}
    order = list(graph)
    rng.shuffle(order)
    return {t: graph[t] for t in order}


def drive(graph: dict[str, list[str]], seed: int, share: int) -> list[tuple[str, object]]:
    """Run a scheduler to the end with seeded choices, checking its promises; returns the trace."""
    rng = random.Random(seed)
    s = scheduler(graph)
    trace: list[tuple[str, object]] = []
    outcome: dict[str, TaskState] = {}
    running: list[str] = []
    stopped = False
    while not s.is_finished:
        started = s.ready(share - len(running))
        trace.append(("ready", started))
        for task_id in started:
            assert task_id not in outcome and task_id not in running
            assert all(outcome.get(dep) is TaskState.SUCCEEDED for dep in graph[task_id])
        running += started
        assert len(running) <= share
        assert running, "a scheduler that is not finished always has a task to run or running"
        done = running.pop(rng.randrange(len(running)))
        if rng.random() < 0.2:
            outcome[done] = TaskState.FAILED
            skipped = s.mark_failed(done)
            trace.append(("failed", (done, skipped)))
            assert not set(skipped) & set(outcome)
            outcome.update(dict.fromkeys(skipped, TaskState.SKIPPED))
            for task_id in skipped:
                assert any(outcome.get(dep) in (TaskState.FAILED, TaskState.SKIPPED) for dep in graph[task_id])
        else:
            outcome[done] = TaskState.SUCCEEDED
            s.mark_succeeded(done)
            trace.append(("succeeded", done))
        if not stopped and rng.random() < 0.01:
            stopped = True
            skipped = s.skip_all_pending()
            trace.append(("stop", skipped))
            outcome.update(dict.fromkeys(skipped, TaskState.SKIPPED))
    assert set(outcome) == set(graph)
    assert all(s.state_of(t) is state for t, state in outcome.items())
    counts = s.counts
    assert counts.succeeded + counts.failed + counts.skipped == counts.total == len(graph)
    return trace


@pytest.mark.parametrize("seed", range(20))
def test_random_runs_keep_every_promise_and_are_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    graph = random_graph(rng, rng.randint(1, 150))
    share = rng.randint(1, 12)
    assert drive(graph, seed, share) == drive(graph, seed, share)


def test_schedulers_for_each_partition_of_a_job() -> None:
    tasks = tuple(TaskSpec(f"t{i}", "noop", depends_on=(f"t{i - 1}",) if i % 3 else ()) for i in range(9))
    spec = JobSpec("j", tasks)
    plan = plan_job(spec, partition_size=3)
    finished = []
    for partition in plan.partitions:
        s = DagScheduler.for_partition(spec, partition)
        while not s.is_finished:
            for task_id in s.ready(10):
                s.mark_succeeded(task_id)
                finished.append(task_id)
    assert finished == [t.id for t in tasks]


def test_a_100k_task_chain_runs_through() -> None:
    n = 100_000
    s = DagScheduler([f"t{i}" for i in range(n)], [[f"t{i - 1}"] if i else [] for i in range(n)])
    steps = 0
    while not s.is_finished:
        (task_id,) = s.ready(200)
        s.mark_succeeded(task_id)
        steps += 1
    assert steps == n


def test_a_failure_at_the_root_of_a_100k_chain_skips_the_rest() -> None:
    n = 100_000
    s = DagScheduler([f"t{i}" for i in range(n)], [[f"t{i - 1}"] if i else [] for i in range(n)])
    s.ready(1)
    assert len(s.mark_failed("t0")) == n - 1


# --- job outcome ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "tolerated", "early", "timed_out", "expected"),
    [
        ((10, 10, 0, 0), 0, False, False, (JobState.SUCCEEDED, "all 10 tasks succeeded")),
        (
            (10, 9, 1, 0),
            0,
            False,
            False,
            (
                JobState.FAILED,
                "1 of 10 tasks failed (10%), more than the tolerated 0% (9 of 10 tasks succeeded, 1 failed, 0 skipped)",
            ),
        ),
        (
            (10, 9, 1, 0),
            10,
            False,
            False,
            (
                JobState.SUCCEEDED,
                "9 of 10 tasks succeeded, 1 failed, 0 skipped; 1 failed (10%) is within the tolerated 10%",
            ),
        ),
        (
            (3, 2, 1, 0),
            33.3,
            False,
            False,
            (
                JobState.FAILED,
                "1 of 3 tasks failed (33.3%), more than the tolerated 33.3% "
                "(2 of 3 tasks succeeded, 1 failed, 0 skipped)",
            ),
        ),
        (
            (3, 1, 1, 1),
            50,
            False,
            False,
            (
                JobState.SUCCEEDED,
                "1 of 3 tasks succeeded, 1 failed, 1 skipped; 1 failed (33.3%) is within the tolerated 50%",
            ),
        ),
        (
            (5, 1, 1, 3),
            100,
            True,
            False,
            (
                JobState.FAILED,
                "a task failed and onTaskFailure is terminateJob (1 of 5 tasks succeeded, 1 failed, 3 skipped)",
            ),
        ),
        (
            (5, 4, 0, 1),
            0,
            False,
            True,
            (
                JobState.FAILED,
                "the job ran longer than its maxWallClockSeconds (4 of 5 tasks succeeded, 0 failed, 1 skipped)",
            ),
        ),
        (
            (4, 0, 4, 0),
            0,
            True,
            True,
            (
                JobState.FAILED,
                "the job ran longer than its maxWallClockSeconds; a task failed and onTaskFailure is terminateJob; "
                "4 of 4 tasks failed (100%), more than the tolerated 0% (0 of 4 tasks succeeded, 4 failed, 0 skipped)",
            ),
        ),
        (
            (4, 0, 4, 0),
            100,
            False,
            False,
            (
                JobState.SUCCEEDED,
                "0 of 4 tasks succeeded, 4 failed, 0 skipped; 4 failed (100%) is within the tolerated 100%",
            ),
        ),
    ],
)
def test_job_outcome(
    counts: tuple[int, int, int, int], tolerated: float, early: bool, timed_out: bool, expected: tuple[JobState, str]
) -> None:
    outcome = job_outcome(*counts, tolerated, early, timed_out)
    assert outcome == JobOutcome(*expected)
    assert outcome.state is expected[0]


@pytest.mark.parametrize(("total", "failed", "tolerated"), [(1000, 10, 1), (7, 0, 0), (200, 1, 0.5)])
def test_failures_exactly_at_the_tolerance_succeed(total: int, failed: int, tolerated: float) -> None:
    assert job_outcome(total, total - failed, failed, 0, tolerated, False, False).state is JobState.SUCCEEDED
    assert job_outcome(total, total - failed - 1, failed + 1, 0, tolerated, False, False).state is JobState.FAILED


def test_job_outcome_refuses_counts_that_do_not_add_up() -> None:
    with pytest.raises(PlanError, match="counted once"):
        job_outcome(10, 5, 1, 1, 0, False, False)
    with pytest.raises(PlanError, match="counted once"):
        job_outcome(1, 2, -1, 0, 0, False, False)
    with pytest.raises(PlanError, match=r"0\.\.100"):
        job_outcome(1, 1, 0, 0, 101, False, False)


@pytest.mark.parametrize("seed", range(20))
def test_the_bulk_calls_decide_what_the_one_task_calls_decide(seed: int) -> None:
    # A partition's replay hands out a chunk's ready tasks and marks a batch's tasks succeeded in one call each
    # (`ready_below`, `mark_all_succeeded`): what `ready_run`, with a `same` that asks for the index, and one
    # `mark_succeeded` a task decide.
    rng = random.Random(seed)
    graph = random_graph(rng, rng.randint(1, 150))
    order = {task_id: i for i, task_id in enumerate(graph)}
    one, bulk = scheduler(graph), scheduler(graph)
    running: list[str] = []
    while not one.is_finished:
        limit = rng.randint(0, 20)
        # A bound the first ready task is under, as a partition's chunk end is (`ready_run` takes its first
        # task whatever `same` says).
        stop = order[one.peek()] + rng.randint(1, 40) if one.has_ready else 0

        def below(_first: str, task: str, stop: int = stop) -> bool:
            return order[task] < stop

        started = one.ready_run(limit, below) if stop else []
        assert bulk.ready_below(limit, stop) == started
        running += started
        rng.shuffle(running)
        finished = rng.randint(0, len(running))
        done, running = running[:finished], running[finished:]
        for task_id in done:
            one.mark_succeeded(task_id)
        bulk.mark_all_succeeded(done)
        assert one.counts == bulk.counts
        assert [one.state_of(t) for t in graph] == [bulk.state_of(t) for t in graph]
    assert bulk.is_finished


def test_marking_a_task_not_running_succeeded_is_refused_after_those_before_it() -> None:
    s = scheduler({"a": [], "b": [], "c": ["a"]})
    assert s.ready(2) == ["a", "b"]
    with pytest.raises(PlanError, match="'c' is pending, not running"):
        s.mark_all_succeeded(["a", "c", "b"])
    assert s.state_of("a") is TaskState.SUCCEEDED and s.state_of("b") is TaskState.RUNNING
    assert s.counts == TaskCounts(total=3, pending=1, running=1, succeeded=1, failed=0, skipped=0)
    assert s.ready(5) == ["c"]  # "a" released it
