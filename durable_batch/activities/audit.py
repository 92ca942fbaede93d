"""AUDIT_JOB: before a job says `succeeded`, its task records and results must account for every task.

Storage that acknowledged a write and then lost it (Azurite killed before it saved, a restore from an older
copy) leaves tasks the orchestration counted as finished with a record still `pending` or `running`, a chunk
row gone, a re-run's task still holding an earlier run's record, or a success whose results blob is gone. Such
a task was never recorded in full, so it counts as not run: the audit records it as failed with a reason
(`TaskStore.mark_lost`), and the job fails naming it; a re-run runs it again.

Cost: the job's chunk rows, read once in order (2,000 rows for a million tasks), and one listing of its
results blobs; no read per task. The spec's layout (which chunk holds how many tasks: what prepare wrote) is
walked beside the rows, so a chunk row that is gone, or holds another number of tasks, is noticed too; the
spec's task ids are read only for such a chunk. Running it again finds the tasks it marked by their error, and
counts them again: a retried audit answers the same.
"""

from __future__ import annotations

from collections.abc import Callable

from durable_batch.activities.partitions import chunk_positions
from durable_batch.activities.specs import SpecCache
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.records import Chunk, rank
from durable_batch.batch.states import TaskCounts, TaskState
from durable_batch.batch.times import iso_now, to_ms

__all__ = ["LOST_ERROR", "audit_job"]

LOST_ERROR = (
    "lost: storage lost this task's record or result after acknowledging it, so it counts as not run; "
    "re-run the job (POST .../rerun) to run it again"
)


def _lost_in(
    chunk: Chunk | None, size: int, run: int, results: set[str], batch_name: Callable[[int, int], str]
) -> list[int]:
    """The indexes of a chunk's tasks that are not recorded in full (`size`: the tasks the layout gives it)."""
    if chunk is None or len(chunk) != size:
        return list(range(size))
    lost: list[int] = []
    written: dict[int, bool] = {}  # batch -> its results blob is there (a chunk's tasks share a few batches)
    for i in range(len(chunk)):
        state = chunk.state(i)
        if rank(state) < 2:
            lost.append(i)  # the orchestration counted it finished: its last record was lost
        elif state == TaskState.SUCCEEDED:
            batch = chunk.batches[i]
            if batch is not None and batch not in written:
                written[batch] = batch_name(chunk.partition, batch) in results
            if batch is None or not written[batch]:
                lost.append(i)
        elif chunk.runs[i] < run:
            lost.append(i)  # a re-run reopened it (every task not succeeded): that write was lost
        elif state == TaskState.FAILED and chunk.errors.get(i) == LOST_ERROR:
            lost.append(i)  # marked by an earlier delivery of this audit
    return lost


def audit_job(services: Services, specs: SpecCache, data: wire.AuditJobInput) -> wire.JobAudit:
    """Check the job's records and results against its tasks; mark what storage lost as failed (see the
    module). Returns the counts as recorded then, and the lost tasks."""
    job_id, run = data["jobId"], data.get("run", 1)
    cached = specs.get(job_id, data["specHash"])
    results = set(services.results.list_result_batches(job_id))

    def batch_name(partition: int, batch: int) -> str:
        return services.results.partition_batch_name(job_id, partition, batch)

    # Chunk rows come in key order, which is the layout's order (`durable_batch.batch.records.chunk_key`): walked
    # together, so memory holds one chunk at a time.
    rows = services.tasks.iter_chunks(job_id)
    row = next(rows, None)
    counts = TaskCounts()
    lost_ids: list[str] = []
    lost = 0
    now = to_ms(iso_now())
    for partition, number, positions in chunk_positions(cached, data["partitionSize"]):
        while row is not None and (row.partition, row.number) < (partition, number):
            row = next(rows, None)
        chunk = row if row is not None and (row.partition, row.number) == (partition, number) else None
        missing = _lost_in(chunk, len(positions), run, results, batch_name)
        if missing:
            # Only a chunk rewritten here needs its ids from the spec: a row that is there wrote them at prepare
            # and keeps them (a million tasks' ids built again cost the audit most of its time).
            if chunk is not None and len(chunk) == len(positions):
                ids = list(chunk.ids)
            else:
                ids = cached.spec.task_ids(positions)
            chunk = services.tasks.mark_lost(job_id, partition, number, ids, missing, LOST_ERROR, run=run, ended_ms=now)
            lost += len(missing)
            room = wire.MAX_LISTED_FAILURES - len(lost_ids)
            lost_ids.extend(chunk.ids[i] for i in missing[: max(0, room)])
        assert chunk is not None
        counts = counts + chunk.counts()
    return {"taskCounts": counts.to_json(), "lost": lost, "lostIds": lost_ids}
