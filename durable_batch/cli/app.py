"""The commands, as `az batch` names them: `job submit|list|show|watch|update|disable|enable|rerun|cancel|delete`,
`task list|show|logs`, `schedule create|list|show|disable|enable|delete` (in `durable_batch.cli.schedules`), `pool
list|show|update|delete` (in `cli.pools`), `orchestration list|show|terminate` (in `cli.orchestrations`), `results
download` and `files upload|list`; and `smoke`, a check after
a deploy. Every command takes `--url` and `--key`, and all but `smoke` take `--output table|json`.

Exit codes: 0 done (for `watch`: the job succeeded), 1 the watched job failed or was cancelled, 2 a usage error
or an error from the API or the network (printed on stderr as `code: message` and a `path: message` per detail).
"""

from __future__ import annotations

import mimetypes
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from durable_batch.cli import render
from durable_batch.cli.client import DEFAULT_URL, ApiError, CliError, JobApi
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
    stdout,
)
from durable_batch.cli.orchestrations import orchestration_app
from durable_batch.cli.pools import pool_app
from durable_batch.cli.results import download
from durable_batch.cli.schedules import schedule_app
from durable_batch.cli.watch import exit_code, watch

app = typer.Typer(
    name="durable-batch",
    help="Submit, watch and manage Durable Batch jobs through the job API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
job_app = typer.Typer(
    help="Jobs: submit, list, show, watch, update, disable, enable, rerun, cancel, delete.", no_args_is_help=True
)
task_app = typer.Typer(help="A job's tasks: list, show, logs.", no_args_is_help=True)
results_app = typer.Typer(help="A job's results in Blob Storage.", no_args_is_help=True)
files_app = typer.Typer(help="Files in the app's storage: upload, list.", no_args_is_help=True)
app.add_typer(job_app, name="job")
app.add_typer(task_app, name="task")
app.add_typer(results_app, name="results")
app.add_typer(files_app, name="files")


def follow(api: JobApi, view: dict[str, Any], output: Output) -> None:
    """Watch a job to its end, then print it; leave with the watch's exit code."""
    final = watch(api, str(view["id"]), stderr, first=view)
    show(output, final, render.job_table)
    raise typer.Exit(exit_code(final))


@job_app.command("submit")
def job_submit(
    file: Annotated[str, typer.Argument(help="The job spec (JSON); `-` reads standard input.")],
    watch_it: Annotated[bool, typer.Option("--watch", help="Follow the job; exit 0 only if it succeeds.")] = False,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Submit a job (POST /api/jobs). The same id with the same spec answers the existing job."""
    api = JobApi(url, key)
    view, started = api.submit(read_spec(file))
    if not started:
        stderr.print(
            f"job {view.get('id')} was submitted before with this spec: nothing new started, here it is as it is "
            "(`job rerun` runs it again)",
            highlight=False,
        )
    if watch_it:
        follow(api, view, output)
    show(output, view, render.job_table)


@job_app.command("list")
def job_list(
    state: Annotated[
        str | None, typer.Option("--state", help="pending, running, disabled, succeeded, failed, cancelled.")
    ] = None,
    top: TopOption = None,
    token: TokenOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List jobs, newest first (GET /api/jobs)."""
    page = JobApi(url, key).jobs(state=state, top=top, token=token)
    show(output, page, render.jobs_table)
    hint(page, output)


@job_app.command("show")
def job_show(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show a job: state, counts, times, results location, failed tasks (GET /api/jobs/{id})."""
    view = JobApi(url, key).job(job_id)
    show(output, view, render.job_table)


@job_app.command("watch")
def job_watch(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Follow a job live until it ends; exit 0 if it succeeded, 1 if it failed or was cancelled."""
    api = JobApi(url, key)
    follow(api, api.job(job_id), output)


@job_app.command("update")
def job_update(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    max_parallel_tasks: Annotated[
        int | None, typer.Option("--max-parallel-tasks", help="The job's new cap on tasks running at once.")
    ] = None,
    tolerated: Annotated[
        float | None,
        typer.Option("--tolerated-failure-percentage", help="The share of tasks (0-100) that may fail."),
    ] = None,
    priority: Annotated[
        int | None, typer.Option("--priority", help="The job's new priority in its pool (-1000 to 1000).")
    ] = None,
    pool: Annotated[str | None, typer.Option("--pool", help="The pool the job moves to.")] = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Change a running job's cap, tolerated failure percentage, priority and/or pool (PATCH /api/jobs/{id})."""
    change = {
        "maxParallelTasks": max_parallel_tasks,
        "toleratedFailurePercentage": tolerated,
        "priority": priority,
        "poolInfo": None if pool is None else {"poolId": pool},
    }
    # Nothing given is sent as an empty change, which the API refuses with what to give.
    view = JobApi(url, key).update(job_id, {name: value for name, value in change.items() if value is not None})
    show(output, view, render.job_table)


@job_app.command("disable")
def job_disable(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    requeue: Annotated[
        bool, typer.Option("--requeue", help="Stop running command tasks and put them back to pending.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Disable a job: no task starts until it is enabled; running tasks finish (POST /api/jobs/{id}/disable)."""
    view = JobApi(url, key).disable(job_id, requeue=requeue)
    show(output, view, render.job_table)


@job_app.command("enable")
def job_enable(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Enable a disabled job: its tasks start again (POST /api/jobs/{id}/enable)."""
    view = JobApi(url, key).enable(job_id)
    show(output, view, render.job_table)


@job_app.command("rerun")
def job_rerun(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, kept with the run.")] = None,
    watch_it: Annotated[
        bool, typer.Option("--watch", help="Follow the re-run; exit 0 only if the job succeeds.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Re-run a finished job's failed, skipped and cancelled tasks under the same id; succeeded tasks stay
    (POST /api/jobs/{id}/rerun)."""
    api = JobApi(url, key)
    view = api.rerun(job_id, reason=reason)
    if watch_it:
        follow(api, view, output)
    show(output, view, render.job_table)


@job_app.command("cancel")
def job_cancel(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Cancel a job: no task starts after it, running command tasks are killed (POST /api/jobs/{id}/cancel)."""
    body = JobApi(url, key).cancel(job_id)
    show(output, body, render.job_table if isinstance(body, dict) and "state" in body else None)
    if output is Output.table:
        stderr.print(f"cancel requested for {job_id}", highlight=False)


@job_app.command("delete")
def job_delete(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Delete a finished job: its histories, task records, blobs and record (DELETE /api/jobs/{id})."""
    JobApi(url, key).delete(job_id)
    if output is Output.table:
        stderr.print(f"deleted {job_id}", highlight=False)


@task_app.command("list")
def task_list(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    state: Annotated[
        str | None, typer.Option("--state", help="pending, running, succeeded, failed, skipped, cancelled.")
    ] = None,
    top: TopOption = None,
    token: TokenOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List a job's tasks in task order; `--state failed` lists failures with their whole error."""
    page = JobApi(url, key).tasks(job_id, state=state, top=top, token=token)
    show(output, page, render.tasks_table)
    hint(page, output)


@task_app.command("show")
def task_show(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Show a task: state, attempts, times, error and result (GET /api/jobs/{id}/tasks/{task})."""
    view = JobApi(url, key).task(job_id, task_id)
    show(output, view, render.task_table)


@task_app.command("logs")
def task_logs(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    task_id: Annotated[str, typer.Argument(metavar="TASK")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Print a task's stdout and stderr (their tails: a command's output, what a handler printed and logged)."""
    logs = JobApi(url, key).task_logs(job_id, task_id)
    if output is Output.json:
        sys.stdout.write(render.to_json(logs) + "\n")
        return
    if logs.get("stdout") is None and logs.get("stderr") is None:
        stderr.print(f"task {task_id} has no logs (it printed and logged nothing, or has not run)", highlight=False)
    if logs.get("stdout"):
        sys.stdout.write(logs["stdout"])
    if logs.get("stderr"):
        sys.stderr.write(logs["stderr"])


@results_app.command("download")
def results_download(
    job_id: Annotated[str, typer.Argument(metavar="ID")],
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="The folder to write into (created).")],
    everything: Annotated[bool, typer.Option("--all", help="Also every task's logs (stdout.txt, stderr.txt).")] = False,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Download a job's summary.json, reduce.json, job.json, results/*.jsonl and its tasks' output files
    (tasks/{id}/...) into --out; the tasks' logs too with --all."""
    api = JobApi(url, key)
    done = download(api, api.job(job_id), out, everything=everything)
    if output is Output.json:
        sys.stdout.write(render.to_json([str(path) for path in done.written]) + "\n")
    else:
        for path in done.written:
            stdout.print(str(path), highlight=False)
        stderr.print(f"{len(done.written)} files written to {out}", highlight=False)
    if done.logs_left:
        stderr.print(
            f"left out {done.logs_left} task log files (tasks/*/stdout.txt, stderr.txt): --all downloads them too",
            highlight=False,
        )


def split_target(target: str) -> tuple[str, str]:
    """`CONTAINER[/PREFIX]` as (container, prefix); a prefix names a folder, so it ends with `/` when given."""
    container, _, prefix = target.partition("/")
    if not container:
        raise typer.BadParameter("give a container, as CONTAINER or CONTAINER/PREFIX", param_hint="CONTAINER")
    prefix = prefix.strip("/")
    return container, f"{prefix}/" if prefix else ""


def upload_plan(path: Path, prefix: str) -> list[tuple[Path, str]]:
    """(file, blob name) for a file, or for every file under a folder (names relative to it, in order)."""
    if path.is_file():
        return [(path, prefix + path.name)]
    if path.is_dir():
        files = sorted(item for item in path.rglob("*") if item.is_file())
        return [(item, prefix + item.relative_to(path).as_posix()) for item in files]
    raise typer.BadParameter(f"{path} is not a file or a folder", param_hint="PATH")


@files_app.command("upload")
def files_upload(
    path: Annotated[Path, typer.Argument(help="A file, or a folder: every file under it, names kept.")],
    target: Annotated[str, typer.Argument(metavar="CONTAINER[/PREFIX]", help="Where to: batch-inputs/scripts.")],
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Upload files for resource files and task sources (PUT /api/files/{container}/{name})."""
    container, prefix = split_target(target)
    api = JobApi(url, key)
    uploaded = []
    for file, name in upload_plan(path, prefix):
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        uploaded.append(api.upload(container, name, file.read_bytes(), content_type))
    if output is Output.json:
        sys.stdout.write(render.to_json(uploaded) + "\n")
        return
    stdout.print(render.uploaded_table(uploaded))


@files_app.command("list")
def files_list(
    target: Annotated[str, typer.Argument(metavar="CONTAINER[/PREFIX]", help="batch-inputs, or batch-inputs/scripts.")],
    top: TopOption = None,
    token: TokenOption = None,
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    output: OutputOption = Output.table,
) -> None:
    """List a container's files under a prefix, in name order (GET /api/files/{container}?prefix=)."""
    container, _, prefix = target.partition("/")
    if not container:
        raise typer.BadParameter("give a container, as CONTAINER or CONTAINER/PREFIX", param_hint="CONTAINER")
    page = JobApi(url, key).files(container, prefix=prefix or None, top=top, token=token)
    show(output, page, render.files_table)
    hint(page, output)


@app.command("smoke")
def smoke(
    url: UrlOption = DEFAULT_URL,
    key: KeyOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds to wait for the job.")] = 300.0,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the smoke job (it is deleted when it passes).")] = False,
) -> None:
    """After a deploy: run a tiny job of the built-in echo handler and check it; exit 0 only if it passed."""
    from durable_batch.cli.smoke import run_smoke

    api = JobApi(url, key)
    result = run_smoke(api, timeout=timeout)
    for problem in result.problems:
        stderr.print(f"smoke: {problem}", highlight=False)
    stdout.print(f"smoke job {result.job_id}: {result.state} in {result.seconds:.1f}s", highlight=False)
    if result.ok and not keep:
        api.delete(result.job_id)
    raise typer.Exit(0 if result.ok else 1)


def report(error: CliError) -> None:
    if isinstance(error, ApiError):
        for line in render.error_lines(error):
            typer.echo(line, err=True)
    else:
        typer.echo(f"error: {error}", err=True)


def main() -> None:
    """Run the CLI; API and network errors leave with code 2, like usage errors."""
    try:
        app()
    except CliError as error:
        report(error)
        sys.exit(2)
    except Exception:
        # A bug, not the job's outcome: keep exit code 1 for "the job failed" alone.
        traceback.print_exc()
        sys.exit(2)


app.add_typer(schedule_app, name="schedule")
app.add_typer(pool_app, name="pool")
app.add_typer(orchestration_app, name="orchestration")
