"""Shaping what activities return: error texts, and results inline or in a blob."""

from __future__ import annotations

import asyncio
import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from durable_batch.batch import wire

__all__ = [
    "ERROR_LIMIT",
    "PlacedResult",
    "ResultNotJson",
    "ResultTooLarge",
    "TaskBlobWriter",
    "describe_exception",
    "format_user_traceback",
    "json_text",
    "measured_json",
    "place_result",
    "user_frames",
]

ERROR_LIMIT = 2000
"""Characters of an error text, traceback tail included: errors travel through orchestration history."""
TRACEBACK_FRAMES = 3
"""Frames of a traceback an error text keeps: the handler's own and the last ones before the error."""


class ResultNotJson(ValueError):
    """A handler returned something that is not JSON data."""


class ResultTooLarge(ValueError):
    """A handler returned more JSON than `BATCH_MAX_RESULT_BYTES` allows. Not worth another attempt: it would
    return as much again."""


class TaskBlobWriter(Protocol):
    """The part of `durable_batch.storage.results.ResultStore` that writes a task's files."""

    def write_task_blob(
        self, job_id: str, task_id: str, name: str, data: bytes | str, content_type: str | None = None
    ) -> str: ...


_ROOTS = {Path(__file__).parents[1], Path(__file__).resolve().parents[1]}
_FRAMEWORK_DIRS = (
    *(f"{root / name}{os.sep}" for root in _ROOTS for name in ("activities", "app", "batch", "storage")),
    f"{Path(asyncio.__file__).parent}{os.sep}",
)


def user_frames(exc: BaseException) -> traceback.StackSummary:
    """The frames of `exc`'s traceback from the first one outside the framework (the activities that call a
    handler, and asyncio's wait_for around an async one): the user's code and what it called. All of them
    when every frame is the framework's (its own error)."""
    frames = traceback.extract_tb(exc.__traceback__)
    for i, frame in enumerate(frames):
        if not frame.filename.startswith(_FRAMEWORK_DIRS):
            return traceback.StackSummary.from_list(frames[i:])
    return frames


def format_user_traceback(exc: BaseException) -> str:
    """`exc` as Python prints it (without its causes), with `user_frames` only."""
    lines = ["Traceback (most recent call last):\n", *user_frames(exc).format()]
    return "".join(lines + traceback.format_exception_only(exc))


def describe_exception(exc: BaseException, limit: int = ERROR_LIMIT) -> str:
    """`Type: message`, then where it was raised, within `limit` characters: the handler's own frame (the first
    of the user's) and the last few, with a line saying how many between them were left out.

    The head is what a user reads in the task list; the frames say where to look: the handler's line that
    called in, and where the error came from (often a library), never the framework frames that called it.
    """
    message = str(exc).strip()
    head = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    frames = list(user_frames(exc))
    text = head
    if len(frames) > TRACEBACK_FRAMES:
        first, last = frames[:1], frames[-(TRACEBACK_FRAMES - 1) :]
        skipped = len(frames) - len(first) - len(last)
        text += "\n" + "".join(traceback.format_list(first))
        text += f"  ... {skipped} more {'frame' if skipped == 1 else 'frames'} ...\n"
        text += "".join(traceback.format_list(last)).rstrip()
    elif frames:
        text += "\n" + "".join(traceback.format_list(frames)).rstrip()
    if len(text) <= limit:
        return text
    if len(head) >= limit:
        return head[: limit - 3] + "..."
    return text[: limit - 3] + "..."


# One encoder for every call: `json.dumps` with options builds a new one each time, which costs more than
# encoding a small result.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# Values whose JSON reads back as an equal value of the same type: placing them needs no decode.
_SAME_READ_BACK = frozenset({str, int, float, bool, type(None)})


def json_text(value: Any) -> str:
    """Compact, standard JSON text of `value`; `ResultNotJson` when it is not JSON data (NaN, a set...)."""
    try:
        return _COMPACT.encode(value)
    except (TypeError, ValueError) as exc:
        raise ResultNotJson(
            f"the result cannot be stored as JSON: {exc}. Return plain dicts, lists, strings, finite numbers, "
            "booleans or None"
        ) from exc


@dataclass(frozen=True)
class PlacedResult:
    """A result ready for the wire: `value` inline, or the name of the `blob` that holds it."""

    value: Any = None
    blob: str | None = None

    def apply(self, outcome: wire.ReduceOutcome) -> None:
        """Set `result` (inline) or `resultBlob` on an outcome."""
        if self.blob is not None:
            outcome["resultBlob"] = self.blob
        else:
            outcome["result"] = self.value


def measured_json(value: Any, limit: int | None, what: str = "the result") -> str:
    """`json_text(value)`, refused with `ResultTooLarge` when its UTF-8 is more than `limit` bytes (None: no
    limit). The message names the size and the limit, and says what to do instead."""
    text = json_text(value)
    if limit is not None and len(text) > limit // 4:  # a character is at most 4 bytes: short texts need no count
        size = len(text.encode("utf-8"))
        if size > limit:
            raise ResultTooLarge(
                f"{what} is {size:,} bytes of JSON; the limit is {limit:,} (BATCH_MAX_RESULT_BYTES). Write large "
                "output to Blob Storage and return where it is, or raise the setting"
            )
    return text


def place_result(
    writer: TaskBlobWriter, job_id: str, task_id: str, value: Any, *, limit: int | None = None
) -> PlacedResult:
    """The result inline when its JSON is at most `wire.INLINE_RESULT_LIMIT` bytes (UTF-8); else the JSON
    written to `tasks/{taskId}/result.json` in the job's folder, and its name.

    The inline value is the JSON read back, so what the orchestrator sees is exactly what was measured
    (tuples become lists, keys become strings). Raises `ResultNotJson`, and `ResultTooLarge` for JSON of more
    than `limit` bytes (nothing is written then).
    """
    text = measured_json(value, limit)
    if len(text) * 4 <= wire.INLINE_RESULT_LIMIT or len(text.encode("utf-8")) <= wire.INLINE_RESULT_LIMIT:
        return PlacedResult(value=value if type(value) in _SAME_READ_BACK else json.loads(text))
    return PlacedResult(blob=writer.write_task_blob(job_id, task_id, "result.json", text, "application/json"))
