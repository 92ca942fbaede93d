"""Worker processes for `def` activities, apart from the host, as the Functions host runs its Python workers.

Each worker process loads the app once, exactly as the host did, and runs activities on its own threads. User
code then never runs in the host's process: a handler that ends its process (`os._exit`, a segfault, the OOM
killer) ends one worker, not the host. The pool replaces a dead worker at once, and every activity the worker
was running fails with a reason that names its exit code or signal (`its process died (exit code 137)`), as
the Functions host fails the invocations of a worker that exited; nothing waits for a dead worker.

The host keeps the requests itself and hands them to a worker that has loaded the app, over a pipe of its own,
at most twice as many as the worker has threads: the extra ones wait in the worker, so a thread that finishes
starts the next at once instead of waiting for the host, whose engine thread keeps the interpreter busy
replaying. Each worker thread writes the id of the activity it starts into a slot of memory it shares with the
host, before starting it; so when a worker dies, the host knows which activities it was running (those fail)
and which were only waiting there (those go to the other workers or its replacement), and a request no worker
took goes to whichever worker has room first. (With one queue shared by all workers, nobody could tell which
requests a dead worker had taken, and a worker killed while holding the queue's lock would leave the others
waiting on it forever.) Requests and answers travel in lists, as many as are ready at once: every message the
host takes waits for its turn at the interpreter, and one message per activity, with no requests waiting in
the workers, made a fan-out of 10,000 no-op activities seven times slower.

Async activities stay on the host's event loop, as in the worker, where they run on its single loop.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any, cast

from devhost.activity_runner import ActivityOutcome, failure, run_sync
from devhost.store import ActivityItem

log = logging.getLogger("devhost.workers")

MAX_PROCESSES = 10
"""The most worker processes the Functions host starts (FUNCTIONS_WORKER_PROCESS_COUNT is 1 to 10)."""
DEFAULT_MIN_PROCESSES, DEFAULT_MAX_PROCESSES = 2, 4
"""The default is one worker per core, within these bounds (see `default_process_count`)."""
FAILED_STARTS = 3
"""Workers that die in a row before loading the app: the pool then stops starting more (see `WorkerPool`)."""


@dataclass(frozen=True)
class ClientSettings:
    """What a worker needs to build a durable client binding value (the factory itself is not picklable)."""

    base_url: str
    rpc_base_url: str
    hub: str
    system_key: str | None


def how_it_ended(exitcode: int | None) -> str:
    """`exit code 137`, or `signal SIGKILL` for a process a signal ended (a negative exit code, as
    `multiprocessing` reports it)."""
    if exitcode is None:
        return "its exit code unknown"
    if exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def death_reason(exitcode: int | None) -> str:
    """How a process ended, as an activity's failure says it: `its process died (exit code 137)`, or
    `its process died (signal SIGKILL)`."""
    return f"its process died ({how_it_ended(exitcode)})"


def died(name: str, reason: str, details: str) -> ActivityOutcome:
    """The outcome of an activity whose worker died while running it, in the extension's wording for a failed
    activity (protocol reference §2.6): `Activity function '<name>' failed: WorkerProcessDied: <reason>`."""
    return ActivityOutcome(failure=(f"Activity function '{name}' failed: WorkerProcessDied: {reason}", details))


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
    script_root: str,
    script_file: str,
    threads: int,
    requests: Connection,
    replies: Connection,
    started: Any,
    sys_path: list[str],
) -> None:
    """The body of a worker process: load the app, say so, then run the activities the host sends until it
    sends None (or its end of the pipe closes). Each thread writes the id of the activity it starts into its
    slot of `started`, shared with the host."""
    _exit_with_host()
    sys.path[:] = sys_path
    from devhost.client_binding import client_payload
    from devhost.loader import load_app

    # On 3.13 the worker library runs each activity on its own pool: as many threads as this worker takes.
    index = load_app(Path(script_root), script_file=script_file, worker_threads=threads)
    answers: queue.SimpleQueue[tuple[int, ActivityOutcome] | None] = queue.SimpleQueue()

    def answer() -> None:
        # One sender for the pool's threads: whatever has finished by the time it sends goes in one message.
        while True:
            first = answers.get()
            if first is None:
                return
            done = [first]
            with contextlib.suppress(queue.Empty):
                while len(done) < threads:
                    more = answers.get_nowait()
                    if more is None:
                        replies.send(("done", done))
                        return
                    done.append(more)
            replies.send(("done", done))

    slot_numbers = itertools.count()
    own = threading.local()

    def claim_slot() -> None:
        own.slot = next(slot_numbers)

    def run(item: ActivityItem, client: ClientSettings | None) -> None:
        started[own.slot] = item.id  # before it starts: a death from here on fails it
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
        except BaseException as exc:  # SystemExit in a pool thread ends only the call: it must still answer
            outcome = failure(item.name, exc)
        answers.put((item.id, outcome))

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="devhost-worker", initializer=claim_slot)
    sender = threading.Thread(target=answer, name="devhost-worker-answers", daemon=True)
    sender.start()
    replies.send(("ready",))
    while True:
        try:
            request = requests.recv()
        except EOFError:
            break
        if request is None:
            break
        client, items = request
        for item in items:
            pool.submit(run, item, client)
    pool.shutdown(wait=False, cancel_futures=True)
    answers.put(None)
    sender.join(5)


@dataclass(eq=False)
class _Worker:
    """One worker process as the host sees it: its pipes, and the activities it holds (by activity id)."""

    number: int
    process: SpawnProcess
    requests: Connection
    replies: Connection
    started: Any
    """The id of the activity each of its threads started last (shared memory, see the module)."""
    ready: bool = False
    running: dict[int, ActivityItem] = field(default_factory=dict)
    """What it holds: sent to it and not answered yet, running or waiting there."""


class WorkerPool:
    """`processes` worker processes with `threads` activity threads each (see the module).

    `on_replies([(item, outcome), ...])` is called on the pool's reader thread for the activities submitted,
    a few at a time: with what each returned, or with a failure when its worker died. `client_settings()` is
    read when requests are sent, so activities recovered at start-up, submitted before the host knows its URL,
    still get a client.
    If `FAILED_STARTS` workers in a row die before they have loaded the app, the pool starts no more and
    fails every request with the last one's exit code, rather than start processes in a loop.
    """

    def __init__(
        self,
        script_root: Path,
        script_file: str,
        *,
        processes: int,
        threads: int,
        on_replies: Callable[[list[tuple[ActivityItem, ActivityOutcome]]], None],
        client_settings: Callable[[], ClientSettings | None] = lambda: None,
    ) -> None:
        # Spawn, not fork: the host process already runs threads (engine, pools, event loop), and a forked
        # child would inherit their locks in whatever state they were.
        self._context = multiprocessing.get_context("spawn")
        self._script_root = str(script_root)
        self._script_file = script_file
        self._threads = threads
        self._on_replies = on_replies
        self._client_settings = client_settings
        self._lock = threading.Lock()
        self._pending: collections.deque[ActivityItem] = collections.deque()
        self._closing = False
        self._failed_starts = 0
        self._broken: str | None = None
        self._broken_details = ""  # what an activity failed for that reason is told (set with `_broken`)
        self._settled = threading.Event()  # a worker has loaded the app, or none can (`wait_loaded`)
        self._started = 0
        self._wake_reader, self._waker = self._context.Pipe(duplex=False)
        self._workers: list[_Worker] = [self._start() for _ in range(processes)]
        self._reader = threading.Thread(target=self._read, name="devhost-worker-replies", daemon=True)
        self._reader.start()

    def wait_loaded(self, timeout: float) -> bool:
        """Wait until a worker has loaded the app, or the pool has given up starting them; False on timeout."""
        return self._settled.wait(timeout)

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids, as they are now (a dead worker's replacement has a new one)."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def submit(self, item: ActivityItem) -> None:
        """Run `item` on a worker as soon as one has a free thread (callable from any thread)."""
        with self._lock:
            broken = self._broken
            if broken is None:
                self._pending.append(item)
                self._dispatch()
        if broken is not None:
            self._on_replies([(item, died(item.name, broken, self._broken_details))])

    # ---------------------------------------------------------------- under the lock

    def _start(self) -> _Worker:
        requests_out, requests_in = self._context.Pipe(duplex=False)
        replies_out, replies_in = self._context.Pipe(duplex=False)
        started = self._context.RawArray("q", self._threads)
        number = self._started
        self._started += 1
        process = self._context.Process(
            target=_worker_main,
            args=(
                self._script_root,
                self._script_file,
                self._threads,
                requests_out,
                replies_in,
                started,
                list(sys.path),
            ),
            name=f"devhost-worker-{number}",
            daemon=True,
        )
        process.start()
        # The child's ends are the child's: with ours closed, its death shows as the end of its pipes.
        requests_out.close()
        replies_in.close()
        return _Worker(number, process, requests_in, replies_out, started)

    def _dispatch(self) -> None:
        """Hand pending requests to ready workers with room (twice their threads), the least busy first, in one
        message per worker."""
        room = 2 * self._threads
        while self._pending:
            free = [w for w in self._workers if w.ready and len(w.running) < room]
            if not free:
                return
            worker = min(free, key=lambda w: len(w.running))
            count = min(len(self._pending), room - len(worker.running))
            items = [self._pending.popleft() for _ in range(count)]
            try:
                worker.requests.send((self._client_settings(), items))
            except (OSError, ValueError):
                # The worker is dying (its pipe is closed): the requests were never taken; the reader buries it.
                self._pending.extendleft(reversed(items))
                worker.ready = False
                continue
            worker.running.update((item.id, item) for item in items)

    # ---------------------------------------------------------------- the reader thread

    def _read(self) -> None:
        while True:
            with self._lock:
                if self._closing and not self._workers:
                    return
                by_pipe = {w.replies: w for w in self._workers}
                by_sentinel = {w.process.sentinel: w for w in self._workers}
            for ready in wait([self._wake_reader, *by_pipe, *by_sentinel]):
                if ready is self._wake_reader:
                    self._wake_reader.recv()  # the pool is closing: look again
                    continue
                if isinstance(ready, int):
                    self._bury(by_sentinel[ready])
                    break  # the worker list changed
                worker = by_pipe[cast(Connection, ready)]
                if not self._receive(worker):
                    self._bury(worker)
                    break

    def _receive(self, worker: _Worker) -> bool:
        """Take one message from `worker`; False when its pipe has ended (it died, or is dying)."""
        try:
            message = worker.replies.recv()
        except (EOFError, OSError):
            return False
        if message[0] == "ready":
            with self._lock:
                worker.ready = True
                self._failed_starts = 0
                self._dispatch()
            self._settled.set()
            return True
        answered: list[tuple[ActivityItem, ActivityOutcome]] = []
        with self._lock:
            for item_id, outcome in message[1]:
                item = worker.running.pop(item_id, None)
                if item is not None:
                    answered.append((item, outcome))
            self._dispatch()
        if answered:
            self._on_replies(answered)
        return True

    def _bury(self, worker: _Worker) -> None:
        """A worker ended: take what it answered before it died, fail what it had started, start its
        replacement and give the others (or the replacement) what is waiting, its own waiting requests first."""
        with self._lock:
            if worker not in self._workers:
                return
        while True:  # answers it sent before it died still count
            try:
                if not worker.replies.poll():
                    break
            except (EOFError, OSError):
                break
            if not self._receive(worker):
                break
        worker.process.join(5)
        if worker.process.is_alive():  # its pipe ended but it lives on: it is no use to anyone
            worker.process.kill()
            worker.process.join()
        how = how_it_ended(worker.process.exitcode)
        reason = death_reason(worker.process.exitcode)
        failed_start = not worker.ready
        with self._lock:
            self._workers.remove(worker)
            # What it had started fails; what only waited there goes to the others, before newer requests.
            started = set(worker.started[:])
            lost = [item for item_id, item in worker.running.items() if item_id in started]
            waiting = [item for item_id, item in worker.running.items() if item_id not in started]
            self._pending.extendleft(reversed(waiting))
            worker.running.clear()
            closing = self._closing
            if not closing:
                self._failed_starts += 1 if failed_start else 0
                if self._failed_starts < FAILED_STARTS:
                    self._workers.append(self._start())
                elif not any(w.ready for w in self._workers):
                    # Workers keep dying before they load the app: starting more would only loop.
                    self._broken = f"{reason} before it loaded the app"
                    self._broken_details = (
                        f"{FAILED_STARTS} worker processes in a row ended before they loaded the app, the last one "
                        f"(pid {worker.process.pid}) with {how}; devhost starts no more: fix the app and restart "
                        "devhost."
                    )
                    lost += self._pending
                    self._pending.clear()
                self._dispatch()
            broken = self._broken
        if broken is not None:
            self._settled.set()
        for conn in (worker.requests, worker.replies):
            conn.close()
        if closing:
            return  # the host is stopping: what ran there runs again at its next start
        pid = worker.process.pid
        if failed_start:
            log.error("worker process %s: %s before it loaded the app", pid, reason)
        else:
            log.warning("worker process %s: %s while it ran %d activities; started another", pid, reason, len(lost))
        if broken is not None:
            details = self._broken_details
        else:
            activities = "this activity alone" if len(lost) == 1 else f"{len(lost)} activities"
            details = (
                f"The worker process (pid {pid}) that ran this activity ended ({how}) while it ran {activities}; "
                "each of them failed. devhost started another worker in its place."
            )
        if lost:
            self._on_replies([(item, died(item.name, broken or reason, details)) for item in lost])

    def close(self, timeout: float = 10.0) -> None:
        """Stop every worker (what they run is abandoned, as at any stop) and the reader."""
        with self._lock:
            self._closing = True
            workers = list(self._workers)
            for worker in workers:
                with contextlib.suppress(OSError, ValueError):
                    worker.requests.send(None)
        for worker in workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout)
        self._waker.send(None)
        self._reader.join(timeout)
        for conn in (self._waker, self._wake_reader):
            conn.close()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - macOS


def default_process_count(cores: int) -> int:
    """One worker process per core, at least 2 and at most 4.

    One per core lets CPU-bound handlers (and the Python-heavy storage SDKs) use every core: on 2 cores two
    workers ran trivial batch tasks 2.3 times as fast as the host's own process did. At least 2, so while a
    dead worker's replacement loads the app (about a second) the other keeps running activities. At most 4:
    each worker holds its own copy of the app (about 70 MB with this project's), and devhost's one engine
    thread, not the workers, is the limit beyond a few cores (`FUNCTIONS_WORKER_PROCESS_COUNT` sets more)."""
    return max(DEFAULT_MIN_PROCESSES, min(DEFAULT_MAX_PROCESSES, cores))


def worker_process_count(environ: Mapping[str, str], cores: int | None = None) -> int:
    """FUNCTIONS_WORKER_PROCESS_COUNT as the Functions host reads it (1 to 10), else `default_process_count`."""
    default = default_process_count(available_cores() if cores is None else cores)
    raw = environ.get("FUNCTIONS_WORKER_PROCESS_COUNT", "").strip()
    if not raw:
        return default
    try:
        count = int(raw)
    except ValueError:
        log.warning("FUNCTIONS_WORKER_PROCESS_COUNT=%r is not a number; using %d", raw, default)
        return default
    return max(1, min(MAX_PROCESSES, count))
