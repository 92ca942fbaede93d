"""Job specs: the canonical form, its hash, and reading a stored spec back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_batch.batch.spec import ID_PATTERN, JobSpec, OnTaskFailure, ReduceSpec, ResourceFile, TaskSpec, is_id
from durable_batch.batch.validation import parse_job

pytestmark = pytest.mark.unit

HANDLERS = {"noop", "sum"}


def parse(body: dict[str, Any]) -> JobSpec:
    return parse_job(json.dumps(body), known_handlers=HANDLERS, allow_command_tasks=True)


BASE: dict[str, Any] = {
    "id": "j",
    "tasks": [
        {"id": "a", "handler": "noop", "input": {"n": 1}},
        {"id": "b", "handler": "noop", "dependsOn": ["a"]},
    ],
}


def test_defaults_written_or_left_out_hash_the_same() -> None:
    explicit = {
        **BASE,
        "maxParallelTasks": 100,
        "maxTaskRetryCount": 0,
        "retryIntervalSeconds": 1.0,
        "taskTimeoutSeconds": 3600,
        "maxWallClockSeconds": None,
        "onTaskFailure": "continue",
        "toleratedFailurePercentage": 0,
        "reduce": None,
        "tasks": [
            {"id": "a", "handler": "noop", "input": {"n": 1}, "dependsOn": [], "maxRetryCount": None},
            {"dependsOn": ["a"], "handler": "noop", "id": "b", "input": None},
        ],
    }
    assert parse(explicit) == parse(BASE)
    assert parse(explicit).canonical_hash() == parse(BASE).canonical_hash()


def test_key_order_and_whitespace_do_not_matter() -> None:
    reordered = json.loads(json.dumps(BASE, sort_keys=True, indent=4))
    assert parse(reordered).canonical_hash() == parse(BASE).canonical_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"maxParallelTasks": 99},
        {"retryIntervalSeconds": 1.5},
        {"onTaskFailure": "terminateJob"},
        {"toleratedFailurePercentage": 0.5},
        {"maxWallClockSeconds": 60},
        {"reduce": {"handler": "sum"}},
        {"id": "k"},
        {"tasks": [{"id": "a", "handler": "noop", "input": {"n": 2}}, BASE["tasks"][1]]},
        {"tasks": [{"id": "a", "handler": "noop", "input": {"n": 1.0}}, BASE["tasks"][1]]},
        {"tasks": [BASE["tasks"][0], {"id": "b", "handler": "noop", "dependsOn": ["a"], "maxRetryCount": 0}]},
        {"tasks": [BASE["tasks"][1], BASE["tasks"][0]]},
    ],
)
def test_any_real_change_changes_the_hash(change: dict[str, Any]) -> None:
    assert parse({**BASE, **change}).canonical_hash() != parse(BASE).canonical_hash()


def test_integral_seconds_are_written_as_integers() -> None:
    spec = parse({**BASE, "retryIntervalSeconds": 5.0, "taskTimeoutSeconds": 2.5})
    canonical = spec.to_json()
    assert canonical["retryIntervalSeconds"] == 5 and isinstance(canonical["retryIntervalSeconds"], int)
    assert canonical["taskTimeoutSeconds"] == 2.5
    assert (
        spec.canonical_hash() == parse({**BASE, "retryIntervalSeconds": 5, "taskTimeoutSeconds": 2.5}).canonical_hash()
    )


def test_canonical_form_fills_job_defaults_and_leaves_task_defaults_out() -> None:
    assert parse(BASE).to_json() == {
        "id": "j",
        "maxParallelTasks": 100,
        "maxTaskRetryCount": 0,
        "retryIntervalSeconds": 1,
        "taskTimeoutSeconds": 3600,
        "maxWallClockSeconds": None,
        "onTaskFailure": "continue",
        "toleratedFailurePercentage": 0,
        "reduce": None,
        "tasks": [
            {"id": "a", "handler": "noop", "input": {"n": 1}},
            {"id": "b", "handler": "noop", "dependsOn": ["a"]},
        ],
    }


def test_stored_canonical_spec_reads_back_equal() -> None:
    spec = parse(
        {
            "id": "full",
            "maxParallelTasks": 7,
            "maxTaskRetryCount": 2,
            "retryIntervalSeconds": 0.25,
            "taskTimeoutSeconds": 30,
            "maxWallClockSeconds": 600,
            "onTaskFailure": "terminateJob",
            "toleratedFailurePercentage": 12.5,
            "reduce": {"handler": "sum", "input": [1, 2]},
            "tasks": [
                {"id": "h", "handler": "noop", "input": "x", "maxRetryCount": 0, "timeoutSeconds": 1.5},
                {
                    "id": "c",
                    "commandLine": ["echo", "hi"],
                    "dependsOn": ["h"],
                    "resourceFiles": [{"blob": "in/a", "path": "a"}],
                    "outputFiles": ["*.txt"],
                    "environment": {"A": "1"},
                },
            ],
        }
    )
    stored = json.loads(spec.canonical_json())
    again = JobSpec.from_json(stored)
    assert again == spec
    assert again.canonical_hash() == spec.canonical_hash()
    assert again.on_task_failure is OnTaskFailure.TERMINATE_JOB
    assert again.reduce == ReduceSpec("sum", [1, 2])
    assert again.tasks[1].resource_files == (ResourceFile("in/a", "a"),)
    assert again.tasks[1].is_command and not again.tasks[0].is_command
    assert again.has_command_tasks


def test_from_json_takes_defaults_for_fields_it_does_not_find() -> None:
    spec = JobSpec.from_json({"id": "old", "tasks": [{"id": "a", "handler": "noop"}]})
    assert spec == JobSpec("old", (TaskSpec("a", handler="noop"),))


def test_task_index_and_effective_values() -> None:
    spec = JobSpec("j", (TaskSpec("a", "noop"), TaskSpec("b", "noop", max_retry_count=4, timeout_seconds=9)))
    assert spec.task_index() == {"a": 0, "b": 1}
    assert [spec.retry_count_for(t) for t in spec.tasks] == [0, 4]
    assert [spec.timeout_for(t) for t in spec.tasks] == [3600, 9]


ID_LIKE = st.text(st.sampled_from("aZ09._- \n\u00e9\u0660\u00b2"), max_size=130)


@settings(max_examples=500, deadline=None, database=None)
@given(st.one_of(ID_LIKE, st.text(max_size=12)))
def test_is_id_answers_as_the_id_pattern(text: str) -> None:
    assert is_id(text) == (ID_PATTERN.fullmatch(text) is not None)


@pytest.mark.parametrize("text", ["a" * 128, "a" * 129, "\u0660\u0661", "a\u00b2", "", "a\n", "0", "a-b", "-a"])
def test_is_id_answers_as_the_id_pattern_at_the_edges(text: str) -> None:
    assert is_id(text) == (ID_PATTERN.fullmatch(text) is not None)
