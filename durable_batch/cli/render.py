"""What the commands print: the API's JSON as it came, or Rich tables; and the live view of a running job.

Everything here is a pure function of the API's JSON (and, for the live view, of a `Progress` sample), so the
shapes can be tested without a host.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from durable_batch.cli.client import ApiError

TASK_STATES = ("pending", "running", "succeeded", "failed", "skipped", "cancelled")
DONE_STATES = ("succeeded", "failed", "skipped", "cancelled")
"""The states a task ends in: a job is done when all its tasks are in one."""
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
STATE_STYLES = {
    "pending": "dim",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "skipped": "yellow",
    "cancelled": "yellow",
    "disabled": "magenta",
}


def to_json(data: Any) -> str:
    """The API's JSON, unchanged but indented, for `--output json` (pipe it to `jq`)."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def error_lines(error: ApiError) -> list[str]:
    """`code: message`, then a `path: message` line per detail: what the API said, all of it."""
    lines = [f"{error.code}: {error.message}"]
    lines.extend(
        f"  {detail.path}: {detail.message}" if detail.path else f"  {detail.message}" for detail in error.details
    )
    return lines


def _styled(state: Any) -> Text:
    text = str(state or "")
    return Text(text, style=STATE_STYLES.get(text, ""))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _counts(view: Mapping[str, Any]) -> dict[str, int]:
    counts = view.get("taskCounts")
    if not isinstance(counts, Mapping):
        return {}
    return {name: value for name, value in counts.items() if isinstance(value, int)}


def _progress(counts: Mapping[str, int]) -> str:
    total = counts.get("total", 0)
    done = sum(counts.get(state, 0) for state in DONE_STATES)
    return f"{done}/{total}"


def jobs_table(page: Mapping[str, Any]) -> Table:
    """A page of `GET /api/jobs`: a row per job, newest first as the API lists them."""
    table = Table("id", "state", "done", "succeeded", "failed", "created", "ended", title="jobs", title_justify="left")
    for job in page.get("value") or []:
        counts = _counts(job)
        table.add_row(
            _cell(job.get("id")),
            _styled(job.get("state")),
            _progress(counts),
            str(counts.get("succeeded", 0)),
            str(counts.get("failed", 0)),
            _cell(job.get("createdAt")),
            _cell(job.get("endedAt")),
        )
    return table


