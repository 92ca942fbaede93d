"""Which handlers the app registers: the built-in ones always, the examples' only under BATCH_EXAMPLES."""

from __future__ import annotations

import sys

import pytest

from app.handlers import app_handlers
from app.settings import Settings, SettingsError
from batch.builtin import ECHO
from batch.handlers import TaskContext, TaskHandlers

pytestmark = pytest.mark.unit


def settings(**environ: str) -> Settings:
    return Settings.from_environ(environ)


def test_without_the_setting_only_the_built_in_handlers_are_registered() -> None:
    handlers = app_handlers(settings())
    assert list(handlers) == [ECHO]
    assert handlers[ECHO]({"a": [1]}, TaskContext("j", "t", 1)) == {"a": [1]}


def test_the_setting_adds_the_example_handlers() -> None:
    handlers = app_handlers(settings(BATCH_EXAMPLES="true"))
    assert ECHO in handlers
    assert {"billing.invoice", "risk.simulate"} <= set(handlers)


def test_the_apps_own_handlers_come_with_the_built_in_ones() -> None:
    own = TaskHandlers()

    @own.task("my.task")
    def task(value: int) -> int:
        return value + 1

    assert set(app_handlers(settings(), own)) == {ECHO, "my.task"}


def test_a_value_that_is_not_a_flag_is_refused() -> None:
    with pytest.raises(SettingsError, match="BATCH_EXAMPLES must be 'true' or 'false'"):
        settings(BATCH_EXAMPLES="examples")


def test_examples_asked_for_but_not_deployed_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "examples.handlers", None)  # as when examples/ is not deployed
    with pytest.raises(SettingsError, match=r"BATCH_EXAMPLES .* requirements-examples\.txt"):
        app_handlers(settings(BATCH_EXAMPLES="1"))
