"""A failure the worker library reports is text: devhost reads the exception's type and message back from it."""

from __future__ import annotations

import pytest

from devhost.worker_calls import FunctionFailed

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("message", "last_line", "kind", "text"),
    [
        ("ValueError: kaboom", "ValueError: kaboom", "builtins.ValueError", "kaboom"),
        ("JobError: no: such job", "app.errors.JobError: no: such job", "app.errors.JobError", "no: such job"),
        ("KeyError: 'x'", "KeyError: 'x'", "builtins.KeyError", "'x'"),
    ],
)
def test_type_and_message_come_from_the_message_and_the_last_traceback_line(
    message: str, last_line: str, kind: str, text: str
) -> None:
    failed = FunctionFailed(message, f'Traceback (most recent call last):\n  File "f.py", line 1\n{last_line}\n')
    assert (failed.exception_type, failed.exception_message, str(failed)) == (kind, text, message)