def job_table(view: Mapping[str, Any]) -> Table:
    """One job: its state, times, counts and where its results are; failed tasks when it has finished."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("id", _cell(view.get("id")))
    state = _styled(view.get("state"))
    if view.get("cancelRequested"):
        state.append(" (cancel requested)")
    table.add_row("state", state)
    if view.get("state") == "disabled" and view.get("disableTasks"):
        state.append(f" ({view.get('disableTasks')})")
    for name in ("createdAt", "startedAt", "endedAt", "reason", "maxParallelTasks", "toleratedFailurePercentage"):
        if view.get(name) is not None:
            table.add_row(name, _cell(view.get(name)))
    pool = view.get("poolInfo")
    if isinstance(pool, Mapping):
        table.add_row("pool", f"{_cell(pool.get('poolId'))}  priority={_cell(view.get('priority'))}")
    slots = view.get("slots")
    if isinstance(slots, Mapping):
        # What the pool granted the job now, and what its ready tasks wait for.
        table.add_row(
            "slots",
            f"held={_cell(slots.get('held'))}  waiting={_cell(slots.get('waiting'))}  "
            f"rate-limited={_cell(slots.get('rateLimited', 0))}",
        )
    counts = _counts(view)
    table.add_row("tasks", "  ".join(f"{name}={counts.get(name, 0)}" for name in ("total", *TASK_STATES)))
    results = view.get("results")
    if isinstance(results, Mapping):
        table.add_row("results", f"{_cell(results.get('container'))}/{_cell(results.get('prefix'))}")
    if view.get("reduce") is not None:
        # The reduce handler's output, as the job's summary keeps it.
        table.add_row("reduce", to_json(view.get("reduce")))
    cost = view.get("cost")
    if isinstance(cost, Mapping):
        table.add_row("cost", _cost(cost))
    runs = view.get("runs")
    if isinstance(runs, list) and len(runs) > 1:
        # A re-run job: each run's number, state and what it ran.
        table.add_row("runs", "  ".join(_run(run) for run in runs if isinstance(run, Mapping)))
    failed = view.get("failedTasks")
    if isinstance(failed, list) and failed:
        # The job view lists failed tasks' ids (the first 100); `task list --state failed` has their errors.
        table.add_row("failed tasks", ", ".join(_cell(item) for item in failed))
    return table


_COST_FIELDS = ("orchestrations", "episodes", "historyEvents", "replayedEvents", "activityCalls", "timers")


def _cost(cost: Mapping[str, Any]) -> str:
    """What the job cost so far (the API's `cost`): its durable work, then its storage requests, the kinds it
    used only."""
    storage = cost.get("storageRequests")
    storage = storage if isinstance(storage, Mapping) else {}
    used = [f"{kind}={_cell(n)}" for kind, n in storage.items() if kind != "total" and n]
    return "  ".join(f"{name}={_cell(cost.get(name))}" for name in _COST_FIELDS) + (
        f"\nstorageRequests={_cell(storage.get('total'))}" + (f" ({'  '.join(used)})" if used else "")
    )


def _run(run: Mapping[str, Any]) -> str:
    counts = run.get("taskCounts")
    counts = counts if isinstance(counts, Mapping) else {}
    return f"#{_cell(run.get('number'))} {_cell(run.get('state'))} ({_cell(counts.get('total'))} tasks)"


def tasks_table(page: Mapping[str, Any], *, title: str = "tasks") -> Table:
    """A page of `GET /api/jobs/{id}/tasks` (or a job's `failedTasks`)."""
    table = Table("id", "state", "attempts", "started", "ended", "duration", "error", title=title, title_justify="left")
    for task in page.get("value") or []:
        table.add_row(
            _cell(task.get("id")),
            _styled(task.get("state")),
            _cell(task.get("attempts")),
            _cell(task.get("startedAt")),
            _cell(task.get("endedAt")),
            task_duration(task),
            _first_line(task.get("error")),
        )
    return table


def task_duration(task: Mapping[str, Any]) -> str:
    """How long a task ran, from its start to its end (its last attempt's): milliseconds below a second, so that
    short tasks do not all read `0s`; empty until it has both times."""
    try:
        started = datetime.fromisoformat(str(task["startedAt"]))
        ended = datetime.fromisoformat(str(task["endedAt"]))
    except (KeyError, TypeError, ValueError):
        return ""
    return format_duration((ended - started).total_seconds())


def format_duration(seconds: float) -> str:
    """`12 ms`, `1.35 s`, `2:05` (minutes), `1:02:05` (hours)."""
    if seconds < 1:
        return f"{max(seconds, 0) * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    return _duration(seconds)


def _first_line(value: Any) -> str:
    """A table row keeps an error's first line; its traceback is in `task show` and in the JSON."""
    text = _cell(value)
    return text.splitlines()[0] if text else ""


def task_table(view: Mapping[str, Any]) -> Table:
    """One task as the API gives it: what it runs and its input, state, attempts, times, error, and its result
    (as JSON; a result too large for the view, by its size and link)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("id", _cell(view.get("id")))
    definition = view.get("definition")
    if isinstance(definition, Mapping):
        if "commandLine" in definition:
            table.add_row("commandLine", _cell(definition.get("commandLine")))
        else:
            table.add_row("handler", _cell(definition.get("handler")))
            table.add_row("input", to_json(definition.get("input")))
        for name in ("dependsOn", "resourceFiles", "outputFiles", "environment"):
            if definition.get(name):
                table.add_row(name, _cell(definition.get(name)))
    elif view.get("definitionError"):
        table.add_row("definition", _cell(view.get("definitionError")))
    table.add_row("state", _styled(view.get("state")))
    for name in ("attempts", "startedAt", "endedAt"):
        if view.get(name) is not None:
            table.add_row(name, _cell(view.get(name)))
    if task_duration(view):
        table.add_row("duration", task_duration(view))
    for name in ("error", "resultBlob", "resultUrl", "resultError"):
        if view.get(name) is not None:
            table.add_row(name, _cell(view.get(name)))
    if isinstance(view.get("resultSize"), int):
        table.add_row("resultSize", f"{view['resultSize']:,} bytes")
    if view.get("resultOmitted"):
        table.add_row("result", "(too large to show here: download it from resultUrl)")
    elif "result" in view:
        table.add_row("result", to_json(view.get("result")))
    return table


def files_table(page: Mapping[str, Any]) -> Table:
    """A page of `GET /api/files/{container}`: a row per file, in name order."""
    title = f"{_cell(page.get('container'))}/{_cell(page.get('prefix'))}"
    table = Table("name", "url", title=title, title_justify="left")
    for item in page.get("value") or []:
        table.add_row(_cell(item.get("name")), _cell(item.get("url")))
    return table


def uploaded_table(files: Sequence[Mapping[str, Any]]) -> Table:
    """What `files upload` stored: each file's container, name (the `blob` a resource file names) and size."""
    table = Table("container", "name", "size", title="uploaded", title_justify="left")
    for info in files:
        table.add_row(_cell(info.get("container")), _cell(info.get("name")), _cell(info.get("size")))
    return table


def more_hint(page: Mapping[str, Any]) -> str | None:
    """How to ask for the next page, when there is one."""
    token = page.get("continuationToken")
    return f"more: add --continuation-token '{token}'" if isinstance(token, str) and token else None


@dataclass(frozen=True)
class Progress:
    """A job's progress between two looks at it: how fast tasks finish, and when the rest will have."""

    done: int
    total: int
    rate: float | None
    """Finished tasks per second since the watch began; None until two looks apart in time."""

    @property
    def eta_seconds(self) -> float | None:
        if self.rate is None or self.rate <= 0:
            return None
        return max(0, self.total - self.done) / self.rate


def finished_tasks(view: Mapping[str, Any]) -> int:
    counts = _counts(view)
    return sum(counts.get(state, 0) for state in DONE_STATES)


def progress_between(first: tuple[float, int], latest: tuple[float, int], total: int) -> Progress:
    """`first` and `latest` are (seconds, finished tasks) samples; the rate is the slope between them."""
    (t0, done0), (t1, done1) = first, latest
    rate = (done1 - done0) / (t1 - t0) if t1 > t0 else None
    return Progress(done=done1, total=total, rate=rate)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


LATEST_FAILURES = 3


def latest_failures(page: Mapping[str, Any], count: int = LATEST_FAILURES) -> list[Mapping[str, Any]]:
    """The failed tasks of a page (`GET .../tasks?state=failed`, listed by id) that ended last, newest first."""
    failed = [task for task in page.get("value") or [] if isinstance(task, Mapping)]
    return sorted(failed, key=lambda task: str(task.get("endedAt") or ""), reverse=True)[:count]


def watch_view(
    view: Mapping[str, Any],
    progress: Progress,
    *,
    width: int = 30,
    failures: Sequence[Mapping[str, Any]] = (),
) -> RenderableType:
    """The live display: the job, its state and phase, a bar, counts per state, tasks/s, the ETA, and the
    latest failures (each task's id and its error's first line)."""
    total = max(progress.total, 0)
    fraction = progress.done / total if total else (1.0 if view.get("state") in FINISHED else 0.0)
    filled = round(fraction * width)
    head = Text(f"{_cell(view.get('id'))}  ")
    head.append_text(_styled(view.get("state")))
    phase = view.get("phase")
    if view.get("state") not in FINISHED and isinstance(phase, str) and phase not in ("running", view.get("state")):
        # Why a full bar still waits (reducing), or why an empty one does (planning).
        head.append(f" ({phase})", style="yellow" if phase == "cancelling" else "cyan")
    elif view.get("cancelRequested") and view.get("state") not in FINISHED:
        head.append(" (cancelling)", style="yellow")
    bar = Text("█" * filled, style="green")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {progress.done}/{total} {fraction:.0%}")
    rate = "--" if progress.rate is None else f"{progress.rate:.1f}"
    bar.append(f"  {rate} tasks/s  ETA {_duration(progress.eta_seconds)}")
    counts = _counts(view)
    line = Text()
    for index, state in enumerate(TASK_STATES):
        if index:
            line.append("  ")
        line.append(f"{state}={counts.get(state, 0)}", style=STATE_STYLES[state])
    parts: list[RenderableType] = [head, bar, line]
    for task in failures:
        failure = Text("  failed ", style="red")
        failure.append(f"{_cell(task.get('id'))}: {_first_line(task.get('error'))}"[:200])
        parts.append(failure)
    reason = view.get("reason")
    if view.get("state") in FINISHED and reason:
        parts.append(Text(str(reason)))
    return Group(*parts)
