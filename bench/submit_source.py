"""The submit of a job whose tasks come from a large JSON Lines source, against the speed of reading the source.

    python -m bench.submit_source --lines 1000000 --repeat 3

A fresh Azurite and devhost (`devhost start`'s defaults, as a user starts it), one JSON Lines source of
`--lines` trivial handler tasks uploaded once, then `--repeat` rounds of:

- submit: `POST /api/jobs` of a new job (its own id) whose `taskFactory` names the source, timed end to end over
  HTTP: the source read and every line checked, the records written, the orchestration started (the `202`);
- resubmit: the same request again once the job is cancelled (a `200`, the existing job: the source is read
  and checked again to pin its content, and nothing is started);
- the baseline, in this process: the same blob downloaded (`download`), and downloaded, split into lines and each
  line decoded with `json.loads` (`read`), which is the speed of reading it.

Each submitted job is cancelled and deleted before the next round, and every timed step waits until the host
(its worker processes included) and Azurite are idle first, so that a job's planning and cancelling never
share the cores with what is timed. Prints each step's median (every run beside it) and its ratio to `read`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from bench.batch_jobs import APP, job_tasks, upload_lines
from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess
from devtools.run_example import call

_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_SHARE = 0.05
"""The host and Azurite are idle when they use less than this share of one core over `IDLE_WINDOW`."""
IDLE_WINDOW = 0.5
IDLE_TIMEOUT = 300.0


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by `pids` and their live children (a host's worker processes)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    return sum(seconds for pid, (parent, seconds) in stats.items() if pid in pids or parent in pids)


def wait_idle(pids: list[int]) -> None:
    """Return once `pids` (and their children) used under `IDLE_SHARE` of a core for `IDLE_WINDOW` seconds."""
    deadline = time.monotonic() + IDLE_TIMEOUT
    before = _cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(IDLE_WINDOW)
        now = _cpu_seconds(pids)
        if now - before < IDLE_SHARE * IDLE_WINDOW:
            return
        before = now
    raise RuntimeError(f"the host and Azurite were still busy after {IDLE_TIMEOUT:.0f} s")


def timed(step: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = step()
    return time.perf_counter() - began, value


def download(blob: Any) -> int:
    """The blob's bytes, chunk by chunk as a submit streams it; how many there were."""
    return sum(len(chunk) for chunk in blob.download_blob().chunks())


def read(blob: Any) -> int:
    """The blob downloaded, split into lines and each non-blank line decoded; how many lines were."""
    count = 0
    pending = b""
    for chunk in blob.download_blob().chunks():
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            if line.strip():
                json.loads(line)
                count += 1
    if pending.strip():
        json.loads(pending)
        count += 1
    return count


def submit(base_url: str, spec: dict[str, Any], expected: int) -> None:
    status, body = call("POST", f"{base_url}/api/jobs", spec)
    assert status == expected, (status, body)


def cancel(base_url: str, job_id: str) -> None:
    """Cancel the job and wait until it has ended."""
    status, body = call("POST", f"{base_url}/api/jobs/{job_id}/cancel")
    assert status == 202, (status, body)
    while call("GET", f"{base_url}/api/jobs/{job_id}")[1]["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.1)


def delete(base_url: str, job_id: str) -> None:
    """Delete the ended job: its records, blobs and histories."""
    deadline = time.monotonic() + IDLE_TIMEOUT
    while (status := call("DELETE", f"{base_url}/api/jobs/{job_id}")[0]) == 409 and time.monotonic() < deadline:
        time.sleep(0.5)  # `jobStopping`: its partitions are still stopping
    assert status == 204, status


def one_round(base_url: str, busy: list[int], spec: dict[str, Any], blob: Any, lines: int) -> dict[str, float]:
    """Seconds of each step of one round, each started on an idle host and Azurite."""
    job_id = str(spec["id"])
    taken: dict[str, float] = {}
    wait_idle(busy)
    taken["submit"], _ = timed(lambda: submit(base_url, spec, 202))
    _, job = call("GET", f"{base_url}/api/jobs/{job_id}")
    assert job["taskCounts"]["total"] == lines, job
    cancel(base_url, job_id)
    wait_idle(busy)
    taken["resubmit"], _ = timed(lambda: submit(base_url, spec, 200))
    delete(base_url, job_id)
    wait_idle(busy)
    taken["download"], _ = timed(lambda: download(blob))
    wait_idle(busy)
    taken["read"], count = timed(lambda: read(blob))
    assert count == lines, count
    return taken


def run(lines: int, repeat: int) -> dict[str, list[float]]:
    """Seconds of each step in each round, on one fresh Azurite and devhost."""
    taken: dict[str, list[float]] = {"submit": [], "resubmit": [], "download": [], "read": []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with start_azurite(root / "azurite") as azurite:
            env = {"AzureWebJobsStorage": azurite.connection_string}
            factory = upload_lines(azurite.connection_string, job_tasks("flat", lines, 0))
            service = BlobServiceClient.from_connection_string(azurite.connection_string)
            blob = service.get_blob_client(factory["container"], factory["blob"])
            size = blob.get_blob_properties().size
            print(f"source: {lines:,} lines, {size / 2**20:.1f} MiB", flush=True)
            with DevHostProcess(APP, state_dir=root / "state", env=env) as host:
                assert host.process is not None
                busy = [host.process.pid, azurite.pid]
                for number in range(1, repeat + 1):
                    spec = {"id": f"bench-submit-{number}", "maxParallelTasks": 200, "taskFactory": factory}
                    steps = one_round(host.base_url, busy, spec, blob, lines)
                    for step, seconds in steps.items():
                        taken[step].append(seconds)
                    shown = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items())
                    print(f"round {number}: {shown}", flush=True)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="tasks in the source, one a line")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median of each step is reported")
    args = parser.parse_args()
    taken = run(args.lines, args.repeat)
    baseline = statistics.median(taken["read"])
    for step, runs in taken.items():
        median = statistics.median(runs)
        each = ", ".join(f"{seconds:.2f}" for seconds in runs)
        print(
            f"{step:>9}: {median:6.2f} s, {args.lines / median:10,.0f} lines/s, {median / baseline:5.2f}x read "
            f"(runs: {each})"
        )


if __name__ == "__main__":
    main()
