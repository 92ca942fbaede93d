"""What handler tasks print and log is kept with each task, apart from the others running beside it, and a
failed handler's traceback shows the user's frames: through the job API on devhost and Azurite."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.jobs.support import FeaturesHost, results_container, text_of

pytestmark = pytest.mark.e2e


def chatty(task_id: str, n: int, *, fail: bool = False, handler: str = "test.chatty") -> dict[str, Any]:
    return {"id": task_id, "handler": handler, "input": {"n": n, "fail": fail}}


def test_a_handler_tasks_prints_logs_and_traceback_are_kept_with_it(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("logs")
    tasks = [
        *[chatty(f"sync{n}", n) for n in range(4)],
        chatty("broken", 9, fail=True),
        *[chatty(f"async{n}", n, handler="test.async_chatty") for n in range(6)],
        {"id": "quiet", "handler": "test.echo", "input": 1},
    ]
    # A batch runs the sync tasks side by side on threads, another the async ones side by side on one loop.
    view = features_host.run({"id": job_id, "taskBatchSize": 20, "toleratedFailurePercentage": 50, "tasks": tasks})
    assert view["state"] == "succeeded", view
    blobs = results_container(features_host)

    for n in range(4):
        task = features_host.task(job_id, f"sync{n}")
        assert task["logs"] == {
            "stdout": f"_jobs/{job_id}/tasks/sync{n}/stdout.txt",
            "stderr": f"_jobs/{job_id}/tasks/sync{n}/stderr.txt",
        }
        assert text_of(blobs, task["logs"]["stdout"]) == f"stdout line of sync{n}\n"
        stderr_lines = text_of(blobs, task["logs"]["stderr"]).splitlines()
        assert stderr_lines[0] == f"stderr line of sync{n}"
        assert stderr_lines[1].endswith(f"WARNING batch_features.chatty: warning of sync{n}")
        assert len(stderr_lines) == 2

    for n in range(6):
        task = features_host.task(job_id, f"async{n}")
        stdout = text_of(blobs, task["logs"]["stdout"])
        assert stdout == f"first line of async{n}\nsecond line of async{n}\n"
        assert text_of(blobs, task["logs"]["stderr"]).endswith(f"warning of async{n}\n")

    broken = features_host.task(job_id, "broken")
    assert broken["state"] == "failed"
    stderr = text_of(blobs, broken["logs"]["stderr"])
    assert "warning of broken" in stderr
    traceback = stderr[stderr.index("Traceback (most recent call last):") :]
    assert traceback.endswith("ValueError: input 9 is not wanted\n")
    # The user's frames, from the handler down; none of the framework's that called it.
    assert 'function_app.py", line' in traceback and "in chatty" in traceback and "in _check_input" in traceback
    assert "activities" not in traceback and "handlers.py" not in traceback
    error_frames = broken["error"].splitlines()[1:]
    assert error_frames and all("activities" not in line for line in error_frames)
    assert "in chatty" in broken["error"]

    quiet = features_host.task(job_id, "quiet")
    assert quiet["logs"] == {"stdout": None, "stderr": None}
    assert not list(blobs.list_blob_names(name_starts_with=f"_jobs/{job_id}/tasks/quiet/"))
