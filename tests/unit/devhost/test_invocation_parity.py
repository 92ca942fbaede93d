"""What a function's invocation gives back is the worker library's verdict on every Python: on 3.13 the library
itself encodes the return value, below devhost does it with the same rules and words."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devhost.errors import HostError
from devhost.invoke import invoke_timer
from devhost.loader import load_app

pytestmark = pytest.mark.unit

APP = """import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
def returns_a_value(timer: func.TimerRequest):
    return 1


@app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
def returns_nothing(timer: func.TimerRequest) -> None:
    assert not timer.past_due and timer.schedule_status == {}
"""


def test_a_function_without_a_return_binding_that_returns_a_value_fails(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(APP, encoding="utf-8")
    index = load_app(tmp_path)
    failing, quiet = index.get("returns_a_value"), index.get("returns_nothing")
    assert failing is not None and quiet is not None
    assert asyncio.run(invoke_timer(quiet)) is None
    with pytest.raises(HostError) as info:
        asyncio.run(invoke_timer(failing))
    expected = "('function %s without a $return bindingreturned a non-None value', \"'returns_a_value'\")"
    assert str(info.value).removeprefix("RuntimeError: ") == expected
