"""Writing a schedule and starting or stopping its orchestration: shared by the schedule routes and the
app-setting schedule (`durable_batch.api.schedules`).

`put_schedule` writes, each step safe to repeat: the record (only if the id has none: the same body again is the
same schedule), the inline template's copy, then the orchestration. A create that stopped between them is
finished by the next identical one. Another body under an existing id is a conflict for the API; the
app-setting schedule replaces it instead (its settings changed), keeping its history and whether it is enabled.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.schedules import ScheduleSpec, next_occurrence
from durable_batch.operations.durable import get_instance
from durable_batch.operations.errors import Conflict
from durable_batch.storage.schedules import ScheduleRecord

log = logging.getLogger("durable_batch.operations.schedules")


@dataclass(frozen=True)
class Put:
    record: ScheduleRecord
    created: bool
    """False when the schedule existed (with the same body, or replaced by `put_schedule(..., replace=True)`)."""


def new_generation() -> str:
    return secrets.token_hex(8)


async def put_schedule(
    client: Any, services: Services, spec: ScheduleSpec, now: datetime, *, replace_other: bool = False
) -> Put:
    """Create the schedule, or return the existing one with the same body. Another body: `Conflict`, or
    with `replace_other`, the record takes the new body and a new generation, and the orchestration of the
    old one is stopped. A schedule started or restarted here by `replace_other` fires the occurrence that is
    due now (the app-setting timer calls this when an occurrence fires)."""
    spec_hash = spec.canonical_hash()
    template_blob = spec.template_blob or services.results.schedule_template_name(spec.id, spec_hash)
    following = next_occurrence(spec.schedule, now, spec.start_at, spec.end_at)
    if spec.template is not None:
        # Before the record: a record never names a template that was not written.
        await asyncio.to_thread(services.results.write_schedule_template, spec.id, spec_hash, spec.template)
    record = ScheduleRecord(
        schedule_id=spec.id,
        schedule=spec.schedule.expression,
        spec_hash=spec_hash,
        template_blob=template_blob,
        inline=spec.template is not None,
        generation=new_generation(),
        created=now,
        start_at=spec.start_at,
        end_at=spec.end_at,
        next_occurrence=following,
        completed=following is None,
    )
    created = await asyncio.to_thread(services.schedules.create, record)
    if not created:
        existing = await asyncio.to_thread(services.schedules.get, spec.id)
        if existing is None:
            raise Conflict(f"schedule {spec.id!r} was being deleted while it was created; create it again")
        if existing.spec_hash == spec_hash:
            record = existing
        elif not replace_other:
            raise Conflict(
                f"a schedule with id {spec.id!r} exists with another body; post the same body to get it, choose "
                "another id, or delete the existing schedule first",
                code="scheduleExists",
            )
        else:
            fresh = record
            changed = await asyncio.to_thread(
                services.schedules.update, spec.id, lambda current: _with_body(current, fresh)
            )
            if changed is None:
                raise Conflict(f"schedule {spec.id!r} was deleted while it was replaced; try again")
            await terminate(client, existing, "the schedule's settings changed")
            record = changed
    await ensure_running(client, record, catch_up=replace_other)
    return Put(record, created)


def _with_body(current: ScheduleRecord, fresh: ScheduleRecord) -> ScheduleRecord:
    """`current` (its history, whether it is enabled) with the body and generation of `fresh`."""
    return replace(
        current,
        schedule=fresh.schedule,
        spec_hash=fresh.spec_hash,
        template_blob=fresh.template_blob,
        inline=fresh.inline,
        generation=fresh.generation,
        start_at=fresh.start_at,
        end_at=fresh.end_at,
        next_occurrence=fresh.next_occurrence,
        completed=fresh.completed,
    )


async def ensure_running(client: Any, record: ScheduleRecord, *, catch_up: bool = False) -> None:
    """Start the orchestration of the record's generation unless it runs (or the schedule fires nothing).
    With `catch_up`, its first wake fires the latest occurrence at or before its time."""
    if not record.enabled or record.completed:
        return
    instance_id = wire.schedule_instance_id(record.schedule_id, record.generation)
    instance = await get_instance(client, instance_id)
    if instance is not None and instance.is_active:
        return
    schedule_input: wire.ScheduleInput = {
        "scheduleId": record.schedule_id,
        "generation": record.generation,
        "due": None,
        "catchUp": catch_up,
    }
    try:
        await client.start_new(wire.SCHEDULE_ORCHESTRATOR, instance_id, schedule_input)
    except Exception:
        # A concurrent create or enable started it first: that is success.
        instance = await get_instance(client, instance_id)
        if instance is None or not instance.is_active:
            raise


async def terminate(client: Any, record: ScheduleRecord, reason: str) -> None:
    """Stop the orchestration of the record's generation, if it runs. Best effort: the record already stops
    it at its next wake; terminating only makes that sooner."""
    instance_id = wire.schedule_instance_id(record.schedule_id, record.generation)
    try:
        instance = await get_instance(client, instance_id)
        if instance is not None and instance.is_active:
            await client.terminate(instance_id, reason)
    except Exception:
        log.warning("schedule %s: could not terminate %s; it stops at its next wake", record.schedule_id, instance_id)
