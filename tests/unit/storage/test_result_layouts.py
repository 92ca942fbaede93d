"""Where a job's files are: `_jobs/{jobId}/` for every job created now, `{jobId}/` for a job whose record is from
before that layout; the record says which, a delete of an old job takes its own entries only, and a task list the
app wrote is read only as it was written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from durable_batch.app.services import Services
from durable_batch.app.settings import Settings
from durable_batch.batch.handlers import TaskHandlers
from durable_batch.storage import sources
from durable_batch.storage.blobs import MemoryBlobs
from durable_batch.storage.jobs import JobRecord, JobState, JobStore
from durable_batch.storage.results import CURRENT_LAYOUT, OLD_LAYOUT, ResultStore, job_folder, layout_of_record
from durable_batch.storage.rows import MemoryRows
from durable_batch.storage.sources import SourceBlobs, SourceChanged, block_digest

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_record_names_its_layout_and_one_from_before_has_the_old_one() -> None:
    assert layout_of_record(exists=False, layout=None) == CURRENT_LAYOUT
    assert layout_of_record(exists=True, layout=None) == OLD_LAYOUT
    assert layout_of_record(exists=True, layout=CURRENT_LAYOUT) == CURRENT_LAYOUT
    assert job_folder("inputs", OLD_LAYOUT) == "inputs/"
    assert job_folder("inputs", CURRENT_LAYOUT) == "_jobs/inputs/"
    with pytest.raises(ValueError, match="names layout 9, which this version does not know"):
        job_folder("inputs", 9)


def test_every_record_created_now_has_the_current_layout() -> None:
    jobs = JobStore(MemoryRows())
    assert jobs.create_job(JobRecord("a", JobState.PENDING, T0))
    assert jobs.upsert_job(JobRecord("b", JobState.RUNNING, T0))
    assert jobs.upsert_job(JobRecord("a", JobState.RUNNING, T0))
    assert [jobs.get_job(job_id).layout for job_id in "ab"] == [CURRENT_LAYOUT, CURRENT_LAYOUT]  # type: ignore[union-attr]


class Layouts:
    """A record lookup that counts its calls."""

    def __init__(self, layouts: dict[str, int]) -> None:
        self.layouts = layouts
        self.asked: list[str] = []

    def __call__(self, job_id: str) -> int:
        self.asked.append(job_id)
        return self.layouts.get(job_id, CURRENT_LAYOUT)


def test_the_current_layout_is_asked_once_and_an_old_one_every_time() -> None:
    layouts = Layouts({"old": OLD_LAYOUT})
    results = ResultStore(MemoryBlobs(), layouts)
    assert [results.summary_name("new") for _ in range(3)] == ["_jobs/new/summary.json"] * 3
    assert [results.summary_name("old") for _ in range(2)] == ["old/summary.json"] * 2
    assert layouts.asked == ["new", "old", "old"]
    # An old job deleted and submitted again is in the current layout from then on.
    layouts.layouts["old"] = CURRENT_LAYOUT
    assert results.task_prefix("old", "t") == "_jobs/old/tasks/t/"


def test_services_resolve_a_jobs_layout_from_its_record() -> None:
    services = Services.in_memory(Settings(storage={}), cast(TaskHandlers, {}))
    assert services.jobs.create_job(JobRecord("fresh", JobState.PENDING, T0))
    assert services.results.job_prefix("fresh") == "_jobs/fresh/"
    assert services.results.job_prefix("not-submitted") == "_jobs/not-submitted/"


USER_FILES = ["inputs/data.csv", "inputs/tasks.txt", "inputs/sub/job.json.bak", "inputs2/results/x", "_jobs/x/y"]


def test_deleting_an_old_job_takes_only_the_entries_of_its_layout() -> None:
    blobs = MemoryBlobs()
    results = ResultStore(blobs, Layouts({"inputs": OLD_LAYOUT}))
    own = [
        "inputs/job.json",
        "inputs/summary.json",
        "inputs/reduce.json",
        "inputs/results/p00000-b00000.jsonl",
        "inputs/tasks/t/stdout.txt",
        "inputs/source/files.jsonl",
    ]
    for name in own + USER_FILES:
        blobs.put(name, b"x")
    assert results.delete_job("inputs") == len(own)
    assert sorted(blobs.list_names("")) == sorted(USER_FILES)
    assert results.delete_job("inputs") == 0


def test_deleting_a_job_takes_its_whole_folder_and_nothing_else() -> None:
    blobs = MemoryBlobs()
    results = ResultStore(blobs)
    for name in ["_jobs/inputs/job.json", "_jobs/inputs/anything/else", *USER_FILES]:
        blobs.put(name, b"x")
    assert results.delete_job("inputs") == 2
    assert sorted(blobs.list_names("")) == sorted(USER_FILES)


@pytest.mark.parametrize(("layout", "folder"), [(OLD_LAYOUT, "j/"), (CURRENT_LAYOUT, "_jobs/j/")])
def test_a_job_naming_its_own_files_by_the_old_spelling_reads_its_folder(layout: int, folder: str) -> None:
    results = ResultStore(MemoryBlobs(), Layouts({"j": layout}))
    assert results.own_blob_name("j", "j/tasks/t/outputs/a.txt") == f"{folder}tasks/t/outputs/a.txt"
    assert results.own_blob_name("j", "_jobs/j/tasks/t/outputs/a.txt") == "_jobs/j/tasks/t/outputs/a.txt"
    assert results.own_blob_name("j", "j/inputs/a.txt") == "j/inputs/a.txt"
    assert results.own_blob_name("j", "other/tasks/a.txt") == "other/tasks/a.txt"


class StoredList(SourceBlobs):
    """A task list in memory, read by byte ranges as the account reads one."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read_range(self, container: str, blob: str, start: int, end: int | None, etag: str | None) -> bytes:
        return self.data[start:end]


