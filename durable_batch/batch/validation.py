"""Validation of submitted job specs: a request body in, a `JobSpec` or every problem with it out.

`parse_job` is the edge: everything after it trusts the spec. It never stops at the first problem; a
`SpecError` lists all of them (up to `MAX_REPORTED_PROBLEMS`), each with a path such as
`tasks[3].dependsOn[0]` (`""` means the body as a whole).

This module holds the job's own fields; a task's are `durable_batch.batch.task_validation`'s (its files and exit
conditions in modules of their own), a factory's `durable_batch.batch.factory_validation`'s, the dependencies between
tasks
`durable_batch.batch.dependency_index`'s, and every field is checked through `durable_batch.batch.checks`, so that one
kind of problem reads the same in all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from typing import Any

from durable_batch.batch.body import MAX_BODY_BYTES, ProblemCollector, decode_body
from durable_batch.batch.checks import ID_RULE, Checker
from durable_batch.batch.dependency_index import MAX_DEPENDENCIES, DependencyIndex
from durable_batch.batch.errors import BatchError, SpecError
from durable_batch.batch.factory_validation import check_factory
from durable_batch.batch.pools import check_pool_info
from durable_batch.batch.source_lines import LinesValidator, line_name
from durable_batch.batch.spec import (
    MAX_PARALLEL_TASKS_LIMIT,
    MAX_PRIORITY,
    MAX_RETRY_COUNT_LIMIT,
    MAX_RETRY_INTERVAL_SECONDS,
    MAX_TASK_BATCH_SIZE,
    MAX_TASK_TIMEOUT_SECONDS,
    MAX_WALL_CLOCK_SECONDS,
    MIN_PRIORITY,
    JobSpec,
    OnTaskFailure,
    ReduceSpec,
    TaskSpec,
    factory_tasks,
    is_id,
)
from durable_batch.batch.task_validation import ALLOW_COMMAND_TASKS_SETTING, TaskChecker, check_class_names

__all__ = [
    "ALLOW_COMMAND_TASKS_SETTING",
    "JOB_FIELDS",
    "MAX_DEPENDENCIES",
    "MAX_REPORTED_PROBLEMS",
    "MAX_TASKS",
    "lines_validator",
    "parse_job",
]

MAX_TASKS = 100_000
"""The most tasks in one job."""
MAX_REPORTED_PROBLEMS = 1_000
"""A SpecError lists at most this many problems and then says how many more there were, so that a
generated job with one mistake repeated 100,000 times gets a readable answer."""

JOB_FIELDS = frozenset(
    {
        "id",
        "maxParallelTasks",
        "maxTaskRetryCount",
        "retryIntervalSeconds",
        "taskTimeoutSeconds",
        "maxWallClockSeconds",
        "onTaskFailure",
        "toleratedFailurePercentage",
        "taskBatchSize",
        "reduce",
        "tasks",
        "taskFactory",
        "nonRetryableErrors",
        "poolInfo",
        "priority",
        "rateLimitKey",
    }
)
REDUCE_FIELDS = frozenset({"handler", "input"})
_ON_TASK_FAILURE = tuple(m.value for m in OnTaskFailure)


def parse_job(
    body: bytes | str | Any,
    *,
    known_handlers: Collection[str],
    allow_command_tasks: bool,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_tasks: int = MAX_TASKS,
    new_job_id: Callable[[], str] | None = None,
) -> JobSpec:
    """Parse and validate a job spec, or raise `SpecError` with every problem found.

    `body` is the raw request body (bytes or text), or an already-decoded JSON value (a template loaded from
    elsewhere), which is checked the same way after encoding it. `known_handlers` are the names a job may use
    for tasks and reduce. `new_job_id` supplies the id of a job submitted without one; it is called only for
    an otherwise valid spec, so generating ids stays with the caller (and tests stay deterministic). Without
    it, a missing id is a problem.
    """
    problems = ProblemCollector(MAX_REPORTED_PROBLEMS)
    decoded, value = decode_body(body, max_body_bytes, problems)
    if not decoded:
        raise SpecError(problems.result())
    job = _JobCheck(Checker(problems), frozenset(known_handlers), allow_command_tasks, max_tasks)
    spec = job.job(value, id_required=new_job_id is None)
    if spec is None or problems:
        raise SpecError(problems.result())
    if new_job_id is not None and spec.id == "":
        job_id = new_job_id()
        if not is_id(job_id):
            raise BatchError(f"new_job_id returned {job_id!r}, which is not a valid job id ({ID_RULE})")
        spec = dataclasses.replace(spec, id=job_id)
    return spec


def lines_validator(*, known_handlers: Collection[str], allow_command_tasks: bool, job_id: str) -> LinesValidator:
    """A checker for the lines of job `job_id`'s JSON Lines task source: each line is checked as an inline
    task (with the job's handlers and the command-task setting), ids unique across the source, problems at
    `line N`, the first `MAX_REPORTED_PROBLEMS` of them."""
    problems = ProblemCollector(MAX_REPORTED_PROBLEMS)
    index = DependencyIndex(line_name)
    tasks = TaskChecker(Checker(problems), frozenset(known_handlers), allow_command_tasks, job_id, index)
    return LinesValidator(problems, tasks, index)


class _JobCheck:
    """The check of one job spec's own fields; its tasks are a `TaskChecker`'s."""

    def __init__(self, checker: Checker, handlers: frozenset[str], allow_commands: bool, max_tasks: int) -> None:
        self.checker = checker
        self.handlers = handlers
        self.allow_commands = allow_commands
        self.max_tasks = max_tasks

    def job(self, value: Any, *, id_required: bool) -> JobSpec | None:
        checker = self.checker
        obj = checker.fields(value, "", JOB_FIELDS, "a job spec")
        if obj is None:
            return None
        job_id = obj.get("id")
        if job_id is not None:
            job_id = checker.ident(job_id, "id")
        elif id_required:
            checker.add("id", "missing required field")
        # The job's id is known now: its own results folder is one a resource file may name.
        tasks = TaskChecker(checker, self.handlers, self.allow_commands, job_id, DependencyIndex())
        max_parallel = checker.integer(obj, "", "maxParallelTasks", 1, MAX_PARALLEL_TASKS_LIMIT)
        max_retries = checker.integer(obj, "", "maxTaskRetryCount", 0, MAX_RETRY_COUNT_LIMIT)
        interval = checker.number(obj, "", "retryIntervalSeconds", 0, MAX_RETRY_INTERVAL_SECONDS)
        timeout = checker.number(obj, "", "taskTimeoutSeconds", 0, MAX_TASK_TIMEOUT_SECONDS, positive=True)
        wall_clock = checker.number(obj, "", "maxWallClockSeconds", 0, MAX_WALL_CLOCK_SECONDS, positive=True)
        tolerated = checker.number(obj, "", "toleratedFailurePercentage", 0, 100)
        batch_size = checker.integer(obj, "", "taskBatchSize", 1, MAX_TASK_BATCH_SIZE)
        priority = checker.integer(obj, "", "priority", MIN_PRIORITY, MAX_PRIORITY)
        rate_key = None
        if obj.get("rateLimitKey") is not None:
            rate_key = checker.ident(obj["rateLimitKey"], "rateLimitKey")
        pool_id = check_pool_info(checker, obj["poolInfo"]) if obj.get("poolInfo") is not None else None
        on_failure = OnTaskFailure.CONTINUE
        if obj.get("onTaskFailure") is not None:
            chosen = checker.choice(obj["onTaskFailure"], "onTaskFailure", _ON_TASK_FAILURE)
            on_failure = on_failure if chosen is None else OnTaskFailure(chosen)
        non_retryable = None
        if obj.get("nonRetryableErrors") is not None:
            non_retryable = check_class_names(checker, obj["nonRetryableErrors"], "nonRetryableErrors")
        reduce = None
        if obj.get("reduce") is not None:
            reduce = self.reduce(tasks, obj["reduce"])
        factory: dict[str, Any] | None = None
        specs: Sequence[TaskSpec] | None
        if obj.get("taskFactory") is not None:
            if obj.get("tasks") is not None:
                checker.add("", "a job has 'tasks' or a 'taskFactory', not both")
            factory = check_factory(checker, tasks, obj["taskFactory"])
            # A sweep's tasks are known now; a source's once the API has read it (`durable_batch.operations.sources`).
            specs = ()
            if factory is not None and "resolved" in factory:
                specs = factory_tasks(factory, None)
        else:
            specs = self.tasks(tasks, obj.get("tasks"))
        if checker or specs is None:
            return None
        spec = JobSpec(id=job_id or "", tasks=specs, on_task_failure=on_failure, reduce=reduce, factory=factory)
        # Only the fields the body set replace the dataclass defaults, which stay defined in one place.
        overrides: dict[str, Any] = {
            "max_parallel_tasks": max_parallel,
            "max_task_retry_count": max_retries,
            "retry_interval_seconds": interval,
            "task_timeout_seconds": timeout,
            "max_wall_clock_seconds": wall_clock,
            "tolerated_failure_percentage": tolerated,
            "task_batch_size": batch_size,
            "non_retryable_errors": non_retryable,
            "pool_id": pool_id,
            "priority": priority,
            "rate_limit_key": rate_key,
        }
        return dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})

    def reduce(self, tasks: TaskChecker, value: Any) -> ReduceSpec | None:
        obj = self.checker.fields(value, "reduce", REDUCE_FIELDS, "a reduce spec")
        if obj is None:
            return None
        handler = self.checker.required(obj, "reduce", "handler")
        name = None if handler is None else tasks.handler(handler, "reduce.handler")
        return None if name is None else ReduceSpec(name, obj.get("input"))

    def tasks(self, tasks: TaskChecker, value: Any) -> tuple[TaskSpec, ...] | None:
        checker = self.checker
        if value is None:
            checker.add("tasks", "missing required field: a job needs at least one task")
            return None
        if checker.array(value, "tasks", "tasks") is None:
            return None
        if not value:
            checker.add("tasks", "must have at least one task")
            return None
        if len(value) > self.max_tasks:
            checker.add("tasks", f"a job has at most {self.max_tasks:,} tasks, not {len(value):,}")
        specs = [tasks.task(item, i) for i, item in enumerate(value)]
        tasks.index.check(checker)
        valid = tuple(spec for spec in specs if spec is not None)
        return valid if len(valid) == len(specs) else None
