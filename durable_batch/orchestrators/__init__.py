"""The durable orchestrators: a job (orchestrators.job), its partition groups (orchestrators.group) and their
partitions (orchestrators.partition); the job and a group share their loop (orchestrators.fanout). Each schedule
resource has an eternal orchestration of its own (orchestrators.schedule). Each pool has a durable entity that
hands out its task slots to the partitions of its jobs (orchestrators.pool).

They are deterministic and do no I/O: everything that touches storage or runs user code is an activity.
"""

from __future__ import annotations

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.orchestrators.group import group_orchestrator
from durable_batch.orchestrators.job import job_orchestrator
from durable_batch.orchestrators.partition import partition_orchestrator
from durable_batch.orchestrators.pool import pool_entity
from durable_batch.orchestrators.schedule import schedule_orchestrator


def register(bp: df.Blueprint) -> None:
    """Register the orchestrators under the names in `durable_batch.batch.wire`."""
    bp.orchestration_trigger(context_name="context", orchestration=wire.JOB_ORCHESTRATOR)(
        _named(job_orchestrator, wire.JOB_ORCHESTRATOR)
    )
    bp.orchestration_trigger(context_name="context", orchestration=wire.GROUP_ORCHESTRATOR)(
        _named(group_orchestrator, wire.GROUP_ORCHESTRATOR)
    )
    bp.orchestration_trigger(context_name="context", orchestration=wire.PARTITION_ORCHESTRATOR)(
        _named(partition_orchestrator, wire.PARTITION_ORCHESTRATOR)
    )
    bp.orchestration_trigger(context_name="context", orchestration=wire.SCHEDULE_ORCHESTRATOR)(
        _named(schedule_orchestrator, wire.SCHEDULE_ORCHESTRATOR)
    )
    bp.entity_trigger(context_name="context", entity_name=wire.POOL_ENTITY)(_named(pool_entity, wire.POOL_ENTITY))


def _named(fn: object, name: str) -> object:
    # The function name is the Python name; it must be unique in the app and match the durable name.
    fn.__name__ = name  # type: ignore[attr-defined]
    fn.__qualname__ = name  # type: ignore[attr-defined]
    return fn
