"""A function the Python worker refuses to load is refused in the worker library's words, on every Python.

On 3.13 `load_app` hands the app to `azure-functions-runtime`, which checks each function's parameters against its
bindings; below 3.13 devhost's own checks (`devhost.load_checks`) must say the same. These run on both paths: the
expected causes are the library's messages, so a difference between the paths fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.errors import AppLoadError
from devhost.loader import load_app

pytestmark = pytest.mark.unit

HEADER = "import typing\n\nimport azure.durable_functions as df\nimport azure.functions as func\n\napp = df.DFApp()\n\n"

CASES = {
    "a parameter without a binding": (
        '@app.activity_trigger(input_name="data")\ndef act(data: str, extra: str) -> str:\n    return data\n',
        "FunctionLoadError: cannot load the act function: the following parameters are declared in Python but not "
        "in the function definition (function.json or function decorators):  {'extra'}",
    ),
    "a binding without a parameter": (
        '@app.entity_trigger(context_name="ctx")\ndef counter(ctx: df.DurableEntityContext) -> None:\n    pass\n',
        "FunctionLoadError: cannot load the counter function: Extra parameters in binding definition \u2014 the "
        "following parameters are declared as bindings but are not present in Python: {'ctx'}",
    ),
    "an orchestrator whose context is not named context": (
        '@app.orchestration_trigger(context_name="ctx")\ndef orch(ctx: df.DurableOrchestrationContext):\n'
        "    return (yield ctx.call_activity('a'))\n",
        'FunctionLoadError: cannot load the orch function: the "context" parameter is expected to be of type '
        "azure.functions.Context, got \"<class 'azure.functions._durable_functions.OrchestrationContext'>\"",
    ),
    "a builtin generic annotation": (
        '@app.activity_trigger(input_name="data")\ndef act(data: dict[str, int]) -> str:\n    return ""\n',
        "FunctionLoadError: cannot load the act function: binding data has invalid non-type annotation dict[str, int]",
    ),
    "an optional annotation": (
        '@app.activity_trigger(input_name="data")\ndef act(data: str | None) -> str:\n    return ""\n',
        "FunctionLoadError: cannot load the act function: binding data has invalid non-type annotation str | None",
    ),
    "an HTTP function annotated to return a dict": (
        '@app.route(route="r")\ndef web(req: func.HttpRequest) -> dict:\n    return {}\n',
        'FunctionLoadError: cannot load the web function: Python return annotation "dict" does not match binding '
        'type "http"',
    ),
    "a context parameter of another type": (
        '@app.activity_trigger(input_name="data")\ndef act(data: str, context: str) -> str:\n    return data\n',
        'FunctionLoadError: cannot load the act function: the "context" parameter is expected to be of type '
        "azure.functions.Context, got \"<class 'str'>\"",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_function_the_worker_refuses_fails_the_whole_app_with_its_words(tmp_path: Path, case: str) -> None:
    source, cause = CASES[case]
    (tmp_path / "function_app.py").write_text(HEADER + source, encoding="utf-8")
    with pytest.raises(AppLoadError) as info:
        load_app(tmp_path)
    assert info.value.cause == cause
    assert str(info.value).startswith(f"{tmp_path / 'function_app.py'}: the function app could not be indexed: ")


def test_typing_generics_classes_and_context_are_accepted(tmp_path: Path) -> None:
    source = (
        '@app.activity_trigger(input_name="data")\n'
        "def act(data: typing.Dict[str, int], context: func.Context) -> typing.List[int]:\n    return []\n\n"
        '@app.route(route="r")\ndef web(req: func.HttpRequest) -> func.HttpResponse:\n'
        "    return func.HttpResponse('')\n"
    )
    (tmp_path / "function_app.py").write_text(HEADER + source, encoding="utf-8")
    index = load_app(tmp_path)
    assert [fn.name for fn in index.functions] == ["act", "web"]
