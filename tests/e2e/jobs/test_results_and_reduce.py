"""Where a job's results land (the documented blob layout under its id) and its reduce over them, read through
the job API and, independently, with azure-storage-blob."""

from __future__ import annotations

import json
import re

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from tests.e2e.jobs.support import FeaturesHost, echo

pytestmark = pytest.mark.e2e

SMALL = 60  # two partitions of 50 in this folder, so two partitions' results blobs
PAD = "x" * 2000  # makes a result larger than the 1 KiB that travels inline


def container(host: FeaturesHost, name: str) -> ContainerClient:
    return BlobServiceClient.from_connection_string(host.azurite.connection_string).get_container_client(name)


def read_json(blobs: ContainerClient, name: str) -> object:
    return json.loads(blobs.download_blob(name).readall())


def test_results_layout_and_reduce_output(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("reduce")
    big_result = {"value": 1000, "pad": PAD}
    tasks = [echo(f"t{n:02d}", n) for n in range(SMALL)]
    tasks.insert(7, {"id": "big", "handler": "test.echo", "input": big_result})
    spec = {"id": job_id, "tasks": tasks, "reduce": {"handler": "test.sum", "input": {"label": "total"}}}
    view = features_host.run(spec)
    assert view["state"] == "succeeded", view

    expected = {"sum": sum(range(SMALL)) + 1000, "count": SMALL + 1, "first": ["t00", "t01", "t02"]}
    expected["input"] = {"label": "total"}
    reduce_blob = f"_jobs/{job_id}/reduce.json"
    assert view["reduce"] == {"ok": True, "result": expected, "resultBlob": reduce_blob}
    assert view["results"]["container"] == "batch-results" and view["results"]["prefix"] == f"_jobs/{job_id}/"
    assert view["results"]["summaryBlob"] == f"_jobs/{job_id}/summary.json"

    blobs = container(features_host, view["results"]["container"])
    names = set(blobs.list_blob_names(name_starts_with=f"_jobs/{job_id}/"))
    batches = sorted(name for name in names if name.startswith(f"_jobs/{job_id}/results/"))
    # One blob per batch of tasks, named by partition and batch: each partition wrote at least one.
    layout = [re.fullmatch(rf"_jobs/{job_id}/results/(p\d{{5}})-b\d{{5}}\.jsonl", name) for name in batches]
    assert {match.group(1) for match in layout if match} == {"p00000", "p00001"}
    assert all(layout), batches
    assert names == {
        f"_jobs/{job_id}/job.json",
        f"_jobs/{job_id}/job.index",  # where each task is in job.json, for the task view
        f"_jobs/{job_id}/summary.json",
        reduce_blob,
        f"_jobs/{job_id}/tasks/big/result.json",
        *batches,
    }

    assert read_json(blobs, reduce_blob) == expected
    summary = read_json(blobs, f"_jobs/{job_id}/summary.json")
    assert isinstance(summary, dict)
    assert summary["state"] == "succeeded" and summary["failedTasks"] == []
    assert summary["taskCounts"]["succeeded"] == SMALL + 1
    assert summary["reduce"] == view["reduce"]
    assert summary["results"]["reduce"] == reduce_blob
    assert summary["results"]["taskResults"] == f"_jobs/{job_id}/results/"

    rows = {}
    for name in batches:
        for line in blobs.download_blob(name).readall().decode().splitlines():
            row = json.loads(line)
            assert row["id"] not in rows, f"{row['id']} has two result rows"
            rows[row["id"]] = row
    assert len(rows) == SMALL + 1
    assert rows["big"] == {"id": "big", "index": 7, "resultBlob": f"_jobs/{job_id}/tasks/big/result.json"}
    assert rows["t00"] == {"id": "t00", "index": 0, "result": {"value": 0}}
    assert rows["t59"] == {"id": "t59", "index": SMALL, "result": {"value": 59}}
    assert read_json(blobs, f"_jobs/{job_id}/tasks/big/result.json") == big_result

    big = features_host.task(job_id, "big")
    assert big["state"] == "succeeded" and big["resultBlob"] == f"_jobs/{job_id}/tasks/big/result.json"
    assert big["result"] == big_result and big["resultError"] is None
    small = features_host.task(job_id, "t42")
    assert small["result"] == {"value": 42} and small["resultBlob"] is None
