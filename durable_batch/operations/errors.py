"""What an operation refuses, by kind: a request that is wrong (`Invalid`), one too large (`TooLarge`), a thing
that is not there (`NotFound`), or one whose state does not allow it (`Conflict`).

Each error has a stable `code` for programs, a `message` that says what went wrong and what to do next, and
`details`: every problem of a refused spec or body, with its path. The operations raise these and nothing of
HTTP; the API maps each kind to its status in one place (`durable_batch.api.errors`), and an activity or a schedule that
runs an operation reads the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from durable_batch.batch.errors import BodyTooLargeError, SpecError


class OperationError(Exception):
    code = "badRequest"

    def __init__(self, message: str, details: Sequence[Mapping[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = [dict(item) for item in details]

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class Invalid(OperationError):
    """The request cannot be carried out as it is; `details` says what is wrong and where."""


class TooLarge(Invalid):
    code = "bodyTooLarge"


class NotFound(OperationError):
    code = "notFound"


class Conflict(OperationError):
    """The same id with another spec, or an operation the state of a job or schedule does not allow. The
    `code` says which (`jobExists`, `jobFinished`, `jobDisabled`, ...)."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class InvalidJobSpec(Invalid):
    code = "invalidJobSpec"


class InvalidRequest(Invalid):
    """A body other than a job spec (a change, a re-run, a disable) that the operation refuses."""

    code = "invalidRequest"


class InvalidSchedule(Invalid):
    code = "invalidSchedule"


class InvalidPool(Invalid):
    code = "invalidPool"


class TemplateProblem(Invalid):
    """A schedule's template cannot be read as a template; the message says what to fix."""

    code = "invalidTemplate"


class JobNotFound(NotFound):
    code = "jobNotFound"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"there is no job with id {job_id!r}: list jobs with GET /api/jobs")


class ScheduleNotFound(NotFound):
    code = "scheduleNotFound"

    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"there is no schedule with id {schedule_id!r}: list schedules with GET /api/schedules")


class PoolNotFound(NotFound):
    code = "poolNotFound"

    def __init__(self, pool_id: str) -> None:
        super().__init__(
            f"there is no pool with id {pool_id!r}: list pools with GET /api/pools, define one with "
            "PUT /api/pools/{poolId}"
        )


class TaskNotFound(NotFound):
    code = "taskNotFound"

    def __init__(self, job_id: str, task_id: str) -> None:
        super().__init__(
            f"job {job_id!r} has no recorded task {task_id!r}: list its tasks with GET /api/jobs/{job_id}/tasks "
            "(tasks appear there once their partition has started)"
        )


class OrchestrationNotFound(NotFound):
    code = "orchestrationNotFound"

    def __init__(self, job_id: str, instance_id: str) -> None:
        super().__init__(
            f"job {job_id!r} has no orchestration {instance_id!r}: list them with "
            f"GET /api/jobs/{job_id}/orchestrations (one not started yet, or purged, does not exist)"
        )


def refused_spec(exc: SpecError) -> Invalid:
    """A refused job spec: `TooLarge` for a body over the limit, else `InvalidJobSpec`, with every problem."""
    if isinstance(exc, BodyTooLargeError):
        return TooLarge(str(exc.problems[0]) if exc.problems else str(exc), exc.details())
    count = len(exc.problems)
    message = f"the job spec has {count} {'problem' if count == 1 else 'problems'}; see details"
    return InvalidJobSpec(message, exc.details())


def refused_body(exc: SpecError) -> InvalidRequest:
    """A refused request body other than a job spec, with every problem."""
    count = len(exc.problems)
    return InvalidRequest(
        f"the request has {count} {'problem' if count == 1 else 'problems'}; see details", exc.details()
    )
