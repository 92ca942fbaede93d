"""Job specs the API tests submit."""

from __future__ import annotations

import sys
from typing import Any


def invoice(n: int, **extra: Any) -> dict[str, Any]:
    """A quick billing task (the billing example's handler)."""
    task = {
        "id": f"inv-{n:06d}",
        "handler": "billing.invoice",
        "input": {"customer": f"c-{n:06d}", "seed": 1, "period": "2026-11"},
    }
    task.update(extra)
    return task


def billing_job(job_id: str | None, tasks: int = 3, *, reduce: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"tasks": [invoice(n) for n in range(1, tasks + 1)]}
    if job_id is not None:
        spec["id"] = job_id
    if reduce:
        spec["reduce"] = {"handler": "billing.summarize"}
    return spec


def sleeper(task_id: str, seconds: float) -> dict[str, Any]:
    """A command task that sleeps: slow enough to cancel, or to delete while it runs."""
    return {"id": task_id, "commandLine": [sys.executable, "-c", f"import time; time.sleep({seconds})"]}
