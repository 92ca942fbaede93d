"""`register`: the HTTP API and the job schedule on the app's blueprint."""

from __future__ import annotations

import os
from collections.abc import Mapping

import azure.durable_functions as df

from durable_batch.api import files, insights, jobs, openapi, orchestrations, pools, schedule_routes, schedules, tasks
from durable_batch.app.services import Services
from durable_batch.dashboard import routes as dashboard


def register(bp: df.Blueprint, services: Services, environ: Mapping[str, str] | None = None) -> None:
    """Register the job, task, insights, orchestration, schedule, pool and files routes, the API document, the
    dashboard, and the schedule's timer when `BATCH_SCHEDULE` is set in `environ` (the process's app settings by
    default)."""
    jobs.register(bp, services)
    tasks.register(bp, services)
    insights.register(bp, services)
    orchestrations.register(bp, services)
    schedule_routes.register(bp, services)
    pools.register(bp, services)
    files.register(bp, services)
    openapi.register(bp)
    dashboard.register(bp)
    source = os.environ if environ is None else environ
    schedules.register(bp, services, source.get(schedules.SCHEDULE_SETTING))
