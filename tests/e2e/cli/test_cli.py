"""`durable-batch` run as a user runs it, a subprocess (`python -m durable_batch.cli`), against devhost + Azurite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import REPO_ROOT
from tests.e2e.api.jobs import billing_job, invoice, sleeper
from tests.e2e.batch_host import BatchHost

pytestmark = pytest.mark.e2e


def cli(host: BatchHost, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI on `host` (through DURABLE_BATCH_URL, as a user would set it), wide enough that tables keep
    whole ids, without colours. `env` adds variables; the storage connection string is left out unless given."""
    base = {name: value for name, value in os.environ.items() if name != "AzureWebJobsStorage"}
    environment = {**base, "DURABLE_BATCH_URL": host.base_url, "COLUMNS": "250", "NO_COLOR": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "durable_batch.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=environment,
        timeout=90,
        check=False,
    )


def write_spec(tmp_path: Path, spec: dict[str, Any]) -> str:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec))
    return str(path)


@pytest.fixture(scope="module")
def succeeded_job(batch_host: BatchHost, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small billing job submitted from a file with `--watch`; its id."""
    job_id = batch_host.unique_id("cli-ok")
    spec = write_spec(tmp_path_factory.mktemp("spec"), billing_job(job_id, tasks=3))
    done = cli(batch_host, "job", "submit", spec, "--watch")
    assert done.returncode == 0, done.stderr
    assert job_id in done.stdout and "succeeded" in done.stdout
    assert "tasks/s" in done.stderr, "the live display goes to stderr"
    return job_id


def test_submit_with_watch_exits_0_when_the_job_succeeded(batch_host: BatchHost, succeeded_job: str) -> None:
    assert batch_host.get(f"/jobs/{succeeded_job}").json()["state"] == "succeeded"


def test_a_resubmit_says_it_returned_the_existing_job(
    batch_host: BatchHost, succeeded_job: str, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, billing_job(succeeded_job, tasks=3))
    again = cli(batch_host, "job", "submit", spec)
    assert again.returncode == 0, again.stderr
    assert f"job {succeeded_job} was submitted before with this spec: nothing new started" in again.stderr
    assert succeeded_job in again.stdout and "succeeded" in again.stdout


def test_a_jobs_orchestrations_are_listed_shown_and_refuse_a_terminate_once_ended(
    batch_host: BatchHost, succeeded_job: str
) -> None:
    listed = cli(batch_host, "orchestration", "list", succeeded_job)
    assert listed.returncode == 0, listed.stderr
    assert f"{succeeded_job}:p00000" in listed.stdout and "Completed" in listed.stdout and "partition" in listed.stdout
    shown = cli(batch_host, "orchestration", "show", succeeded_job, f"{succeeded_job}:p00000")
    assert shown.returncode == 0, shown.stderr
    assert "ExecutionStarted" in shown.stdout and "ExecutionCompleted" in shown.stdout
    refused = cli(batch_host, "orchestration", "terminate", succeeded_job, succeeded_job)
    assert refused.returncode == 2 and refused.stderr.startswith("orchestrationEnded: "), refused.stderr


def test_job_show_and_list_print_the_api_json_or_a_table(batch_host: BatchHost, succeeded_job: str) -> None:
    shown = cli(batch_host, "job", "show", succeeded_job, "--output", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == batch_host.get(f"/jobs/{succeeded_job}").json()

    listed = cli(batch_host, "job", "list", "--state", "succeeded", "--top", "50", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert succeeded_job in [job["id"] for job in page["value"]]
    assert all(job["state"] == "succeeded" for job in page["value"])

    table = cli(batch_host, "job", "show", succeeded_job)
    assert table.returncode == 0, table.stderr
    assert succeeded_job in table.stdout and "succeeded=3" in table.stdout and "total=3" in table.stdout
    rows = cli(batch_host, "job", "list", "--top", "50")
    assert rows.returncode == 0, rows.stderr
    assert any(succeeded_job in line and "3/3" in line for line in rows.stdout.splitlines())


def test_tasks_of_a_job_list_and_show(batch_host: BatchHost, succeeded_job: str) -> None:
    listed = cli(batch_host, "task", "list", succeeded_job, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [task["id"] for task in json.loads(listed.stdout)["value"]] == ["inv-000001", "inv-000002", "inv-000003"]
    shown = cli(batch_host, "task", "show", succeeded_job, "inv-000002", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == batch_host.get(f"/jobs/{succeeded_job}/tasks/inv-000002").json()
    table = cli(batch_host, "task", "show", succeeded_job, "inv-000002")
    assert table.returncode == 0, table.stderr
    assert "succeeded" in table.stdout and '"customer": "c-000002"' in table.stdout
    # What the task runs, and its input, as the job defines it.
    assert json.loads(shown.stdout)["definition"] == invoice(2)
    lines = table.stdout.splitlines()
    assert any(line.split() == ["handler", "billing.invoice"] for line in lines), table.stdout
    assert any(line.startswith("input") for line in lines) and '"period": "2026-11"' in table.stdout


def test_a_failed_job_exits_1_and_its_failed_tasks_list(batch_host: BatchHost, tmp_path: Path) -> None:
    job_id = batch_host.unique_id("cli-fail")
    bad = {"id": "bad", "handler": "billing.invoice", "input": {"customer": "c-1", "seed": 1, "period": "nope"}}
    spec = write_spec(tmp_path, {"id": job_id, "tasks": [invoice(1), bad]})
    watched = cli(batch_host, "job", "submit", spec, "--watch", "-o", "json")
    assert watched.returncode == 1, watched.stderr
    assert json.loads(watched.stdout)["state"] == "failed"

    failed = cli(batch_host, "task", "list", job_id, "--state", "failed", "-o", "json")
    assert failed.returncode == 0, failed.stderr
    tasks = json.loads(failed.stdout)["value"]
    assert [task["id"] for task in tasks] == ["bad"] and tasks[0]["error"]
    table = cli(batch_host, "task", "list", job_id, "--state", "failed")
    row = [line for line in table.stdout.splitlines() if " bad " in line]
    assert len(row) == 1 and "failed" in row[0] and "InvalidInput: input.period" in row[0], table.stdout
    assert "parse_period" not in table.stdout, "a table shows the error's first line, not its traceback"
    again = cli(batch_host, "job", "watch", job_id)
    assert again.returncode == 1 and "failed" in again.stdout
    # The live display (stderr) names the latest failures with their error's first line.
    assert "failed bad: InvalidInput: input.period" in watched.stderr, watched.stderr


def test_a_refused_spec_prints_every_problem_with_its_path_and_exits_2(batch_host: BatchHost) -> None:
    spec = {"maxParallelTasks": 0, "tasks": [{"id": "a", "handler": "no.such.handler"}]}
    refused = cli(batch_host, "job", "submit", "-", stdin=json.dumps(spec))
    assert refused.returncode == 2
    lines = refused.stderr.splitlines()
    assert lines[0].startswith("invalidJobSpec: ")
    assert any(line.strip().startswith("maxParallelTasks: ") for line in lines), refused.stderr
    assert any(line.strip().startswith("tasks[0].handler: ") for line in lines), refused.stderr
    assert refused.stdout == ""

    missing = cli(batch_host, "job", "show", "no-such-job-here")
    assert missing.returncode == 2 and missing.stderr.startswith("jobNotFound: ")


def test_cancel_ends_a_running_job_cancelled_and_delete_removes_it(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("cli-cancel")
    spec = {"id": job_id, "maxParallelTasks": 1, "tasks": [sleeper("slow", 120), invoice(1, dependsOn=["slow"])]}
    submitted = cli(batch_host, "job", "submit", "-", "-o", "json", stdin=json.dumps(spec))
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)["id"] == job_id
    batch_host.wait_for_job(job_id, states=frozenset({"running"}))

    running = cli(batch_host, "job", "delete", job_id)
    assert running.returncode == 2 and running.stderr.startswith("jobRunning: ")
    cancelled = cli(batch_host, "job", "cancel", job_id, "-o", "json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["cancelRequested"] is True
    watched = cli(batch_host, "job", "watch", job_id)
    assert watched.returncode == 1 and "cancelled" in watched.stdout

    deleted = cli(batch_host, "job", "delete", job_id)
    assert deleted.returncode == 0, deleted.stderr
    assert batch_host.get(f"/jobs/{job_id}").status_code == 404


def test_results_download_writes_the_summary_and_results(
    batch_host: BatchHost, succeeded_job: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # Through the API alone: no storage credentials in the CLI's environment.
    done = cli(batch_host, "results", "download", succeeded_job, "--out", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] == "succeeded"
    assert json.loads((out / "job.json").read_text())["id"] == succeeded_job
    lines = [json.loads(line) for path in (out / "results").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == ["inv-000001", "inv-000002", "inv-000003"]
    # A result too large to keep inline is a blob of its task's folder: it comes too; logs do not.
    assert not list(out.glob("tasks/*/std*.txt"))


def test_task_logs_print_a_command_tasks_output(batch_host: BatchHost, tmp_path: Path) -> None:
    job_id = batch_host.unique_id("cli-logs")
    script = (
        "import sys, pathlib; pathlib.Path('made.txt').write_text('made'); print('out-line'); "
        "print('err-line', file=sys.stderr)"
    )
    command = [sys.executable, "-c", script]
    spec = {
        "id": job_id,
        "tasks": [{"id": "cmd", "commandLine": command, "outputFiles": [{"filePattern": "made.txt"}]}],
    }
    assert cli(batch_host, "job", "submit", "-", "--watch", stdin=json.dumps(spec)).returncode == 0
    logs = cli(batch_host, "task", "logs", job_id, "cmd")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "out-line\n" and "err-line" in logs.stderr
    as_json = cli(batch_host, "task", "logs", job_id, "cmd", "-o", "json")
    assert json.loads(as_json.stdout) == {"taskId": "cmd", "stdout": "out-line\n", "stderr": "err-line\n"}
    missing = cli(batch_host, "task", "logs", job_id, "nope")
    assert missing.returncode == 2 and missing.stderr.startswith("taskNotFound: ")
    # By default the outputs come and the logs do not, and the CLI says so; with --all the logs come too.
    default = cli(batch_host, "results", "download", job_id, "--out", str(tmp_path / "default"))
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "default" / "tasks" / "cmd" / "outputs" / "made.txt").read_text() == "made"
    assert not (tmp_path / "default" / "tasks" / "cmd" / "stdout.txt").exists()
    assert "left out 2 task log files" in default.stderr and "--all" in default.stderr
    everything = cli(batch_host, "results", "download", job_id, "--out", str(tmp_path / "all"), "--all")
    assert everything.returncode == 0, everything.stderr
    assert (tmp_path / "all" / "tasks" / "cmd" / "stdout.txt").read_text() == "out-line\n"
    assert (tmp_path / "all" / "tasks" / "cmd" / "outputs" / "made.txt").read_text() == "made"
    assert "left out" not in everything.stderr


def test_files_upload_a_folder_list_it_and_run_a_task_from_it(batch_host: BatchHost, tmp_path: Path) -> None:
    folder = tmp_path / "scripts"
    (folder / "lib").mkdir(parents=True)
    (folder / "main.py").write_text("import lib.answer as a\nprint(a.VALUE)\n")
    (folder / "lib" / "answer.py").write_text("VALUE = 42\n")
    (folder / "lib" / "__init__.py").write_text("")
    prefix = batch_host.unique_id("cli-files")
    uploaded = cli(batch_host, "files", "upload", str(folder), f"batch-results/{prefix}", "-o", "json")
    assert uploaded.returncode == 0, uploaded.stderr
    names = sorted(item["name"] for item in json.loads(uploaded.stdout))
    assert names == [f"{prefix}/lib/__init__.py", f"{prefix}/lib/answer.py", f"{prefix}/main.py"]
    one = cli(batch_host, "files", "upload", str(folder / "main.py"), f"batch-inputs/{prefix}/")
    assert one.returncode == 0 and f"{prefix}/main.py" in one.stdout, one.stderr

    listed = cli(batch_host, "files", "list", f"batch-results/{prefix}/lib/")
    assert listed.returncode == 0, listed.stderr
    assert f"{prefix}/lib/answer.py" in listed.stdout and f"{prefix}/main.py" not in listed.stdout
    paged = cli(batch_host, "files", "list", f"batch-results/{prefix}/", "--top", "1", "-o", "json")
    page = json.loads(paged.stdout)
    assert [item["name"] for item in page["value"]] == [f"{prefix}/lib/__init__.py"] and page["continuationToken"]
    following = cli(
        batch_host, "files", "list", f"batch-results/{prefix}/", "--continuation-token", page["continuationToken"]
    )
    assert f"{prefix}/lib/answer.py" in following.stdout, following.stderr

    job_id = batch_host.unique_id("cli-files-job")
    files = [{"blob": name, "path": name[len(prefix) + 1 :]} for name in names]
    spec = {"id": job_id, "tasks": [{"id": "run", "commandLine": [sys.executable, "main.py"], "resourceFiles": files}]}
    assert cli(batch_host, "job", "submit", "-", "--watch", stdin=json.dumps(spec)).returncode == 0
    assert cli(batch_host, "task", "logs", job_id, "run").stdout == "42\n"


def test_files_commands_report_refusals(batch_host: BatchHost, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    refused = cli(batch_host, "files", "upload", str(tmp_path / "a.txt"), "private/x")
    assert refused.returncode == 2 and refused.stderr.startswith("containerNotAllowed: ")
    missing = cli(batch_host, "files", "upload", str(tmp_path / "none"), "batch-inputs")
    assert missing.returncode == 2 and "not a file or a folder" in missing.stderr
    listed = cli(batch_host, "files", "list", "private")
    assert listed.returncode == 2 and listed.stderr.startswith("containerNotAllowed: ")


def test_update_disable_and_enable_a_running_job(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("cli-ops")
    spec = {"id": job_id, "maxParallelTasks": 2, "tasks": [sleeper("slow", 120), invoice(1, dependsOn=["slow"])]}
    assert batch_host.submit(spec).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 1, what="the task to run"
    )
    try:
        updated = cli(batch_host, "job", "update", job_id, "--max-parallel-tasks", "4", "-o", "json")
        assert updated.returncode == 0, updated.stderr
        assert json.loads(updated.stdout)["maxParallelTasks"] == 4
        table = cli(batch_host, "job", "update", job_id, "--tolerated-failure-percentage", "50")
        assert table.returncode == 0 and "toleratedFailurePercentage" in table.stdout, table.stderr
        refused = cli(batch_host, "job", "update", job_id, "--max-parallel-tasks", "0")
        assert refused.returncode == 2 and refused.stderr.startswith("invalidRequest: "), refused.stderr
        assert "maxParallelTasks: must be from 1 to 10,000, not 0" in refused.stderr
        nothing = cli(batch_host, "job", "update", job_id)
        assert nothing.returncode == 2 and "give at least one" in nothing.stderr
        pool_id = batch_host.unique_id("cli-move")
        assert batch_host.http.put(batch_host.url(f"/pools/{pool_id}"), json={"taskSlots": 3}, timeout=60).ok
        moved = cli(batch_host, "job", "update", job_id, "--pool", pool_id, "--priority", "7")
        assert moved.returncode == 0, moved.stderr
        assert f"{pool_id}  priority=7" in moved.stdout
        nowhere = cli(batch_host, "job", "update", job_id, "--pool", "no-such-pool")
        assert nowhere.returncode == 2 and "poolInfo.poolId: no pool has the id 'no-such-pool'" in nowhere.stderr

        disabled = cli(batch_host, "job", "disable", job_id, "--requeue", "-o", "json")
        assert disabled.returncode == 0, disabled.stderr
        assert (json.loads(disabled.stdout)["state"], json.loads(disabled.stdout)["disableTasks"]) == (
            "disabled",
            "requeue",
        )
        again = cli(batch_host, "job", "disable", job_id)
        assert again.returncode == 2 and again.stderr.startswith("jobDisabled: ")
        enabled = cli(batch_host, "job", "enable", job_id)
        assert enabled.returncode == 0 and "running" in enabled.stdout, enabled.stderr
    finally:
        batch_host.post(f"/jobs/{job_id}/cancel")
        batch_host.wait_for_job(job_id, timeout=120)


def test_rerun_reruns_a_failed_job_and_watches_it_to_its_end(batch_host: BatchHost, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    code = f"import os, sys; sys.exit(0 if os.path.exists({str(flag)!r}) else 3)"
    job_id = batch_host.unique_id("cli-rerun")
    spec = {"id": job_id, "tasks": [invoice(1), {"id": "gate", "commandLine": [sys.executable, "-c", code]}]}
    assert batch_host.submit(spec).status_code == 202
    assert batch_host.wait_for_job(job_id)["state"] == "failed"
    flag.write_text("yes")
    watched = cli(batch_host, "job", "rerun", job_id, "--reason", "gate fixed", "--watch")
    assert watched.returncode == 0, watched.stderr
    assert "succeeded" in watched.stdout and "#2 succeeded (1 tasks)" in watched.stdout
    view = batch_host.get(f"/jobs/{job_id}").json()
    assert [run["reason"] for run in view["runs"]] == [None, "gate fixed"]
    refused = cli(batch_host, "job", "rerun", job_id)
    assert refused.returncode == 2 and refused.stderr.startswith("nothingToRerun: "), refused.stderr
