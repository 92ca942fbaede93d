"""ResultStore on both blob backends (in memory and a real Azurite container): layout, round trips, batches,
lazy iteration, files, deletion; and, on Azurite only, the container from settings."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from durable_batch.storage import (
    ContainerBlobs,
    InvalidName,
    MemoryBlobs,
    NotFound,
    ResultStore,
    SerializationError,
    StorageAccount,
    StorageConfigError,
)
from durable_batch.storage.results import ResultSpan

pytestmark = pytest.mark.e2e


def test_layout_is_under_the_job_id() -> None:
    layout = ResultStore(MemoryBlobs())
    assert layout.job_spec_name("j1") == "_jobs/j1/job.json"
    assert layout.summary_name("j1") == "_jobs/j1/summary.json"
    assert layout.task_result_name("j1", "t-1") == "_jobs/j1/tasks/t-1/result.json"
    assert layout.task_output_name("j1", "t-1", "out\\a.png") == "_jobs/j1/tasks/t-1/outputs/out/a.png"
    assert layout.result_batch_name("j1", 7) == "_jobs/j1/results/part-00007.jsonl"
    assert layout.result_batch_name("j1", "p0003-b0001") == "_jobs/j1/results/p0003-b0001.jsonl"


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "x" * 129])
def test_unsafe_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        ResultStore(MemoryBlobs()).job_prefix(bad)


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs", "a/../../b", ""])
def test_unsafe_output_paths_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        ResultStore(MemoryBlobs()).task_output_name("j1", "t1", bad)


def test_job_spec_and_summary_round_trip(results: ResultStore, job_id: str) -> None:
    assert results.read_job_spec(job_id) is None
    assert results.read_summary(job_id) is None
    spec = {"id": job_id, "tasks": [{"id": "t1", "handler": "h", "input": {"é": 1}}], "maxParallelTasks": 5}
    results.write_job_spec(job_id, spec)
    results.write_summary(job_id, {"taskCounts": {"total": 1}, "reduce": [1.5, None]})
    assert results.read_job_spec(job_id) == spec
    assert results.read_summary(job_id) == {"taskCounts": {"total": 1}, "reduce": [1.5, None]}
    assert results.url(results.summary_name(job_id)).endswith(f"/batch-results/_jobs/{job_id}/summary.json")


def test_values_that_are_not_json_are_refused(results: ResultStore, job_id: str) -> None:
    with pytest.raises(SerializationError, match="summary"):
        results.write_summary(job_id, {"var": math.nan})
    with pytest.raises(SerializationError, match="result row"):
        results.write_partition_batch(job_id, 0, 0, [{"id": "t1", "result": {1, 2}}])


def test_a_partition_batch_and_its_rows(results: ResultStore, job_id: str) -> None:
    name = results.write_partition_batch(job_id, 3, 12, [{"id": "a", "result": 1}, {"id": "b", "resultBlob": "x"}])
    assert name == results.partition_batch_name(job_id, 3, 12) == f"_jobs/{job_id}/results/p00003-b00012.jsonl"
    assert results.find_result_row(name, "b") == {"id": "b", "resultBlob": "x"}
    assert results.find_result_row(name, "c") is None
    with pytest.raises(NotFound):
        results.find_result_row(results.partition_batch_name(job_id, 3, 13), "a")


def test_task_logs_round_trip(results: ResultStore, job_id: str) -> None:
    name = results.write_task_blob(job_id, "t1", "stdout.txt", "line 1\nline 2\n")
    results.write_task_blob(job_id, "t1", "stderr.txt", b"\xff raw")
    assert name == f"_jobs/{job_id}/tasks/t1/stdout.txt"
    assert results.read_blob(name) == b"line 1\nline 2\n"
    assert results.read_blob(f"_jobs/{job_id}/tasks/t1/stderr.txt") == b"\xff raw"


def test_result_batches_iterate_in_order_and_rewrites_are_harmless(results: ResultStore, job_id: str) -> None:
    for part in (2, 0, 1):
        rows = [{"taskId": f"t{part}-{i}", "result": i} for i in range(4)]
        results.write_result_batch(job_id, part, rows)
    # A retried activity writes its batch again: same name, so no duplicate rows.
    results.write_result_batch(job_id, 1, [{"taskId": f"t1-{i}", "result": i} for i in range(4)])

    rows = list(results.iter_results(job_id))
    assert [row["taskId"] for row in rows] == [f"t{p}-{i}" for p in range(3) for i in range(4)]
    assert list(results.list_result_batches(job_id)) == [f"_jobs/{job_id}/results/part-{n:05d}.jsonl" for n in range(3)]


def test_a_batch_of_task_positions_is_listed_with_its_span(results: ResultStore, job_id: str) -> None:
    # (A reduce orders blobs by their spans without reading them: `durable_batch.activities.reduce`.)
    results.write_result_batch(job_id, "p00000-b00001", [{"id": f"t{i}", "index": i} for i in (7, 3, 5, 3)])
    results.write_result_batch(job_id, "p00000-b00002", [{"id": "x", "index": 1}, {"id": "y", "index": True}])
    results.write_result_batch(job_id, "p00000-b00003", [{"taskId": "t"}])
    results.write_result_batch(job_id, "p00000-b00004", [])
    listed = {batch.name.rsplit("/", 1)[1]: batch.span for batch in results.result_batches(job_id)}
    assert listed == {
        "p00000-b00001.jsonl": ResultSpan(first=3, last=7, tasks=3),  # task 3 twice: three tasks
        "p00000-b00002.jsonl": None,  # a position that is not an integer
        "p00000-b00003.jsonl": None,
        "p00000-b00004.jsonl": None,
    }


def test_iteration_reads_one_batch_blob_at_a_time(results: ResultStore, job_id: str) -> None:
    results.write_result_batch(job_id, 0, [{"n": 0}, {"n": 1}])
    results.write_result_batch(job_id, 1, [{"n": 2}])
    rows = results.iter_results(job_id)
    assert next(rows) == {"n": 0}
    # The second blob has not been read yet: removing it now shows up when iteration reaches it.
    results.delete_job(job_id)
    assert next(rows) == {"n": 1}
    with pytest.raises(NotFound):
        next(rows)


def test_a_large_batch_streams_back_complete(results: ResultStore, job_id: str) -> None:
    rows = [{"taskId": f"t{i:05d}", "result": {"value": i, "pad": "y" * 40}} for i in range(20_000)]
    results.write_result_batch(job_id, 0, rows)
    count = 0
    for expected, row in zip(rows, results.iter_results(job_id), strict=True):
        assert row == expected
        count += 1
    assert count == 20_000


def test_files_upload_and_download(results: ResultStore, job_id: str, tmp_path: Path) -> None:
    source = tmp_path / "render.py"
    source.write_bytes(b"print('hi')\n" * 1000)
    blob = f"{job_id}/inputs/render.py"
    assert results.upload_file(blob, source) == blob
    target = tmp_path / "work" / "nested" / "render.py"
    assert results.download_to_file(blob, target) == source.stat().st_size
    assert target.read_bytes() == source.read_bytes()

    output = results.upload_task_output(job_id, "t1", source, "out/frame-1.png")
    assert output == f"_jobs/{job_id}/tasks/t1/outputs/out/frame-1.png"
    assert results.read_blob(output) == source.read_bytes()


def test_downloading_a_missing_blob_names_it_and_leaves_no_file(
    results: ResultStore, job_id: str, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match=f"{job_id}/inputs/missing.csv"):
        results.download_to_file(f"{job_id}/inputs/missing.csv", tmp_path / "missing.csv")
    assert list(tmp_path.iterdir()) == []


def test_delete_job_removes_only_that_jobs_blobs(results: ResultStore, job_id: str) -> None:
    results.write_text(f"{job_id}/inputs.csv", "a user's file in a folder named like the job")
    other = f"{job_id}x"  # shares the prefix as a string, but not as a folder
    results.write_summary(other, {"kept": True})
    results.write_job_spec(job_id, {"id": job_id})
    for part in range(300):  # more than one blob batch request
        results.write_result_batch(job_id, part, [{"n": part}])
    results.write_task_blob(job_id, "t1", "stdout.txt", "x")

    assert results.delete_job(job_id) == 302
    assert results.delete_job(job_id) == 0
    assert list(results.iter_results(job_id)) == []
    assert results.read_job_spec(job_id) is None
    assert results.read_summary(other) == {"kept": True}
    assert results.read_blob(f"{job_id}/inputs.csv") == b"a user's file in a folder named like the job"


def test_container_comes_from_settings(azurite: Azurite, job_id: str) -> None:
    settings = {"AzureWebJobsStorage": azurite.connection_string, "BATCH_RESULTS_CONTAINER": "custom-results"}
    store = ResultStore.from_settings(settings)
    store.write_summary(job_id, {"ok": 1})
    assert store.container_name == "custom-results"
    assert store.url(store.summary_name(job_id)).endswith(f"/custom-results/_jobs/{job_id}/summary.json")
    assert ResultStore.from_settings(settings).read_summary(job_id) == {"ok": 1}
    default = ResultStore.from_settings({"AzureWebJobsStorage": azurite.connection_string})
    assert default.container_name == "batch-results"
    assert default.read_summary(job_id) is None


def test_an_invalid_container_name_says_which_setting_to_fix(account: StorageAccount, job_id: str) -> None:
    with pytest.raises(StorageConfigError, match="BATCH_RESULTS_CONTAINER"):
        ResultStore(ContainerBlobs(account, "Not_A_Valid_Name")).write_summary(job_id, {})
