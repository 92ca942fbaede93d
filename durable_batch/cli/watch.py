"""Follow a job until it finishes, redrawing the live display; the exit code says how it ended.

The clock and the sleep are parameters so that a test can drive the loop without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.live import Live

from durable_batch.cli.client import JobApi
from durable_batch.cli.render import FINISHED, finished_tasks, latest_failures, progress_between, watch_view

POLL_SECONDS = 1.0
"""The API's counts of a running job lag by a few seconds anyway; a faster poll only loads the host."""


FAILURE_PAGE = 100
"""Failed tasks are listed by id; the latest shown are those that ended last among the first this many."""


def exit_code(view: dict[str, Any]) -> int:
    """0 only when the job succeeded, so that scripts and CI can rely on it; 1 when it failed or was cancelled."""
    return 0 if view.get("state") == "succeeded" else 1


def watch(
    api: JobApi,
    job_id: str,
    console: Console,
    *,
    first: dict[str, Any] | None = None,
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll `GET /api/jobs/{id}` until the job has finished, showing its progress live; return the last view.
    The failed tasks are asked for only when the job's failed count has changed since the last look."""
    view = first if first is not None else api.job(job_id)
    start = (clock(), finished_tasks(view))
    failures: list[Any] = []
    failed_seen = 0

    def render(current: dict[str, Any]) -> Any:
        nonlocal failures, failed_seen
        failed = int((current.get("taskCounts") or {}).get("failed", 0))
        if failed != failed_seen:
            failed_seen = failed
            failures = latest_failures(api.tasks(job_id, state="failed", top=FAILURE_PAGE)) if failed else []
        total = int((current.get("taskCounts") or {}).get("total", 0))
        progress = progress_between(start, (clock(), finished_tasks(current)), total)
        return watch_view(current, progress, failures=failures)

    with Live(render(view), console=console, auto_refresh=False, transient=False) as live:
        while view.get("state") not in FINISHED:
            sleep(poll_seconds)
            view = api.job(job_id)
            live.update(render(view), refresh=True)
    return view
