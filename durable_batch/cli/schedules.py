"""`durable-batch schedule create|list|show|disable|enable|delete`: schedules as resources (/api/schedules).

Imported by `durable_batch.cli.app` (the entry point), whose shared options and printing it uses; its tables are pure
functions of the API's JSON, like `durable_batch.cli.render`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from durable_batch.cli.client import DEFAULT_URL, JobApi
from durable_batch.cli.common import (
    KeyOption,
    Output,
    OutputOption,
    TokenOption,
    TopOption,
    UrlOption,
    hint,
    read_spec,
    show,
    stderr,
)

schedule_app = typer.Typer(
    help="Schedules: a job submitted at each occurrence of an NCRONTAB schedule.", no_args_is_help=True
)

IdArgument = Annotated[str, typer.Argument(metavar="ID")]
_OUTCOME_STYLES = {"submitted": "green", "skipped": "yellow", "error": "red", "active": "cyan", "disabled": "dim"}


def _path(schedule_id: str, action: str = "") -> str:
    return f"/schedules/{quote(schedule_id, safe='')}{action}"


def _styled(value: Any) -> Text:
    text = str(value or "")
    return Text(text, style=_OUTCOME_STYLES.get(text, ""))


def occurrence_text(occurrence: Mapping[str, Any] | None) -> str:
    """`2030-01-01T02:00:00.000Z submitted nightly-20300101T020000`, or the skip's or error's message."""
    if not occurrence:
        return ""
    detail = occurrence.get("jobId") or occurrence.get("message") or ""
    return f"{occurrence.get('time')} {occurrence.get('outcome')} {detail}".rstrip()


def schedules_table(page: Mapping[str, Any]) -> Table:
    table = Table(title="schedules")
    for column in ("id", "schedule", "state", "next occurrence", "last occurrence"):
        table.add_column(column, overflow="fold")
    for item in page.get("value") or []:
        table.add_row(
            str(item.get("id")),
            str(item.get("schedule")),
            _styled(item.get("state")),
            str(item.get("nextOccurrence") or ""),
            occurrence_text(item.get("lastOccurrence")),
        )
    return table


def schedule_table(view: Mapping[str, Any]) -> Table:
    table = Table(show_header=False, title=f"schedule {view.get('id')}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("id", str(view.get("id")))
    table.add_row("schedule", str(view.get("schedule")))
    table.add_row("state", _styled(view.get("state")))
    for name in ("startAt", "endAt", "nextOccurrence", "jobSpecificationBlob"):
        if view.get(name) is not None:
            table.add_row(name, str(view.get(name)))
    table.add_row("lastOccurrence", occurrence_text(view.get("lastOccurrence")))
    for problem in view.get("recentProblems") or []:
        table.add_row("recent problem", occurrence_text(problem))
    return table


@schedule_app.command("create")
def schedule_create(
    file: Annotated[str, typer.Argument(help="The schedule (JSON); `-` reads standard input.")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Create a schedule (POST /api/schedules). The same id with the same body answers the existing one."""
    view = JobApi(url, key).request("POST", "/schedules", body=read_spec(file))
    show(output, view, schedule_table)


@schedule_app.command("list")
def schedule_list(
    top: TopOption = None,
    token: TokenOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List schedules in id order (GET /api/schedules)."""
    page = JobApi(url, key).request("GET", "/schedules", params={"top": top, "continuationToken": token})
    show(output, page, schedules_table)
    hint(page, output)


@schedule_app.command("show")
def schedule_show(
    schedule_id: IdArgument, url: UrlOption = DEFAULT_URL, key: KeyOption = None, output: OutputOption = Output.table
) -> None:
    """Show a schedule: state, last and next occurrence, recent skips and errors (GET /api/schedules/{id})."""
    show(output, JobApi(url, key).request("GET", _path(schedule_id)), schedule_table)


@schedule_app.command("disable")
def schedule_disable(
    schedule_id: IdArgument, url: UrlOption = DEFAULT_URL, key: KeyOption = None, output: OutputOption = Output.table
) -> None:
    """Stop firing until enabled again (POST /api/schedules/{id}/disable); jobs already running go on."""
    show(output, JobApi(url, key).request("POST", _path(schedule_id, "/disable")), schedule_table)


@schedule_app.command("enable")
def schedule_enable(
    schedule_id: IdArgument, url: UrlOption = DEFAULT_URL, key: KeyOption = None, output: OutputOption = Output.table
) -> None:
    """Fire again from the next occurrence on (POST /api/schedules/{id}/enable)."""
    show(output, JobApi(url, key).request("POST", _path(schedule_id, "/enable")), schedule_table)


@schedule_app.command("delete")
def schedule_delete(
    schedule_id: IdArgument, url: UrlOption = DEFAULT_URL, key: KeyOption = None, output: OutputOption = Output.table
) -> None:
    """Delete a schedule for good (DELETE /api/schedules/{id}); the jobs it submitted stay."""
    JobApi(url, key).request("DELETE", _path(schedule_id))
    if output is Output.table:
        stderr.print(f"deleted schedule {schedule_id}", highlight=False)
