"""A batch's deliveries: RUN_BATCH leaves a mark saying which process started a batch, so that a delivery of
the same batch after that process died knows it, and does not run the batch into the same death (the Functions
host delivers an activity again when the worker that ran it died). The rule is
`durable_batch.batch.crashes.delivery_verdict`; this module names this process and keeps the marks.

A mark is a small file on this machine (`deliveries/{jobId}/p{partition}-b{batch}.json` under the work folder,
`BATCH_WORK_DIR`), written before the batch's first task and removed, with the folders it leaves empty, when the
batch returns. A file, not a
storage row: the Functions host restarts a dead worker on the same machine, where the file is, and a storage
write before every batch's first task delayed the start of short batches enough to show (a job whose batches
run a tenth of a second each reached less of its parallelism). A delivery on another machine finds no mark and
runs the batch, so a batch that kills its process runs at most once per machine before one of its deliveries
finds a mark.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from durable_batch.batch.crashes import Delivery, Verdict, delivery_verdict

__all__ = ["Deliveries", "this_delivery"]


def this_delivery() -> Delivery:
    """This process, and the one that supervises it (its parent: the Functions host or devhost that started
    this worker, and restarts it when it dies), on this machine."""
    machine = socket.gethostname()
    return Delivery(host=f"{machine}:{os.getppid()}", process=f"{machine}:{os.getpid()}")


def _text(delivery: Delivery) -> str:
    return json.dumps({"host": delivery.host, "process": delivery.process, "count": delivery.count})


class Deliveries:
    """The delivery marks of this machine's batches, as files under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, job_id: str, partition: int, batch: int) -> Path:
        return self.root / job_id / f"p{partition}-b{batch}.json"

    def begin(self, job_id: str, partition: int, batch: int) -> str | None:
        """Mark that this delivery starts the batch. Returns why it must not run it (an earlier delivery's
        process died), or None to run it."""
        path = self._path(job_id, partition, batch)
        this = this_delivery()
        for _ in range(10):  # another batch's `end` may remove the (empty) folders in between
            try:
                # (Not `exist_ok`: a folder removed between its "exists" and its check raises all the same.)
                path.parent.mkdir(parents=True)
            except FileExistsError:
                pass
            except FileNotFoundError:
                continue  # a parent removed while its child was made
            try:
                with open(path, "x") as mark:  # created only if there is none: one system call, no network
                    mark.write(_text(this))
                return None
            except FileNotFoundError:
                continue
            except FileExistsError:
                break
        else:
            return None  # the folder kept vanishing: run the batch unmarked rather than not at all
        try:
            found = json.loads(path.read_text())
            earlier = Delivery(str(found["host"]), str(found["process"]), int(found["count"]))
        except (OSError, ValueError, KeyError, TypeError):
            earlier = Delivery("unknown", "unknown")  # a mark cut short by its writer's death: another host's
        verdict, row = delivery_verdict(earlier, this)
        if verdict is Verdict.DIED:
            return (
                f"its process died: delivery {row.count} of batch {batch} found that an earlier one (process "
                f"{earlier.process}) had started it and never finished it"
            )
        temporary = path.with_name(f"{path.name}.{os.getpid()}")
        temporary.write_text(_text(row))
        os.replace(temporary, path)
        return None

    def end(self, job_id: str, partition: int, batch: int) -> None:
        """The batch returned (or failed) in this process: its delivery did not die. Folders left empty go too,
        so a work folder holds marks only of batches whose process died."""
        path = self._path(job_id, partition, batch)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        for folder in (path.parent, self.root):
            try:
                folder.rmdir()
            except OSError:  # not empty (another batch's mark), or gone already
                return
