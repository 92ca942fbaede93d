"""What a function's invocation gives back is the worker library's verdict on every Python: on 3.13 the library
itself encodes the return value, below devhost does it with the same rules and words."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from devhost import activity_runner
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


def _activity_app(folder: Path, answer: str) -> Path:
    folder.mkdir()
    source = (
        "import azure.durable_functions as df\n\napp = df.DFApp()\n\n\n"
        '@app.activity_trigger(input_name="name")\n'
        f"def hello(name: str) -> str:\n    return {answer!r}\n"
    )
    (folder / "function_app.py").write_text(source, encoding="utf-8")
    return folder


def test_a_function_of_an_app_indexed_before_another_runs_only_where_that_is_safe(tmp_path: Path) -> None:
    """The worker library holds one app a process and keys its functions by name (as Azure runs one app a worker
    process): on 3.13 a function whose name another app indexed since has taken refuses to run, rather than run
    the other app's code. devhost's own path keeps each app's functions apart."""
    first = load_app(_activity_app(tmp_path / "a", "from a")).activity("hello")
    second = load_app(_activity_app(tmp_path / "b", "from b")).activity("hello")
    assert first is not None and second is not None
    assert activity_runner.run_sync(second, '"x"').result_text == '"from b"'
    outcome = activity_runner.run_sync(first, '"x"')
    if sys.version_info >= (3, 13):
        assert outcome.failure is not None
        assert outcome.failure[0] == (
            "Activity function 'hello' failed: InvocationError: function 'hello' is no longer loaded: the worker "
            "library holds one app a process, and another app was indexed in this process since; run each app in "
            "a process of its own"
        )
    else:
        assert outcome.result_text == '"from a"'
