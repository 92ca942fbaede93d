"""RUN_TASK: one attempt of one task, a handler or a command line, and its `TaskOutcome`.

The task's own failures (an exception, a time limit, a non-zero exit code, a result that isn't JSON) are
returned with `ok: false`, never raised, so the orchestrator decides about retries and the history keeps a
small record of each attempt. What is raised is what stops any task from running: storage out of reach, a
job spec deleted or replaced. The orchestrator counts a raised attempt as a failed one too.
"""

from __future__ import annotations

import copy

from activities.command_tasks import CANCEL_POLL_SECONDS, default_work_root, run_command_task
from activities.errors import WrongTask
from activities.handler_tasks import run_handler
from activities.outcomes import ResultNotJson, place_result, utc_now
from activities.specs import SpecCache
from app.services import Services
from batch import wire
from batch.handlers import TaskContext

__all__ = ["COMMANDS_DISABLED", "run_task"]

COMMANDS_DISABLED = (
    "CommandTasksDisabled: command tasks are turned off in this app; set the app setting "
    "BATCH_ALLOW_COMMAND_TASKS to true to run them (they run any program the job names)"
)


def run_task(
    services: Services, specs: SpecCache, data: wire.RunTaskInput, *, cancel_poll_seconds: float = CANCEL_POLL_SECONDS
) -> wire.TaskOutcome:
    """Run attempt `data["attempt"]` of the task at `data["taskIndex"]`; see the module."""
    job_id, task_id, index = data["jobId"], data["taskId"], data["taskIndex"]
    spec = specs.get(job_id, data["specHash"]).spec
    if not 0 <= index < len(spec.tasks) or spec.tasks[index].id != task_id:
        raise WrongTask(f"job {job_id!r} has no task {task_id!r} at position {index}")
    task = spec.tasks[index]
    started = utc_now()
    if task.command_line is not None:
        if not services.settings.allow_command_tasks:
            return {"ok": False, "error": COMMANDS_DISABLED, "startedAt": started, "endedAt": utc_now()}
        run = run_command_task(
            services.results,
            services.jobs,
            spec,
            data["specHash"],
            task,
            work_root=default_work_root(services.settings.work_dir),
            poll_seconds=cancel_poll_seconds,
            command_user=services.settings.command_user,
        )
        outcome: wire.TaskOutcome = {"ok": run.ok, "startedAt": started, "endedAt": utc_now()}
        if run.placed is not None:
            run.placed.apply(outcome)
        if run.error is not None:
            outcome["error"] = run.error
        if run.timed_out:
            outcome["timedOut"] = True
        if run.cancelled:
            outcome["cancelled"] = True
        return outcome
    ctx = TaskContext(job_id=job_id, task_id=task_id, attempt=data["attempt"])
    # The spec is shared by every attempt in this process (the cache): a handler that changes its input in
    # place must not change what its own retry, or another thread's, receives.
    value = copy.deepcopy(task.input)
    attempt = run_handler(services.handlers, task.handler or "", value, ctx, spec.timeout_for(task))
    ended = utc_now()
    if not attempt.ok:
        failed: wire.TaskOutcome = {"ok": False, "error": attempt.error, "startedAt": started, "endedAt": ended}
        if attempt.timed_out:
            failed["timedOut"] = True
        return failed
    try:
        placed = place_result(services.results, job_id, task_id, attempt.value)
    except ResultNotJson as exc:
        return {"ok": False, "error": f"ResultNotJson: {exc}", "startedAt": started, "endedAt": ended}
    succeeded: wire.TaskOutcome = {"ok": True, "startedAt": started, "endedAt": ended}
    placed.apply(succeeded)
    return succeeded
