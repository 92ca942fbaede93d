"""What validation accepts, the whole pipeline carries: inputs at the depth and number limits run and come
back unchanged, and a command task may read the files of its own job that the rule lets it name."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from durable_batch.batch.json_limits import MAX_JSON_DEPTH
from tests.e2e.jobs.support import FeaturesHost, python_command

pytestmark = pytest.mark.e2e


def nested(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels - 1):
        value = [value]
    return [value]


def test_inputs_at_the_limits_run_and_come_back_unchanged(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("limits")
    # Body (1), tasks (2), task (3): an input may nest MAX_JSON_DEPTH - 3 levels.
    leaf = {"big": sys.float_info.max, "int": 10**307, "neg": -(10**307), "tiny": 5e-324, "text": "é\U0001f600"}
    deep = nested(MAX_JSON_DEPTH - 4, leaf)
    # Over 1 KiB of result: stored in its own blob and read back from there.
    padded = [nested(MAX_JSON_DEPTH - 5, leaf), "x" * 2000]
    tasks = [
        {"id": "inline", "handler": "test.echo", "input": deep},
        {"id": "blob", "handler": "test.echo", "input": padded},
    ]
    view = features_host.run({"id": job_id, "tasks": tasks})
    assert view["state"] == "succeeded", view
    assert features_host.task(job_id, "inline")["result"] == deep
    assert features_host.task(job_id, "blob")["result"] == padded


def test_a_command_task_reads_an_output_of_a_task_of_its_own_job(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("own-outputs")
    write = python_command("write", "open('out.txt', 'w').write('from write')", outputFiles=["out.txt"])
    read = python_command(
        "read",
        "import sys; sys.exit(0 if open('in.txt').read() == 'from write' else 3)",
        dependsOn=["write"],
        resourceFiles=[{"blob": f"{job_id}/tasks/write/outputs/out.txt", "path": "in.txt"}],
    )
    view = features_host.run({"id": job_id, "tasks": [write, read]})
    assert view["state"] == "succeeded", view
