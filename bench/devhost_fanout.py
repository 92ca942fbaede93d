"""devhost fan-out/fan-in: N no-op activities through devhost over HTTP, with the SQLite or the Azure store.

    python -m bench.devhost_fanout --n 1000 --n 10000
    python -m bench.devhost_fanout --store azure --n 1000 --n 10000     # on an Azurite started for each run

Prints, per N, the median of `--repeat` runs: end-to-end seconds (start request to completed status),
activities per second, and the host process's peak RSS. Each run uses a fresh state folder and host process
(and, for the Azure store, a fresh Azurite, which shares the machine's cores with devhost), on devhost's
defaults (the activities in its worker processes), after a fan-out of 20 that is not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devhost.azurite import start_azurite
from devhost.testing import DevHostProcess

APP = Path(__file__).resolve().parent / "apps" / "fanout"


def _request(method: str, url: str, body: object | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return response.status, json.loads(text) if text else None


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def store_env(store: str | None, state: Path) -> Iterator[dict[str, str]]:
    """The environment devhost needs for `store`: for "azure", an Azurite of its own in `state`."""
    if store != "azure":
        yield {}
        return
    with start_azurite(state / "azurite") as azurite:
        yield {"AzureWebJobsStorage": azurite.connection_string}


WARM_UP = 20


def _fan_out(base: str, n: int) -> Any:
    """Run the fan-out of `n` activities to its end; its final status."""
    # As the SDK client sends it: the input JSON-encoded, inside a JSON string (reference §2.12).
    _, body = _request("POST", f"{base}/orchestrators/fan_out_fan_in", json.dumps(n))
    instance_id = body["id"]  # type: ignore[index]
    while True:
        _, status = _request("GET", f"{base}/instances/{instance_id}")
        if status["runtimeStatus"] in ("Completed", "Failed"):  # type: ignore[index]
            return status
        time.sleep(0.02)


def run_once(n: int, store: str | None, in_process: bool = False) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        extra = ["--store", store] if store else []
        if in_process:
            extra.append("--in-process")
        with (
            store_env(store, state) as env,
            DevHostProcess(APP, state_dir=state, extra_args=extra, env=env) as host,
        ):
            assert host.process is not None
            base = f"{host.base_url}/runtime/webhooks/durabletask"
            # Not timed: the worker processes load the app on start, as a host up for a while has long done.
            _fan_out(base, WARM_UP)
            started = time.perf_counter()
            status = _fan_out(base, n)
            elapsed = time.perf_counter() - started
            assert status["runtimeStatus"] == "Completed", status
            assert status["output"] == n * (n - 1) // 2, status
            rss = peak_rss_mib(host.process.pid)
    return {"n": n, "seconds": elapsed, "per_second": n / elapsed, "peak_rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="activities per run (repeatable)")
    parser.add_argument("--store", choices=["sqlite", "azure"], default=None, help="devhost store (default: sqlite)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per N; the median run is reported")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="activities in devhost's own process (`devhost start --in-process`), not its worker processes",
    )
    args = parser.parse_args()
    for n in args.n or [1000, 10000]:
        runs = sorted(
            (run_once(n, args.store, args.in_process) for _ in range(args.repeat)), key=lambda r: r["seconds"]
        )
        result = runs[len(runs) // 2]
        print(
            f"N={result['n']:>6}  {result['seconds']:7.2f} s  {result['per_second']:8.0f} activities/s  "
            f"peak RSS {result['peak_rss_mib']:.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
