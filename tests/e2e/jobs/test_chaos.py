"""Chaos: the host killed with SIGKILL at random moments of one job, three times, on each devhost store, and
restarted on the same state each time. At the end the job's counts are exact, the task records agree with them,
the results blobs hold each succeeded task once, and no command task ever ran twice at the same time.

Tasks run in batches (one activity call runs many short tasks and records them in one chunk row), so a kill
makes a whole in-flight batch run again: at least once is the contract. What a host had recorded as finished
must never run again nor change its record.

The kill moments come from a seeded random generator; the seed is printed (shown when the test fails) and
`CHAOS_SEED=<seed>` replays the same moments.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from devhost.azurite import Azurite
from tests.e2e.jobs.support import FeaturesHost, child_processes, kill_leftovers, start_features_host
from tests.host.helpers import HUB_OVERRIDE

pytestmark = pytest.mark.e2e

KILLS = 3
HANDLER_TASKS = 800
COMMAND_TASKS = 12
SLEEP_SECONDS = 0.05
COMMAND_SECONDS = 0.4
MAX_PARALLEL = 4
# Each host runs this long (after it is up) before it is killed: sometimes inside the first batches (which are
# sized to about 2 s), sometimes after some have been recorded. The job needs at least
# HANDLER_TASKS * SLEEP_SECONDS / MAX_PARALLEL = 10 s of handler time alone, more than three kills' worth
# even before the in-flight batches a kill loses; the checks below assert that each kill did land mid-job.
KILL_AFTER = (0.5, 3.5)

# A command task: an exclusive, non-blocking flock on a lock file of its own outside its working folder, held
# from its "start" line to its "end" line. A second copy running at the same time cannot take the lock: it
# writes "overlap" and fails the task (exit 3). The log and the lock live in a folder shared by all hosts.
COMMAND = """
import fcntl, os, sys, time
log, seconds = sys.argv[1], float(sys.argv[2])
lock = open(log + ".lock", "a")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    with open(log, "a") as out:
        out.write(f"overlap {os.getpid()} {time.time()}\\n")
    sys.exit(3)
with open(log, "a") as out:
    out.write(f"start {os.getpid()} {time.time()}\\n")
time.sleep(seconds)
with open(log, "a") as out:
    out.write(f"end {os.getpid()} {time.time()}\\n")
"""


def job_spec(job_id: str, shared: Path) -> dict[str, Any]:
    tasks: list[dict[str, Any]] = []
    every = HANDLER_TASKS // COMMAND_TASKS
    for n in range(HANDLER_TASKS):
        tasks.append({"id": f"h{n:03d}", "handler": "test.sleep", "input": {"seconds": SLEEP_SECONDS, "value": n}})
        if n % every == every // 2:
            c = n // every
            log = shared / f"c{c:02d}.log"
            command = [sys.executable, "-c", COMMAND, str(log), str(COMMAND_SECONDS)]
            tasks.append({"id": f"c{c:02d}", "commandLine": command})
    return {"id": job_id, "maxParallelTasks": MAX_PARALLEL, "tasks": tasks}


def command_log(shared: Path, task_id: str) -> list[list[str]]:
    path = shared / f"{task_id}.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def record(host: FeaturesHost, job_id: str, shared: Path) -> dict[str, tuple[dict[str, Any], int]]:
    """The job's finished tasks as the API lists them, each with how many times it had run by then."""
    finished = host.tasks_of(job_id, "succeeded") | host.tasks_of(job_id, "failed")
    runs: dict[str, tuple[dict[str, Any], int]] = {}
    for task_id, task in finished.items():
        if task_id.startswith("c"):
            count = sum(1 for line in command_log(shared, task_id) if line[0] == "start")
        else:
            count = host.calls(job_id, task_id)
        runs[task_id] = (task, count)
    return runs


def result_rows(azurite: Azurite, view: dict[str, Any]) -> list[str]:
    """The task ids of every row of every results blob of the job (`{jobId}/results/*.jsonl`)."""
    results = view["results"]
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        results["container"]
    )
    ids: list[str] = []
    for name in container.list_blob_names(name_starts_with=f"{results['prefix']}results/"):
        assert name.endswith(".jsonl"), name
        text = container.download_blob(name).readall().decode()
        ids += [json.loads(line)["id"] for line in text.splitlines() if line.strip()]
    return ids


