"""Command tasks through the job API: files in and out of Blob Storage, logs, exit codes, the environment a
command sees, cancel killing it, and the app setting that allows them at all."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from tests.e2e.jobs.support import (
    FeaturesHost,
    echo,
    kill_leftovers,
    pid_sleeper,
    process_is_gone,
    read_pid,
    results_container,
    start_features_host,
    text_of,
)

pytestmark = pytest.mark.e2e

SCRIPT = """\
import json, os, pathlib, sys
out = pathlib.Path("out")
(out / "sub").mkdir(parents=True)
(out / "a.txt").write_text("alpha " + sys.argv[1])
(out / "sub" / "b.txt").write_text("beta")
pathlib.Path("not-an-output.log").write_text("left behind")
sys.stdout.write(("x" * 99 + "\\n") * 1000)  # 100,000 bytes: more than the 64 KiB kept
print(json.dumps({"cwd": os.getcwd(), "env": dict(os.environ)}))
print("the end of stderr", file=sys.stderr)
sys.exit(int(sys.argv[2]))
"""


def test_command_tasks_get_their_files_keep_their_logs_and_upload_their_outputs(
    features_host: FeaturesHost,
) -> None:
    job_id = features_host.unique_id("commands")
    blobs = results_container(features_host)
    script_blob = f"inputs/{job_id}/work.py"
    blobs.upload_blob(script_blob, SCRIPT.encode())

    def command(task_id: str, exit_code: int) -> dict[str, object]:
        return {
            "id": task_id,
            "commandLine": [sys.executable, "tools/work.py", task_id, str(exit_code)],
            "resourceFiles": [{"blob": script_blob, "path": "tools/work.py"}],
            "outputFiles": ["out/**/*.txt"],
            "environment": {"QUALITY": "high"},
        }

    view = features_host.run({"id": job_id, "tasks": [command("ok", 0), command("bad", 3)]})
    assert view["state"] == "failed", view
    assert view["taskCounts"]["succeeded"] == 1 and view["taskCounts"]["failed"] == 1, view
    assert view["failedTasks"] == ["bad"]

    ok = features_host.task(job_id, "ok")
    prefix = f"_jobs/{job_id}/tasks/ok/"
    assert ok["state"] == "succeeded" and ok["attempts"] == 1
    assert ok["result"] == {
        "exitCode": 0,
        "stdoutBlob": f"{prefix}stdout.txt",
        "stderrBlob": f"{prefix}stderr.txt",
        "outputFiles": [f"{prefix}outputs/out/a.txt", f"{prefix}outputs/out/sub/b.txt"],
    }
    assert text_of(blobs, f"{prefix}outputs/out/a.txt") == "alpha ok"
    assert text_of(blobs, f"{prefix}outputs/out/sub/b.txt") == "beta"
    assert text_of(blobs, f"{prefix}stderr.txt") == "the end of stderr\n"
    stdout = text_of(blobs, f"{prefix}stdout.txt")
    assert len(stdout) == 64 * 1024 and stdout.startswith("x"), "the tail of stdout, 64 KiB"
    seen = json.loads(stdout.splitlines()[-1])
    env = seen["env"]
    assert env["QUALITY"] == "high"
    assert env["BATCH_TASK_ID"] == "ok" and env["BATCH_TASK_WORKING_DIR"] == seen["cwd"]
    # The worker's storage connection string (with the account key) is not the command's business.
    assert "AzureWebJobsStorage" not in env
    account_key = dict(
        part.split("=", 1) for part in features_host.azurite.connection_string.split(";") if "=" in part
    )["AccountKey"]
    assert not [name for name, value in env.items() if account_key in value]

    bad = features_host.tasks_of(job_id)["bad"]
    assert bad["state"] == "failed" and bad["attempts"] == 1
    assert bad["error"] == "exit code 3; stderr ends with: the end of stderr"
    # A failed command's logs and outputs are kept too, and its record says where: they often say why.
    bad_prefix = f"_jobs/{job_id}/tasks/bad/"
    assert features_host.task(job_id, "bad")["result"] == {
        "exitCode": 3,
        "stdoutBlob": f"{bad_prefix}stdout.txt",
        "stderrBlob": f"{bad_prefix}stderr.txt",
        "outputFiles": [f"{bad_prefix}outputs/out/a.txt", f"{bad_prefix}outputs/out/sub/b.txt"],
    }
    assert text_of(blobs, f"{bad_prefix}outputs/out/a.txt") == "alpha bad"
    assert json.loads(text_of(blobs, f"{bad_prefix}stdout.txt").splitlines()[-1])["env"]["BATCH_TASK_ID"] == "bad"
    names = set(blobs.list_blob_names(name_starts_with=f"_jobs/{job_id}/tasks/"))
    assert not [name for name in names if name.endswith("not-an-output.log")]


def test_cancel_kills_a_running_command(features_host: FeaturesHost, tmp_path: Path) -> None:
    job_id = features_host.unique_id("cancel")
    pid_file = tmp_path / "command.pid"
    # It would sleep for 600 s: far longer than the bounds below, so only a kill ends it in time.
    tasks = [pid_sleeper("slow", pid_file, 600), echo("next"), echo("after", dependsOn=["slow"])]
    assert features_host.submit({"id": job_id, "maxParallelTasks": 1, "tasks": tasks}).status_code == 202
    features_host.wait_until(lambda: read_pid(pid_file) is not None, what="the command to start")
    pid = read_pid(pid_file)
    assert pid is not None and not process_is_gone(pid)
    try:
        cancel_and_check(features_host, job_id, pid)
    finally:
        if not process_is_gone(pid):
            os.kill(pid, signal.SIGKILL)


def cancel_and_check(features_host: FeaturesHost, job_id: str, pid: int) -> None:

    response = features_host.post(f"/jobs/{job_id}/cancel")
    assert response.status_code == 202, response.text
    # Generous bounds: a busy machine is slow, and what matters is that both happen, not how fast.
    view = features_host.wait_for_job(job_id, timeout=60)
    assert view["state"] == "cancelled", view
    # The job says cancelled only once its command is dead: not a moment before.
    assert process_is_gone(pid), "the job reported cancelled while its command still ran"
    assert view["reason"] == "the job was cancelled"
    # The killed command is `cancelled`, apart from failures; the tasks that never ran are `skipped`.
    assert view["taskCounts"] == {
        "total": 3,
        "pending": 0,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "skipped": 2,
        "cancelled": 1,
    }
    assert view["failedTasks"] == []
    records = features_host.tasks_of(job_id)
    assert records["slow"]["state"] == "cancelled"
    assert records["slow"]["error"] == "cancelled; the command was killed"
    for task in ("next", "after"):
        assert (records[task]["state"], records[task]["attempts"]) == ("skipped", 0)
        assert features_host.calls(job_id, task) == 0


def test_a_host_without_the_setting_refuses_command_tasks(azurite: Azurite, tmp_path: Path) -> None:
    # Empty is how an absent setting reads (the test process's own environment could hold the variable).
    host = start_features_host(azurite, tmp_path, {"BATCH_ALLOW_COMMAND_TASKS": ""})
    try:
        job_id = host.unique_id("refused")
        spec = {"id": job_id, "tasks": [echo("fine"), {"id": "cmd", "commandLine": [sys.executable, "-V"]}]}
        response = host.submit(spec)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalidJobSpec"
        details = {detail["path"]: detail["message"] for detail in error["details"]}
        assert list(details) == ["tasks[1].commandLine"]
        assert "BATCH_ALLOW_COMMAND_TASKS" in details["tasks[1].commandLine"]
        assert host.get(f"/jobs/{job_id}").status_code == 404
        # Handler tasks are unaffected.
        assert host.run({"id": job_id, "tasks": [echo("fine")]})["state"] == "succeeded"
    finally:
        host.close()


# The first run starts a grandchild that leaves its session and ignores SIGTERM, as the command does, and then
# sleeps; a later run records which processes of the earlier runs were still running when it started.
CRASHY = """
import json, os, signal, subprocess, sys, time
log = {log!r}
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def running(pid):
    try:
        return open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
