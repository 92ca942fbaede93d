"""`durable-batch pool list|show|update|delete`: pools of task slots that jobs share (/api/pools).

Imported by `durable_batch.cli.app` (the entry point), whose shared options and printing it uses; its tables are pure
functions of the API's JSON, like `durable_batch.cli.render`'s.
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
from durable_batch.cli.common import (
    KeyOption,
    Output,
    OutputOption,
    TokenOption,
    TopOption,
    UrlOption,
    hint,
    show,
    stderr,
)

pool_app = typer.Typer(help="Pools: task slots that jobs share by priority.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(metavar="ID")]


def _path(pool_id: str) -> str:
    return f"/pools/{quote(pool_id, safe='')}"


def pools_table(page: Mapping[str, Any]) -> Table:
    table = Table(title="pools", title_justify="left")
    for column in ("id", "slots", "in use", "jobs", "waiting"):
        table.add_column(column, overflow="fold")
    for item in page.get("value") or []:
        table.add_row(
            str(item.get("id")),
            str(item.get("taskSlots")),
            str(item.get("slotsInUse")),
            str(len(item.get("jobs") or [])),
            str(item.get("jobsWaiting")),
        )
    return table


def pool_table(view: Mapping[str, Any]) -> RenderableType:
    """One pool: its size and use on a line, then its jobs by priority with the slots each holds and waits for."""
    heading = Text(f"pool {view.get('id')}: {view.get('slotsInUse')} of {view.get('taskSlots')} slots in use")
    table = Table(title_justify="left")
    for column in ("job", "priority", "slots", "waiting", "rate-limited"):
        table.add_column(column, overflow="fold")
    for job in view.get("jobs") or []:
        table.add_row(
            str(job.get("jobId")),
            str(job.get("priority")),
            str(job.get("slots")),
            str(job.get("waiting")),
            str(job.get("rateLimited", 0)),
        )
    return Group(heading, table)


@pool_app.command("list")
def pool_list(
    top: TopOption = None,
    token: TokenOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List pools with their slots in use and jobs waiting (GET /api/pools)."""
    page = JobApi(url, key).request("GET", "/pools", params={"top": top, "continuationToken": token})
    show(output, page, pools_table)
    hint(page, output)


@pool_app.command("show")
def pool_show(
    pool_id: IdArgument, url: UrlOption = DEFAULT_URL, key: KeyOption = None, output: OutputOption = Output.table
) -> None:
    """Show a pool: its slots, and each job's priority, slots held and slots waited for (GET /api/pools/{id})."""
    show(output, JobApi(url, key).request("GET", _path(pool_id)), pool_table)


@pool_app.command("update")
def pool_update(
    pool_id: IdArgument,
    task_slots: Annotated[int, typer.Option("--task-slots", help="How many tasks of its jobs may run at once.")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Define a pool, or give it another size (PUT /api/pools/{id}); running jobs follow at batch boundaries."""
    body = json.dumps({"taskSlots": task_slots}).encode()
    show(output, JobApi(url, key).request("PUT", _path(pool_id), body=body), pool_table)


@pool_app.command("delete")
def pool_delete(
    pool_id: IdArgument, url: UrlOption = DEFAULT_URL, key: KeyOption = None, output: OutputOption = Output.table
) -> None:
    """Delete a pool that no unfinished job uses (DELETE /api/pools/{id})."""
    JobApi(url, key).request("DELETE", _path(pool_id))
    if output is Output.table:
        stderr.print(f"deleted pool {pool_id}", highlight=False)