@pytest.mark.parametrize("store", ["sqlite", "azure"])
def test_random_kills_lose_nothing_and_run_no_command_twice_at_once(
    azurite: Azurite, tmp_path: Path, store: str
) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(2**32))
    print(f"chaos seed {seed} (replay with CHAOS_SEED={seed})")
    rng = random.Random(seed)
    shared = tmp_path / "shared"
    shared.mkdir()
    settings = {"BATCH_PARTITION_SIZE": "50"}  # and devhost's default worker processes
    extra_args: list[str] = []
    if store == "azure":
        settings[HUB_OVERRIDE] = f"Chaos{uuid.uuid4().hex[:12]}"
        extra_args = ["--store", "azure"]
    job_id = FeaturesHost.unique_id("chaos")
    spec = job_spec(job_id, shared)
    total = len(spec["tasks"])

    # The hosts' worker processes: a host's crash takes them with it; should one outlive its host (and fail the
    # test), it is killed at the end.
    workers: set[int] = set()
    recorded: dict[str, tuple[dict[str, Any], int]] = {}
    try:
        for kill in range(KILLS):
            host = start_features_host(azurite, tmp_path, settings, extra_args=extra_args)
            try:
                if kill == 0:
                    assert host.submit(spec).status_code == 202
                time.sleep(rng.uniform(*KILL_AFTER))  # the random moment is the point here
                if kill == KILLS - 1 and not recorded:
                    # On a loaded machine the hosts may start so slowly that no batch was recorded yet: the last
                    # kill then waits for one, so that some kill lands after recorded work (asserted below).
                    def finished(up: FeaturesHost = host) -> bool:
                        return bool(record(up, job_id, shared))

                    host.wait_until(finished, timeout=60, what="a finished task")
                view = host.get(f"/jobs/{job_id}").json()
                assert view["state"] in ("pending", "running"), f"the job ended before kill {kill + 1}: {view}"
                for task_id, seen in record(host, job_id, shared).items():
                    assert recorded.setdefault(task_id, seen) == seen, (task_id, recorded[task_id], seen)
            finally:
                assert host.process.process is not None
                workers |= child_processes(host.process.process.pid)
                host.process.kill()
                host.http.close()

        host = start_features_host(azurite, tmp_path, settings, extra_args=extra_args)
        try:
            view = host.wait_for_job(job_id, timeout=120)
            records = host.tasks_of(job_id)
            rows = result_rows(azurite, view)
            final = record(host, job_id, shared)
        finally:
            host.close()
    finally:
        kill_leftovers(workers)

    assert recorded, "no task had finished before the last kill: the kills proved nothing"
    assert len(recorded) < total
    # Exact counts, and the task records agree with them.
    assert view["state"] == "succeeded", view
    assert view["taskCounts"] == {
        "total": total,
        "pending": 0,
        "running": 0,
        "succeeded": total,
        "failed": 0,
        "skipped": 0,
        "cancelled": 0,
    }, view
    assert len(records) == total
    assert Counter(task["state"] for task in records.values()) == {"succeeded": total}
    # Each succeeded task once in the results blobs, and nothing else.
    duplicates = sorted(task_id for task_id, count in Counter(rows).items() if count > 1)
    assert not duplicates, f"result rows written twice: {duplicates[:10]}"
    assert set(rows) == set(records)
    # A task recorded as finished before a kill did not run again, nor did its record change.
    for task_id, (before, runs) in recorded.items():
        after, runs_after = final[task_id]
        assert after == before, (task_id, before, after)
        assert runs_after == runs, f"{task_id} ran again after it was recorded ({runs} -> {runs_after} runs)"
    # Every task ran (at least once); no command ran while another copy of it was running.
    assert all(runs >= 1 for _, runs in final.values())
    for c in range(COMMAND_TASKS):
        lines = command_log(shared, f"c{c:02d}")
        assert not [line for line in lines if line[0] == "overlap"], (f"c{c:02d}", lines)
        # A copy killed with its host left a "start" alone; every "end" closes the "start" just before it.
        ends = [i for i, line in enumerate(lines) if line[0] == "end"]
        assert ends and ends[-1] == len(lines) - 1, (f"c{c:02d}", lines)
        assert all(lines[i - 1][:2] == ["start", lines[i][1]] for i in ends), (f"c{c:02d}", lines)