def listing(names: list[str]) -> tuple[bytes, dict[str, Any]]:
    data = "".join(f'"{name}"\n' for name in names).encode()
    split = len(f'"{names[0]}"\n'.encode())
    resolved = {
        "source": {"container": "batch-results", "blob": "_jobs/j/source/files.jsonl", "etag": None},
        "offsets": [0, split],
        "blockDigests": [block_digest(data[:split]), block_digest(data[split:])],
        "size": len(data),
    }
    return data, {"resolved": resolved}


def test_a_task_list_is_read_only_as_it_was_written() -> None:
    data, factory = listing(["a.png", "b.png"])
    assert StoredList(data).block_reader(factory)(1) == ["b.png"]
    changed = data.replace(b"b.png", b"x.png")
    reader = StoredList(changed).block_reader(factory)
    assert reader(0) == ["a.png"]
    with pytest.raises(SourceChanged) as caught:
        reader(1)
    assert str(caught.value) == (
        "the task list batch-results/_jobs/j/source/files.jsonl (block 1) is not the one written when the job was "
        "submitted: it was changed since, and is not read as the job's tasks"
    )


def test_a_task_list_from_before_block_digests_is_read_as_it_is() -> None:
    data, factory = listing(["a.png", "b.png"])
    del factory["resolved"]["blockDigests"]
    assert StoredList(data.replace(b"b.png", b"x.png")).block_reader(factory)(1) == ["x.png"]


class CountedList(StoredList):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.ranges: list[tuple[int, int | None]] = []

    def read_range(self, container: str, blob: str, start: int, end: int | None, etag: str | None) -> bytes:
        self.ranges.append((start, end))
        return super().read_range(container, blob, start, end, etag)


def test_a_source_is_read_a_few_blocks_a_request_when_read_in_order() -> None:
    lines = [f'{{"id": "t{i}"}}\n'.encode() for i in range(10)]  # a block of one line each
    data = b"".join(lines)
    offsets = [sum(len(line) for line in lines[:i]) for i in range(10)]
    factory = {
        "resolved": {"source": {"container": "c", "blob": "b", "etag": "e"}, "offsets": offsets, "size": len(data)}
    }
    stored = CountedList(data)
    reader = stored.block_reader(factory, read_ahead=True)
    assert [reader(n) for n in range(10)] == [[{"id": f"t{i}"}] for i in range(10)]
    assert stored.ranges == [(0, offsets[8]), (offsets[8], len(data))]  # READ_AHEAD_BLOCKS a request
    assert reader(3) == [{"id": "t3"}] and len(stored.ranges) == 3  # handed out once: asked again, read again
    single = CountedList(data)
    assert single.block_reader(factory)(4) == [{"id": "t4"}] and single.ranges == [(offsets[4], offsets[5])]


def test_a_read_ahead_stops_at_its_byte_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "READ_AHEAD_BYTES", 40)
    lines = [f'{{"id": "t{i}", "pad": "{"x" * 6}"}}\n'.encode() for i in range(4)]  # 30 bytes each
    data = b"".join(lines)
    offsets = [30 * i for i in range(4)]
    factory = {
        "resolved": {"source": {"container": "c", "blob": "b", "etag": None}, "offsets": offsets, "size": len(data)}
    }
    stored = CountedList(data)
    reader = stored.block_reader(factory, read_ahead=True)
    assert [reader(n)[0]["id"] for n in range(4)] == ["t0", "t1", "t2", "t3"]
    assert stored.ranges == [(0, 30), (30, 60), (60, 90), (90, 120)]  # two blocks would be over 40 bytes
