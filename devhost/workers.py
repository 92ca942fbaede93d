"""Worker processes for `def` activities, as the Functions host runs FUNCTIONS_WORKER_PROCESS_COUNT Python workers.

With one process every activity shares the host's GIL with the engine and the HTTP server; CPU-bound activities
(and the Python-heavy storage SDKs) then use one core. Each worker process loads the app once, exactly as the
host did, and runs activities on its own thread pool; requests go out on one shared queue and each worker takes
one only when it has a free thread, so a busy worker never hoards work another could start.

Async activities stay on the host's event loop, as in the worker, where they run on its single loop.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

from devhost.activity_runner import ActivityOutcome, failure, run_sync
from devhost.store import ActivityItem

log = logging.getLogger("devhost.workers")


@dataclass(frozen=True)
class ClientSettings:
    """What a worker needs to build a durable client binding value (the factory itself is not picklable)."""

    base_url: str
    rpc_base_url: str
    hub: str
    system_key: str | None


def _exit_with_host() -> None:
    """End this worker as soon as the host process is gone. A host that is killed (SIGKILL, a crash) closes
    nothing, and a worker left behind would hold the host's output pipe open (its reader never sees the end)
    and keep running activities of a host nobody listens to. As in the Functions host, workers end with it."""
    host = multiprocessing.parent_process()
    if host is None:  # pragma: no cover - only ever started as a child
        return

    def watch() -> None:
        host.join()  # returns when the host's end of the sentinel pipe closes, that is when it has ended
        os._exit(1)

    threading.Thread(target=watch, name="devhost-worker-host-watch", daemon=True).start()


def _worker_main(
    script_root: str, script_file: str, threads: int, requests: Any, replies: Any, sys_path: list[str]
) -> None:
    """The body of a worker process: load the app, then run activities until told to stop (a None)."""
    _exit_with_host()
    sys.path[:] = sys_path
    from devhost.client_binding import client_payload
    from devhost.loader import load_app

    index = load_app(Path(script_root), script_file=script_file)
    free = threading.Semaphore(threads)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="devhost-worker")

    def run(item: ActivityItem, client: ClientSettings | None) -> None:
        try:
            function = index.activity(item.name)
            if function is None:
                outcome = failure(item.name, LookupError(f"no activity named {item.name!r}"))
            else:
                factory = None
                if client is not None:

                    def factory(binding: Any) -> str:
                        return client_payload(
                            client.base_url, client.rpc_base_url, client.hub, binding, system_key=client.system_key
                        )

                outcome = run_sync(function, item.input_text, factory)
            replies.put((item, outcome))
        finally:
            free.release()

    while True:
        free.acquire()
        request = requests.get()
        if request is None:
            break
        pool.submit(run, *request)
    pool.shutdown(wait=False, cancel_futures=True)


class WorkerPool:
    """`processes` worker processes with `threads` activity threads each."""

    def __init__(
        self,
        script_root: Path,
        script_file: str,
        *,
        processes: int,
        threads: int,
        on_reply: Callable[[ActivityItem, ActivityOutcome], None],
    ) -> None:
        # Spawn, not fork: the host process already runs threads (engine, pools, event loop), and a forked
        # child would inherit their locks in whatever state they were.
        context = multiprocessing.get_context("spawn")
        self._requests: Any = context.Queue()
        self._replies: Any = context.Queue()
        self._on_reply = on_reply
        self._processes: list[SpawnProcess] = [
            context.Process(
                target=_worker_main,
                args=(str(script_root), script_file, threads, self._requests, self._replies, list(sys.path)),
                name=f"devhost-worker-{n}",
                daemon=True,
            )
            for n in range(processes)
        ]
        for process in self._processes:
            process.start()
        self._reader = threading.Thread(target=self._read, name="devhost-worker-replies", daemon=True)
        self._reader.start()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def submit(self, item: ActivityItem, client: ClientSettings | None) -> None:
        self._requests.put((item, client))

    def _read(self) -> None:
        while True:
            reply = self._replies.get()
            if reply is None:
                return
            item, outcome = reply
            self._on_reply(item, outcome)

    def close(self, timeout: float = 10.0) -> None:
        for _ in self._processes:
            self._requests.put(None)
        for process in self._processes:
            process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(timeout)
        self._replies.put(None)
        self._reader.join(timeout)
        for q in (self._requests, self._replies):
            q.close()
            q.join_thread()


def worker_process_count(environ: Mapping[str, str]) -> int:
    """FUNCTIONS_WORKER_PROCESS_COUNT as the Functions host reads it: 1 to 10, default 1."""
    raw = environ.get("FUNCTIONS_WORKER_PROCESS_COUNT", "").strip()
    if not raw:
        return 1
    try:
        count = int(raw)
    except ValueError:
        log.warning("FUNCTIONS_WORKER_PROCESS_COUNT=%r is not a number; using 1", raw)
        return 1
    return max(1, min(10, count))
