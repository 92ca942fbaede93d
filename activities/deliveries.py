"""A batch's deliveries: RUN_BATCH leaves a row saying which process started a batch, so that a delivery of
the same batch after that process died knows it, and does not run the batch into the same death (the Functions
host delivers an activity again when the worker that ran it died). The rule is `batch.crashes.delivery_verdict`;
this module names this process and reads and writes the row. It costs one conditional insert per batch."""

from __future__ import annotations

import os
import socket
from typing import Any

from batch.crashes import Delivery, Verdict, delivery_verdict
from storage.tasks import TaskStore

__all__ = ["begin_batch", "this_delivery"]


def this_delivery() -> Delivery:
    """This process, and the one that supervises it (its parent: the Functions host or devhost that started
    this worker, and restarts it when it dies), on this machine."""
    machine = socket.gethostname()
    return Delivery(host=f"{machine}:{os.getppid()}", process=f"{machine}:{os.getpid()}")


def _row(delivery: Delivery) -> dict[str, Any]:
    return {"host": delivery.host, "process": delivery.process, "count": delivery.count}


def begin_batch(store: TaskStore, job_id: str, partition: int, batch: int) -> str | None:
    """Record that this delivery starts the batch. Returns why it must not run it (an earlier delivery's process
    died), or None to run it."""
    this = this_delivery()
    found = store.begin_delivery(job_id, partition, batch, _row(this))
    if found is None:
        return None
    props, etag = found
    earlier = Delivery(str(props.get("host")), str(props.get("process")), int(props.get("count") or 1))
    verdict, row = delivery_verdict(earlier, this)
    if verdict is Verdict.DIED:
        return (
            f"its process died: delivery {row.count} of batch {batch} found that an earlier one (process "
            f"{earlier.process}) had started it and never finished it"
        )
    if not store.replace_delivery(job_id, partition, batch, _row(row), etag):
        # Another delivery of the batch started it meanwhile: that one runs it.
        return f"its process died: delivery {row.count} of batch {batch} raced another delivery of it"
    return None
