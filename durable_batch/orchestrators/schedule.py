"""The schedule orchestrator: one eternal orchestration per schedule (per generation of it).

Each wake calls one activity (`activities.schedules`) that fires the due occurrence, if any (submit the job,
or record a skip or an error), and answers with the next occurrence; the orchestration then sleeps on a durable
timer until then and continues as new, so its history stays a few events long however long it lives. Between
occurrences it costs nothing: no trigger polls, and a Consumption app may scale to zero. A restart of the host
resumes the timer from durable state; an occurrence fired again after a crash finds its job by id.

It stops when the activity says so: the schedule was deleted, disabled, re-enabled (a new generation took
over), or has no occurrence left. Deterministic: the time is the orchestration's, never the wall clock.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, cast

import azure.durable_functions as df

from durable_batch.batch import wire
from durable_batch.batch.times import parse_time
from durable_batch.orchestrators.partition import STORAGE_RETRY

MAX_SLEEP = timedelta(days=6)
"""The longest timer this sets: Durable timers on Azure Storage were once limited to 7 days. A later
occurrence is reached by waking, finding it not due yet, and sleeping again."""

RETRY_LATER = timedelta(minutes=1)


def schedule_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, None]:
    state = cast(wire.ScheduleInput, context.get_input())
    now = context.current_utc_datetime
    tick_input: wire.ScheduleTickInput = {**state, "now": now.isoformat()}
    try:
        tick: wire.ScheduleTick = yield context.call_activity_with_retry(wire.SCHEDULE_TICK, STORAGE_RETRY, tick_input)
    except Exception:
        # Storage stayed unavailable through every retry: a schedule must outlive an outage, so it tries the
        # same occurrence again later rather than failing for good.
        yield context.create_timer(now + RETRY_LATER)
        context.continue_as_new(state)
        return None
    following = parse_time(tick["next"])
    if tick["stop"] or following is None:
        return None
    yield context.create_timer(min(following, now + MAX_SLEEP))
    context.continue_as_new({**state, "due": tick["next"], "catchUp": False})
    return None
