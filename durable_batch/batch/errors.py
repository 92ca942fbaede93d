"""One error root for the batch domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BatchError(Exception):
    """Root of every error the batch domain raises on purpose."""


class HandlerError(BatchError):
    """A task handler registry was used wrongly (a duplicate name, an unknown handler)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a job spec: where (`tasks[3].dependsOn[0]`, or `""` for the body as a whole)
    and what (`unknown task 'x'`)."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        """The entry of the API error's `details` list."""
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(BatchError):
    """A job spec was refused. Carries every problem found, so the user can fix them all in one go."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else "invalid job spec"
        more = f" (and {count - 1} more {'problem' if count == 2 else 'problems'})" if count > 1 else ""
        super().__init__(f"invalid job spec: {first}{more}")

    def details(self) -> list[dict[str, str]]:
        """The API error's `details` list: `[{"path": ..., "message": ...}, ...]`."""
        return [problem.to_json() for problem in self.problems]


class BodyTooLargeError(SpecError):
    """The request body is over the size limit: the API answers 413 rather than 400."""


class PlanError(BatchError):
    """Planning or scheduling was driven wrongly (a task marked twice, counts that don't add up). This is a
    bug in the caller, never a problem with the user's job: specs are validated before they are planned."""
