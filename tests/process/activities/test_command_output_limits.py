"""`BATCH_MAX_OUTPUT_BYTES`: a command task whose output files sum to more fails, naming the largest file, its
size and the limit, and uploads none of them; at the limit, everything is uploaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_batch.activities.command_runner import Upload
from durable_batch.app.settings import DEFAULT_MAX_OUTPUT_BYTES, Settings
from tests.process.activities.command_support import PREFIX, PY, MemoryBlobs, python, run
from tests.support.memory_batch import MemoryBatch, job, simulate

pytestmark = pytest.mark.process

LIMIT = 1000


def writes(**files: int) -> str:
    """Code that writes each file (name with `_` for `.`) of so many bytes."""
    return "".join(f"open({name.replace('_', '.')!r}, 'wb').write(b'x' * {size})\n" for name, size in files.items())


def test_the_setting_is_one_gib_by_default() -> None:
    assert Settings.from_environ({}).max_output_bytes == DEFAULT_MAX_OUTPUT_BYTES == 1024**3
    assert Settings.from_environ({"BATCH_MAX_OUTPUT_BYTES": "5"}).max_output_bytes == 5


def test_one_file_over_the_limit_fails_the_run_by_name_and_nothing_is_uploaded(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    task = python(writes(big_bin=LIMIT + 1, small_txt=0), output_files=["*.bin"])
    result = run(task, tmp_path, blobs, max_output_bytes=LIMIT)
    assert result.exit_code == 0 and result.outputs_too_large and not result.succeeded
    assert result.error == (
        "OutputTooLarge: output file 'big.bin' is 1,001 bytes; a task's output files may sum to 1,000 bytes "
        "(BATCH_MAX_OUTPUT_BYTES), so none was uploaded. Write less, or put large output in Blob Storage from the "
        "command itself"
    )
    assert blobs.uploads == {} and result.output_files == []


def test_files_that_sum_over_the_limit_name_the_largest_and_the_total(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    put: dict[str, int] = {}

    def record(path: Path, relative: str) -> str:
        put[relative] = path.stat().st_size
        return relative

    rule = Upload("*.csv", lambda succeeded: True, record)  # a destination rule's files count too
    task = python(writes(a_txt=400, b_txt=300, c_csv=301), output_files=["*.txt"], uploads=[rule])
    result = run(task, tmp_path, blobs, max_output_bytes=LIMIT)
    assert result.error is not None and result.error.startswith(
        "OutputTooLarge: the output files sum to 1,001 bytes (the largest, 'a.txt', is 400); a task's output files "
        "may sum to 1,000 bytes (BATCH_MAX_OUTPUT_BYTES), so none was uploaded."
    )
    assert blobs.uploads == {} and put == {}


def test_files_at_the_limit_are_all_uploaded(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    result = run(python(writes(a_txt=600, b_txt=400), output_files=["*.txt"]), tmp_path, blobs, max_output_bytes=LIMIT)
    assert result.succeeded and result.error is None
    assert sorted(blobs.uploads) == [f"{PREFIX}a.txt", f"{PREFIX}b.txt"]


def test_a_failed_commands_error_keeps_its_own_reason_first(tmp_path: Path) -> None:
    task = python(writes(big_bin=LIMIT + 1) + "import time; time.sleep(30)", output_files=["*.bin"], timeout_seconds=1)
    result = run(task, tmp_path, max_output_bytes=LIMIT, kill_grace_seconds=0.5)
    assert result.timed_out and result.error is not None
    assert result.error.startswith("time limit of 1 s exceeded; the command was killed; OutputTooLarge: ")


def test_a_command_task_over_the_limit_fails_at_once_and_is_not_retried() -> None:
    tasks = [{"id": "big", "commandLine": [PY, "-c", writes(big_bin=LIMIT + 1)], "outputFiles": ["*.bin"]}]
    settings = {"BATCH_MAX_OUTPUT_BYTES": str(LIMIT)}
    app = MemoryBatch(job(tasks, maxTaskRetryCount=2, retryIntervalSeconds=0), commands=True, settings=settings)
    simulate(app).run_with_time()
    record = app.records["big"]
    assert record["state"] == "failed" and record["attempts"] == 1
    assert record["error"].startswith("OutputTooLarge: output file 'big.bin' is 1,001 bytes;")
    results = app.services.results
    # None of its outputs; no logs either: it printed nothing, on its one attempt.
    assert list(results.blobs.list_names(results.task_prefix("job-1", "big"))) == []
