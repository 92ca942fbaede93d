"""Which handlers an app registers: the built-in ones always with its own; the reference app (`activities/`)
adds the examples' only under BATCH_EXAMPLES."""

from __future__ import annotations

import sys

import pytest

import activities
from durable_batch import SettingsError, TaskContext, TaskHandlers
from durable_batch.app.handlers import app_handlers
from durable_batch.batch.builtin import ECHO

pytestmark = pytest.mark.unit


def test_without_handlers_of_its_own_an_app_gets_the_built_in_ones() -> None:
    handlers = app_handlers()
    assert list(handlers) == [ECHO]
    assert handlers[ECHO]({"a": [1]}, TaskContext("j", "t", 1)) == {"a": [1]}


def test_the_apps_own_handlers_come_with_the_built_in_ones() -> None:
    own = TaskHandlers()

    @own.task("my.task")
    def task(value: int) -> int:
        return value + 1

    assert set(app_handlers(own)) == {ECHO, "my.task"}


def test_the_reference_app_registers_no_examples_without_the_setting() -> None:
    assert list(activities.app_handlers({})) == []


def test_the_setting_adds_the_example_handlers() -> None:
    handlers = activities.app_handlers({"BATCH_EXAMPLES": "true"})
    assert {"billing.invoice", "risk.simulate"} <= set(handlers)
    assert {"billing.invoice", "risk.simulate"} <= set(app_handlers(handlers))


def test_a_value_that_is_not_a_flag_is_refused() -> None:
    with pytest.raises(SettingsError, match="BATCH_EXAMPLES must be 'true' or 'false'"):
        activities.app_handlers({"BATCH_EXAMPLES": "examples"})


def test_examples_asked_for_but_not_deployed_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "examples.handlers", None)  # as when examples/ is not deployed
    with pytest.raises(SettingsError, match=r"BATCH_EXAMPLES .* requirements-examples\.txt"):
        activities.app_handlers({"BATCH_EXAMPLES": "1"})
