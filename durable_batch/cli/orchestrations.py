"""`durable-batch orchestration list|show|terminate`: a job's orchestrations (the job's, its groups', its
partitions'), for when a job hangs (/api/jobs/{id}/orchestrations).

Imported by `durable_batch.cli.app` (the entry point), whose shared options and printing it uses; its tables are
pure functions of the API's JSON, like `durable_batch.cli.render`'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from durable_batch.cli.client import DEFAULT_URL, JobApi
from durable_batch.cli.common import KeyOption, Output, OutputOption, TokenOption, TopOption, UrlOption, hint, show

orchestration_app = typer.Typer(
    help="A job's orchestrations (job, groups, partitions): list, show with history, terminate.", no_args_is_help=True
)

JobArgument = Annotated[str, typer.Argument(metavar="JOB_ID")]
InstanceArgument = Annotated[str, typer.Argument(metavar="INSTANCE_ID", help="As `orchestration list` shows it.")]


def _path(job_id: str, instance_id: str | None = None) -> str:
    base = f"/jobs/{quote(job_id, safe='')}/orchestrations"
    return base if instance_id is None else f"{base}/{quote(instance_id, safe='')}"


def orchestrations_table(page: Mapping[str, Any]) -> Table:
    """A page of a job's orchestrations: each one's id, kind, runtime status and last update."""
    table = Table(title=f"orchestrations ({page.get('total')})", title_justify="left")
    for column in ("instance", "kind", "status", "created", "updated"):
        table.add_column(column, overflow="fold")
    for item in page.get("value") or []:
        table.add_row(
            str(item.get("instanceId")),
            str(item.get("kind")),
            str(item.get("runtimeStatus") or "(not started)"),
            str(item.get("createdAt") or ""),
            str(item.get("lastUpdatedAt") or ""),
        )
    return table


def orchestration_view(view: Mapping[str, Any]) -> RenderableType:
    """One orchestration: its status on a line, then its history events, one a line (type, time, name)."""
    head = Text(f"{view.get('instanceId')} ({view.get('kind')}): {view.get('runtimeStatus')}")
    events = Table(title_justify="left")
    for column in ("#", "event", "time", "name", "id"):
        events.add_column(column, overflow="fold")
    for number, event in enumerate(view.get("history") or []):
        if isinstance(event, Mapping):
            events.add_row(
                str(number),
                str(event.get("EventType", "")),
                str(event.get("Timestamp", "")),
                str(event.get("Name") or event.get("FunctionName") or ""),
                str(event.get("EventId", event.get("TaskScheduledId", ""))),
            )
    return Group(head, events)


@orchestration_app.command("list")
def orchestration_list(
    job_id: JobArgument,
    top: TopOption = None,
    token: TokenOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List a job's orchestrations with their runtime status (GET /api/jobs/{id}/orchestrations)."""
    page = JobApi(url, key).request("GET", _path(job_id), params={"top": top, "continuationToken": token})
    show(output, page, orchestrations_table)
    hint(page, output)


@orchestration_app.command("show")
def orchestration_show(
    job_id: JobArgument,
    instance_id: InstanceArgument,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show one of a job's orchestrations with its history (GET /api/jobs/{id}/orchestrations/{instance})."""
    show(output, JobApi(url, key).request("GET", _path(job_id, instance_id)), orchestration_view)


@orchestration_app.command("terminate")
def orchestration_terminate(
    job_id: JobArgument,
    instance_id: InstanceArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why: the job's reason says it.")] = "terminated by hand",
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Terminate one of a job's orchestrations that hangs; a group or partition terminated fails its job."""
    body = json.dumps({"reason": reason}).encode()
    answer = JobApi(url, key).request("POST", f"{_path(job_id, instance_id)}/terminate", body=body)
    show(output, {**answer, "history": []}, orchestration_view)