previous = [json.loads(line) for line in open(log)] if os.path.exists(log) else []
overlap = [pid for run in previous for pid in run["pids"] if running(pid)]
pids = [os.getpid()]
if not previous:
    escape = "import os, signal, time; os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    pids.append(subprocess.Popen([sys.executable, "-c", escape]).pid)
with open(log, "a") as stream:
    stream.write(json.dumps({{"pids": pids, "overlap": overlap, "cwd": os.getcwd()}}) + "\\n")
if not previous:
    time.sleep(600)
"""


def is_running(pid: int) -> bool:
    """Whether the process runs: a zombie (dead, and not yet reaped by init, which may take its time) doesn't."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_after_a_host_crash_the_dead_hosts_command_is_ended_before_the_task_runs_again(
    azurite: Azurite, tmp_path: Path
) -> None:
    log = tmp_path / "runs.jsonl"
    first = start_features_host(azurite, tmp_path)
    job_id = first.unique_id("crash-command")
    command = {"id": "cmd", "commandLine": [sys.executable, "-c", CRASHY.format(log=str(log))]}
    try:
        assert first.submit({"id": job_id, "tasks": [command]}).status_code == 202
        first.wait_until(lambda: log.exists() and log.read_text().endswith("\n"), what="the command to start")
    finally:
        first.process.kill()
        first.http.close()

    second: FeaturesHost | None = None
    try:
        second = start_features_host(azurite, tmp_path)
        view = second.wait_for_job(job_id, timeout=120)
        assert view["state"] == "succeeded", view
        runs = [json.loads(line) for line in log.read_text().splitlines()]
        assert len(runs) == 2, runs
        assert runs[1]["overlap"] == [], "the task ran again while the dead host's command was still running"
        assert not [pid for pid in runs[0]["pids"] if is_running(pid)]
        # Both runs' folders are gone: the dead host's was removed by the new one.
        assert not Path(runs[0]["cwd"]).exists() and not Path(runs[1]["cwd"]).exists()
        assert list((tmp_path / "state" / "work").iterdir()) == []
    finally:
        if second is not None:
            second.close()
        # The first run's command and grandchild ignore SIGTERM and sleep 600 s: if the test failed because they
        # outlived the crash, they go now.
        if log.exists():
            kill_leftovers(pid for line in log.read_text().splitlines() for pid in json.loads(line)["pids"])
