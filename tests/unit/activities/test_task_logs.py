"""TaskLog: per-task capture of prints and log records, in threads and on one event loop."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

import pytest

from durable_batch.activities.task_logs import TaskLog, current_task_log

pytestmark = pytest.mark.unit


def test_prints_and_records_go_to_the_current_task_only(caplog: pytest.LogCaptureFixture) -> None:
    log = TaskLog("job-1", "t1")
    logger = logging.getLogger("tests.task_logs")

    def work() -> int:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        logger.warning("careful %d", 3)
        return 7

    with caplog.at_level(logging.WARNING, logger="tests.task_logs"):
        assert log.call(work) == 7
        logger.warning("outside")
    assert log.stdout.text() == "to stdout\n"
    lines = log.stderr.text().splitlines()
    assert lines[0] == "to stderr" and lines[1].endswith("WARNING tests.task_logs: careful 3") and len(lines) == 2
    inside, outside = caplog.records
    assert (getattr(inside, "jobId", None), getattr(inside, "taskId", None)) == ("job-1", "t1")
    assert not hasattr(outside, "jobId")
    assert current_task_log() is None


def test_threads_keep_their_own_logs() -> None:
    logs = [TaskLog("j", f"t{n}") for n in range(8)]
    barrier = threading.Barrier(len(logs))

    def work(log: TaskLog) -> None:
        def body() -> None:
            for line in range(50):
                print(f"{log.task_id}:{line}")
                if line == 10:
                    barrier.wait()

        log.call(body)

    threads = [threading.Thread(target=work, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in logs:
        assert log.stdout.text().splitlines() == [f"{log.task_id}:{line}" for line in range(50)]


def test_async_tasks_on_one_loop_keep_their_own_logs() -> None:
    async def one(log: TaskLog) -> None:
        with log.active():
            print(f"{log.task_id} before")
            await asyncio.sleep(0)
            print(f"{log.task_id} after")

    async def main(logs: list[TaskLog]) -> None:
        await asyncio.gather(*(one(log) for log in logs))

    logs = [TaskLog("j", f"a{n}") for n in range(5)]
    asyncio.run(main(logs))
    for log in logs:
        assert log.stdout.text() == f"{log.task_id} before\n{log.task_id} after\n"


def test_only_the_last_bytes_are_kept_and_a_split_character_is_dropped() -> None:
    log = TaskLog("j", "t", limit=10)
    log.call(lambda: print("x" * 100 + "é" + "abcdefghi", end=""))
    # é is two bytes in UTF-8; the last 10 bytes hold its second byte, which is dropped.
    assert log.stdout.text() == "abcdefghi"
    log.call(lambda: print("\n".join(str(n) for n in range(10_000))))
    assert log.stdout.text().endswith("9998\n9999\n") and len(log.stdout.text().encode()) <= 10


class Writer:
    def __init__(self) -> None:
        self.written: dict[str, bytes | str] = {}

    def write_task_blob(
        self, job_id: str, task_id: str, name: str, data: bytes | str, content_type: str | None = None
    ) -> str:
        self.written[name] = data
        return f"{job_id}/tasks/{task_id}/{name}"


def test_a_quiet_first_attempt_saves_nothing() -> None:
    writer = Writer()
    assert TaskLog("j", "t").save(writer) is None and writer.written == {}
    log = TaskLog("j", "t")
    log.call(lambda: print("hi"))
    assert log.save(writer) == {"stdout": "j/tasks/t/stdout.txt", "stderr": "j/tasks/t/stderr.txt"}
    assert writer.written == {"stdout.txt": "hi\n", "stderr.txt": ""}


def test_a_quiet_retry_replaces_the_earlier_attempts_logs() -> None:
    writer = Writer()
    loud = TaskLog("j", "t")
    loud.call(lambda: print("attempt 1 failed loudly"))
    loud.save(writer)
    assert TaskLog("j", "t", attempt=2).save(writer) == {
        "stdout": "j/tasks/t/stdout.txt",
        "stderr": "j/tasks/t/stderr.txt",
    }
    assert writer.written == {"stdout.txt": "", "stderr.txt": ""}
