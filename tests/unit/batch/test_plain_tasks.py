"""A job's tasks are said to be plain handler tasks (`plain_handlers`) only when no task can differ in what a
partition's plan holds: dependencies, commands, retry counts of their own, rate limits."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from durable_batch.batch.plain_tasks import plain_handlers
from durable_batch.batch.spec import JobSpec
from durable_batch.batch.validation import parse_job

pytestmark = pytest.mark.unit

HANDLERS = {"h.a", "h.b"}


def job(**fields: Any) -> JobSpec:
    return parse_job({"id": "j", **fields}, known_handlers=HANDLERS, allow_command_tasks=True)


def task(task_id: str, handler: str = "h.a", **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "handler": handler, "input": 1, **fields}


def test_inline_handler_tasks_are_plain_and_name_their_handlers() -> None:
    assert plain_handlers(job(tasks=[task("a"), task("b", "h.b"), task("c")])) == frozenset({"h.a", "h.b"})


def test_a_retry_count_equal_to_the_jobs_leaves_a_task_plain() -> None:
    assert plain_handlers(job(maxTaskRetryCount=2, tasks=[task("a", maxRetryCount=2), task("b")])) == frozenset({"h.a"})


@pytest.mark.parametrize(
    "odd",
    [
        task("z", dependsOn=["a"]),
        task("z", dependsOn={"taskIdRanges": [{"start": 1, "end": 2}]}),
        task("z", maxRetryCount=3),
        task("z", rateLimitKey="api"),
        {"id": "z", "commandLine": ["true"]},
    ],
    ids=["dependsOn", "ranges", "retries", "rateLimitKey", "command"],
)
def test_one_task_that_differs_makes_an_inline_job_not_plain(odd: dict[str, Any]) -> None:
    tasks = [task("a"), task("1"), task("2"), odd]
    assert plain_handlers(job(tasks=tasks)) is None
    assert plain_handlers(job(tasks=[task("a"), task("1"), task("2")])) == frozenset({"h.a"})


def test_a_job_wide_rate_limit_makes_no_job_plain() -> None:
    spec = job(tasks=[task("a")])
    assert plain_handlers(spec) == frozenset({"h.a"})
    limited = dataclasses.replace(spec, rate_limit_key="api")
    assert plain_handlers(limited) is None


def resolved_lines(**resolved: Any) -> JobSpec:
    spec = job(tasks=[task("a")])
    factory = {"type": "jsonLines", "container": "c", "blob": "b", "resolved": {"count": 1, **resolved}}
    return dataclasses.replace(spec, factory=factory)


def test_a_json_lines_source_is_plain_as_its_submit_found_it() -> None:
    assert plain_handlers(resolved_lines(plainHandlers=["h.a", "h.b"], dependencies=False)) == frozenset({"h.a", "h.b"})
    # Dependencies make a plan per partition, whatever the lines' shape; a source checked before its shape
    # was noted is not known to be plain.
    assert plain_handlers(resolved_lines(plainHandlers=["h.a"], dependencies=True)) is None
    assert plain_handlers(resolved_lines(dependencies=False)) is None


def sweep(template: dict[str, Any]) -> JobSpec:
    factory = {"type": "parametricSweep", "parameterSets": [{"start": 0, "end": 9}], "repeatTask": template}
    return job(taskFactory=factory)


def test_a_sweep_is_plain_when_its_template_is() -> None:
    assert plain_handlers(sweep({"id": "t{0}", "handler": "h.b", "input": "{0}"})) == frozenset({"h.b"})
    assert plain_handlers(sweep({"id": "t{0}", "handler": "h.b", "input": 1, "maxRetryCount": 1})) is None
    assert plain_handlers(sweep({"id": "t{0}", "commandLine": ["echo", "{0}"]})) is None
