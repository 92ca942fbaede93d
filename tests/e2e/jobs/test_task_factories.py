"""Task factories through the job API on devhost and Azurite: a JSON Lines blob, a parametric sweep and one
task per blob, each run to the end; and bad sources, each refused with a 400 that says where."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from durable_batch.batch import wire
from tests.e2e.jobs.support import FeaturesHost

pytestmark = pytest.mark.e2e


@pytest.fixture
def inputs(features_host: FeaturesHost) -> ContainerClient:
    """A container of the account, not the results one: sources may be anywhere in the account."""
    service = BlobServiceClient.from_connection_string(features_host.azurite.connection_string)
    return service.create_container(f"inputs-{uuid.uuid4().hex[:12]}")


def loaded_its_plan(host: FeaturesHost, job_id: str, partition: int) -> bool:
    """Whether the partition called LOAD_PARTITION (a job of plain tasks has its plan given)."""
    response = host.durable_status(f"{wire.partition_instance_id(job_id, partition)}?showHistory=true")
    assert response.status_code == 200, response.text
    return any(e.get("FunctionName") == wire.LOAD_PARTITION for e in response.json()["historyEvents"])


def lines(tasks: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(task) + "\n" for task in tasks).encode()


def echo_line(n: int) -> dict[str, Any]:
    return {"id": f"line-{n:05d}", "handler": "test.echo", "input": {"value": n}}


def test_a_json_lines_source_runs_every_line_and_is_idempotent_by_content(
    features_host: FeaturesHost, inputs: ContainerClient
) -> None:
    count = 1234  # three blocks of the line index, the last one short
    body = lines([echo_line(n) for n in range(count)]).replace(b"\n", b"\n\n", 1)  # a blank line is no task
    inputs.upload_blob("jobs/nightly.jsonl", body)
    job_id = features_host.unique_id("jsonl")
    spec = {
        "id": job_id,
        "maxParallelTasks": 20,
        "taskFactory": {"type": "jsonLines", "container": inputs.container_name, "blob": "jobs/nightly.jsonl"},
        "reduce": {"handler": "test.sum"},
    }
    view = features_host.run(spec)
    assert view["state"] == "succeeded", view
    assert view["taskCounts"]["succeeded"] == count
    assert view["reduce"]["result"]["sum"] == sum(range(count)) and view["reduce"]["result"]["count"] == count
    last = features_host.task(job_id, f"line-{count - 1:05d}")
    assert last["state"] == "succeeded" and last["result"] == {"value": count - 1}
    # Its definition is its line, read from the source by its place (the last of 25 partitions of 50).
    assert last["definition"] == echo_line(count - 1) and last["partition"] == 24
    assert features_host.task(job_id, "line-00777")["definition"] == echo_line(777)
    assert features_host.calls(job_id, "line-00700") == 1
    # Plain lines: no partition read the source to plan itself.
    assert not any(loaded_its_plan(features_host, job_id, p) for p in (0, 24))
    # The same job over the same content is the same job; over changed content, another one.
    again = features_host.submit(spec)
    assert again.status_code == 200, again.text
    inputs.upload_blob("jobs/nightly.jsonl", lines([echo_line(n) for n in range(3)]), overwrite=True)
    changed = features_host.submit(spec)
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "jobExists", changed.text


def test_json_lines_tasks_may_depend_on_each_other(features_host: FeaturesHost, inputs: ContainerClient) -> None:
    members = [echo_line(n) for n in range(30)]
    final = {"id": "final", "handler": "test.echo", "input": {"value": 30}, "dependsOn": [t["id"] for t in members]}
    inputs.upload_blob("dag.jsonl", lines([final, *members]))  # a dependency may come later in the source
    job_id = features_host.unique_id("jsonl-dag")
    factory = {"type": "jsonLines", "container": inputs.container_name, "blob": "dag.jsonl"}
    view = features_host.run({"id": job_id, "taskFactory": factory, "reduce": {"handler": "test.sum"}})
    assert view["state"] == "succeeded" and view["reduce"]["result"]["sum"] == sum(range(31)), view
    records = features_host.tasks_of(job_id)
    assert records["final"]["startedAt"] >= max(records[t["id"]]["endedAt"] for t in members)
    # The plan reorders a partition's tasks by their dependencies; each record still finds its own line.
    assert features_host.task(job_id, "final")["definition"] == final
    assert features_host.task(job_id, "line-00029")["definition"] == members[29]
    assert loaded_its_plan(features_host, job_id, 0)


def test_a_parametric_sweep_substitutes_its_parameters(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("sweep")
    spec = {
        "id": job_id,
        "taskFactory": {
            "type": "parametricSweep",
            "parameterSets": [{"start": 1, "end": 3}, {"start": 0, "end": 4, "step": 2}],
            "repeatTask": {
                "id": "frame-{0}-{1:3}",
                "handler": "test.echo",
                "input": {"value": "{index}", "label": "f{0}/{1}", "braces": "{{0}}"},
            },
        },
        "reduce": {"handler": "test.sum"},
    }
    view = features_host.run(spec)
    assert view["state"] == "succeeded", view
    assert view["taskCounts"]["succeeded"] == 9 and view["reduce"]["result"]["sum"] == sum(range(9))
    ids = sorted(features_host.tasks_of(job_id))
    assert ids == sorted(f"frame-{a}-{b:03d}" for a in (1, 2, 3) for b in (0, 2, 4))
    # The first set varies slowest; a lone placeholder of a number is a number in a handler's input.
    task = features_host.task(job_id, "frame-2-004")
    assert task["result"] == {"value": 5, "label": "f2/4", "braces": "{0}"}
    assert task["definition"] == {
        "id": "frame-2-004",
        "handler": "test.echo",
        "input": {"value": 5, "label": "f2/4", "braces": "{0}"},
    }


def test_a_task_per_file_runs_one_task_per_blob_under_the_prefix(
    features_host: FeaturesHost, inputs: ContainerClient
) -> None:
    names = ["raw/a.csv", "raw/b.csv", "raw/deep/c.tar.gz"]
    for name in [*names, "other/x.csv"]:
        inputs.upload_blob(name, b"data")
    job_id = features_host.unique_id("perfile")
    spec = {
        "id": job_id,
        "taskFactory": {
            "type": "taskPerFile",
            "container": inputs.container_name,
            "prefix": "raw/",
            "repeatTask": {
                "id": "file-{index}",
                "handler": "test.echo",
                "input": {"value": "{index}", "path": "{filePath}", "name": "{fileNameWithoutExtension}"},
            },
        },
    }
    view = features_host.run(spec)
    assert view["state"] == "succeeded" and view["taskCounts"]["succeeded"] == 3, view
    assert features_host.task(job_id, "file-2")["definition"]["input"] == {
        "value": 2,
        "path": "raw/deep/c.tar.gz",
        "name": "c.tar",
    }
    results = [features_host.task(job_id, f"file-{i}")["result"] for i in range(3)]
    assert results == [
        {"value": 0, "path": "raw/a.csv", "name": "a"},
        {"value": 1, "path": "raw/b.csv", "name": "b"},
        {"value": 2, "path": "raw/deep/c.tar.gz", "name": "c.tar"},
    ]


def refused(host: FeaturesHost, spec: dict[str, Any]) -> list[dict[str, str]]:
    response = host.submit(spec)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalidJobSpec", error
    assert host.get(f"/jobs/{spec['id']}").status_code == 404, "a refused job was created"
    details: list[dict[str, str]] = error["details"]
    return details


def test_bad_sources_are_refused_with_where(features_host: FeaturesHost, inputs: ContainerClient) -> None:
    missing = {"type": "jsonLines", "container": inputs.container_name, "blob": "nope.jsonl"}
    (detail,) = refused(features_host, {"id": features_host.unique_id("missing"), "taskFactory": missing})
    assert detail["path"] == "taskFactory.blob" and "does not exist" in detail["message"], detail

    body = [echo_line(0), echo_line(1)]
    text = lines(body) + b"{not json\n" + lines([echo_line(3), {"id": "x", "handler": "no.such"}, echo_line(0)])
    inputs.upload_blob("bad.jsonl", text)
    bad = {"type": "jsonLines", "container": inputs.container_name, "blob": "bad.jsonl"}
    details = refused(features_host, {"id": features_host.unique_id("badline"), "taskFactory": bad})
    paths = [d["path"] for d in details]
    assert paths == ["line 3", "line 5.handler", "line 6.id"], details
    assert "not valid JSON" in details[0]["message"] and "first used by line 1" in details[2]["message"]

    sweep = {
        "type": "parametricSweep",
        "parameterSets": [{"start": 0, "end": 9}, {"start": 0, "end": 1}],
        "repeatTask": {"id": "t{0}-{1}", "handler": "test.echo", "input": {"value": "{2}"}},
    }
    (detail,) = refused(features_host, {"id": features_host.unique_id("sweep"), "taskFactory": sweep})
    assert detail["path"] == "taskFactory.repeatTask.input.value", detail
    assert "unknown parameter {2}" in detail["message"] and "{0}, {1}, {index}" in detail["message"], detail

    empty = {"type": "taskPerFile", "container": inputs.container_name, "prefix": "none/", "repeatTask": echo_line(0)}
    (detail,) = refused(features_host, {"id": features_host.unique_id("empty"), "taskFactory": empty})
    assert detail["path"] == "taskFactory.prefix" and "no blob" in detail["message"], detail


def test_blob_names_that_make_bad_task_ids_are_refused(features_host: FeaturesHost, inputs: ContainerClient) -> None:
    for name in ["raw/good.csv", "raw/has space.csv", "raw/deep/good.csv"]:
        inputs.upload_blob(name, b"data")
    factory = {
        "type": "taskPerFile",
        "container": inputs.container_name,
        "prefix": "raw/",
        "repeatTask": {"id": "file-{fileNameWithoutExtension}", "handler": "test.echo", "input": {"value": 1}},
    }
    details = refused(features_host, {"id": features_host.unique_id("bad-ids"), "taskFactory": factory})
    assert [d["path"] for d in details] == ["taskFactory.repeatTask.id"] * 2, details
    assert sorted(d["message"] for d in details) == [
        "blob 'raw/has space.csv': 'file-has space' is not a valid id: use 1 to 128 letters, digits, '.', '_' or "
        "'-', starting with a letter or digit",
        "blobs 'raw/deep/good.csv' and 'raw/good.csv' both make the task id 'file-good'",
    ]


def test_a_sweep_whose_last_ids_are_too_long_is_refused(features_host: FeaturesHost) -> None:
    factory = {
        "type": "parametricSweep",
        "parameterSets": [{"start": 0, "end": 10**12, "step": 10**10}],
        "repeatTask": {"id": "t-" + "x" * 115 + "-{0}", "handler": "test.echo"},
    }
    details = refused(features_host, {"id": features_host.unique_id("long-ids"), "taskFactory": factory})
    assert [d["path"] for d in details] == ["taskFactory.repeatTask.id"], details
