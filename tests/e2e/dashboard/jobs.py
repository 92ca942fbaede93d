"""The jobs the dashboard's tests submit, with user data that is markup, so that rendering it as anything but
text would show (`window.__xss` set, an element that should not exist)."""

from __future__ import annotations

import sys
from typing import Any

from tests.e2e.api.jobs import invoice, sleeper

MARKUP = '<img src=x onerror="window.__xss=1"><b id="injected">bold</b>'


def failing(task_id: str, message: str = MARKUP) -> dict[str, Any]:
    """A command task that writes `message` to stderr and exits 3: its error carries the markup."""
    script = f"import sys; sys.stderr.write({message!r}); sys.exit(3)"
    return {"id": task_id, "commandLine": [sys.executable, "-c", script]}


def printing(task_id: str, message: str = MARKUP) -> dict[str, Any]:
    """A command task that prints `message` and succeeds: its stdout log carries the markup."""
    return {"id": task_id, "commandLine": [sys.executable, "-c", f"print({message!r})"]}


def finished_job(job_id: str, invoices: int = 120) -> dict[str, Any]:
    tasks = [invoice(n) for n in range(1, invoices + 1)]
    tasks += [failing(f"bad-{n}") for n in range(1, 4)]
    tasks.append(printing("echo-1"))
    return {"id": job_id, "tasks": tasks}


def running_job(job_id: str) -> dict[str, Any]:
    """Two quick tasks and two that sleep long enough to be seen running and cancelled."""
    return {"id": job_id, "tasks": [invoice(1), invoice(2), sleeper("slow-1", 120), sleeper("slow-2", 120)]}
