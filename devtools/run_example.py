"""The main job, end to end on this machine: Azurite, devhost running the function app, and the billing example.

    python -m devtools.run_example [--tasks 2000] [--seed 1] [--keep-running]

It starts Azurite and devhost on free ports, submits the billing run over the job API, shows a progress bar
with the task counts and the job's phase until the job finishes, then prints the summary and where the results
are. Both processes are stopped at the end, or on Ctrl-C or SIGTERM (or left running with --keep-running, devhost
on port 7071 when it is free, until Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Any

from tqdm import tqdm

from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess
from durable_batch.storage.results import ResultStore
from examples.billing.generate import generate_job

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 7071
FINISHED = ("succeeded", "failed", "cancelled")


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read()
        return error.code, json.loads(text) if text else None


def abbreviated(value: Any, items: int = 3) -> Any:
    """The value with long lists cut to their first few items, so a summary fits on a screen."""
    if isinstance(value, dict):
        return {k: abbreviated(v, items) for k, v in value.items()}
    if isinstance(value, list) and len(value) > items:
        return [abbreviated(v, items) for v in value[:items]] + [f"... {len(value) - items} more"]
    return value


def follow(base: str, job_id: str) -> dict[str, Any]:
    """Poll the job until it finishes, with a progress bar of finished tasks and the counts beside it."""
    bar: tqdm[Any] | None = None
    while True:
        status, job = call("GET", f"{base}/api/jobs/{job_id}")
        if status != 200:
            raise SystemExit(f"GET /api/jobs/{job_id} answered {status}: {job}")
        counts = job.get("taskCounts") or {}
        total = int(counts.get("total") or 0)
        done = sum(int(counts.get(k) or 0) for k in ("succeeded", "failed", "skipped", "cancelled"))
        if bar is None and total:
            bar = tqdm(total=total, unit="task", desc=job_id, dynamic_ncols=True)
        if bar is not None:
            bar.update(done - bar.n)
            # The phase says why a bar at 100% still waits: the reduce step runs after the last task.
            bar.set_postfix(
                phase=job.get("phase", ""),
                running=counts.get("running", 0),
                failed=counts.get("failed", 0),
                skipped=counts.get("skipped", 0),
            )
        # The job record turns final a moment before the orchestration returns its summary; wait for both.
        if job.get("state") in FINISHED and (job.get("results") or {}).get("summaryBlob"):
            if bar is not None:
                bar.close()
            return dict(job)
        time.sleep(0.5)


def free_port(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_on_sigterm() -> None:
    """SIGTERM ends the script the way Ctrl-C does, so the `finally` below stops Azurite and devhost."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000, help="invoices to compute (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated usage data (default 1)")
    parser.add_argument("--keep-running", action="store_true", help="leave Azurite and devhost up at the end")
    args = parser.parse_args(argv)
    stop_on_sigterm()

    # A fresh start every time: the same job id on old state would just show the previous run's job.
    state, storage = ROOT / ".devhost" / "run-example", ROOT / ".azurite" / "run-example"
    for folder in (state, storage):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    print("Starting Azurite ...", flush=True)
    azurite = start_azurite(storage)
    host: DevHostProcess | None = None
    try:
        # devhost's defaults, as a user gets them: activities in worker processes, one per core (at least two).
        env = {
            "AzureWebJobsStorage": azurite.connection_string,
            "BATCH_EXAMPLES": "true",  # the risk job's handlers are examples, registered only when asked for
        }
        print("Starting devhost with the function app ...", flush=True)
        # Kept running, it serves on 7071 when that port is free, as `func start` does, so the README's curl
        # lines work; otherwise on a free port, printed below.
        port = ["--port", str(DEFAULT_PORT)] if args.keep_running and free_port(DEFAULT_PORT) else []
        host = DevHostProcess(ROOT, state_dir=state, env=env, extra_args=port).start()
        print(f"devhost is serving {host.base_url}/api/jobs", flush=True)

        spec = generate_job(tasks=args.tasks, seed=args.seed)
        status, job = call("POST", f"{host.base_url}/api/jobs", spec)
        if status not in (200, 202):
            raise SystemExit(f"the job was refused ({status}): {json.dumps(job, indent=2)}")
        job_id = job["id"]
        print(f"Submitted job {job_id} ({len(spec['tasks'])} tasks); following it:", flush=True)
        started = time.perf_counter()
        final = follow(host.base_url, job_id)
        elapsed = time.perf_counter() - started

        print(f"\nJob {job_id} {final['state']} in {elapsed:.1f} s: {final.get('reason', '')}")
        print("Task counts:", json.dumps(final.get("taskCounts")))
        reduce = final.get("reduce") or {}
        if reduce.get("ok"):
            output = reduce.get("result")
            if output is None and reduce.get("resultBlob"):
                results = ResultStore.from_settings({"AzureWebJobsStorage": azurite.connection_string})
                output = json.loads(results.read_blob(str(reduce["resultBlob"])))
            print(f"Revenue summary (the reduce step's output, {reduce.get('resultBlob') or 'inline'}):")
            print(json.dumps(abbreviated(output), indent=2))
        elif reduce:
            print(f"The reduce step failed: {reduce.get('error')}")
        print("\nWhere the results are:")
        print(json.dumps(final.get("results"), indent=2))
        print(f"  the job:        GET {host.base_url}/api/jobs/{job_id}")
        print(f"  its tasks:      GET {host.base_url}/api/jobs/{job_id}/tasks?state=failed")
        print(f"  Azurite:        {azurite.connection_string}")
        if args.keep_running:
            print("\nAzurite and devhost keep running; press Ctrl-C to stop them.", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return 0 if final["state"] == "succeeded" else 1
    finally:
        if host is not None:
            host.stop()
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
