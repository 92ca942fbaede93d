"""Index a v2-model function app exactly as the Python worker does.

The worker imports `function_app` (or the file named by PYTHON_SCRIPT_FILE_NAME) with the script root on
`sys.path`, finds the one `azure.functions.FunctionRegister` in the module and calls `get_functions()` on it.
That call must happen once: a second call raises `ValueError` for every function ("does not have a unique
function name"), so the result is kept in a `FunctionIndex`.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import azure.functions as func

from devhost.errors import AppLoadError
from devhost.load_checks import check_function

if TYPE_CHECKING:
    from devhost.worker_calls import WorkerFunction

# Binding attributes that override a durable function's name (protocol section 1.3).
_NAME_OVERRIDES = {
    "orchestrationTrigger": "orchestration",
    "activityTrigger": "activity",
    "entityTrigger": "entityName",
}


@dataclass(frozen=True)
class IndexedFunction:
    """One function of the app, as the host sees it."""

    name: str
    """The function name: `@app.function_name(...)` or the Python `__name__`."""
    durable_name: str
    """The name `start_new`/`call_activity`/entities resolve against; entity names are lower-cased."""
    trigger_type: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    func: Callable[..., Any]
    """What the worker calls: for durable triggers and client functions, the SDK's wrapper."""
    is_async: bool
    worker: WorkerFunction | None = None
    """On Python 3.13, the function as the worker library loaded it: invocations go through it
    (`devhost.runtime_worker`). None: devhost converts the bindings and calls `func` itself."""


class FunctionIndex:
    """The indexed functions, with case-insensitive lookups by durable name."""

    def __init__(self, functions: Iterable[IndexedFunction], *, source: str = "function_app.py") -> None:
        self.functions: list[IndexedFunction] = list(functions)
        self._by_kind: dict[str, dict[str, IndexedFunction]] = {kind: {} for kind in _NAME_OVERRIDES}
        self._by_name: dict[str, IndexedFunction] = {}
        for fn in self.functions:
            table = self._by_kind.get(fn.trigger_type)
            if table is not None:
                other = table.get(fn.durable_name.lower())
                if other is not None:
                    raise AppLoadError(
                        f"functions '{other.name}' and '{fn.name}' both register the {fn.trigger_type} "
                        f"name '{fn.durable_name}'",
                        file=source,
                    )
                table[fn.durable_name.lower()] = fn
            self._by_name[fn.name.lower()] = fn

    def get(self, name: str) -> IndexedFunction | None:
        """The function with this function name (case-insensitive), whatever its trigger."""
        return self._by_name.get(name.lower())

    def orchestrator(self, name: str) -> IndexedFunction | None:
        """The orchestrator registered under this durable name (case-insensitive)."""
        return self._by_kind["orchestrationTrigger"].get(name.lower())

    def activity(self, name: str) -> IndexedFunction | None:
        """The activity registered under this durable name (case-insensitive)."""
        return self._by_kind["activityTrigger"].get(name.lower())

    def entity(self, name: str) -> IndexedFunction | None:
        """The entity registered under this name (case-insensitive)."""
        return self._by_kind["entityTrigger"].get(name.lower())

    def _names(self, trigger_type: str) -> list[str]:
        return [fn.durable_name for fn in self.functions if fn.trigger_type == trigger_type]

    @property
    def orchestrator_names(self) -> list[str]:
        """Durable names of the orchestrators, as spelled in the app (for error messages)."""
        return self._names("orchestrationTrigger")

    @property
    def activity_names(self) -> list[str]:
        """Durable names of the activities, as spelled in the app."""
        return self._names("activityTrigger")

    @property
    def entity_names(self) -> list[str]:
        """Entity names (lower-cased, as the extension uses them)."""
        return self._names("entityTrigger")

    @property
    def http_functions(self) -> list[IndexedFunction]:
        """Functions with an HTTP trigger, in registration order."""
        return [fn for fn in self.functions if fn.trigger_type == "httpTrigger"]

    @property
    def timer_functions(self) -> list[IndexedFunction]:
        """Functions with a timer trigger, in registration order."""
        return [fn for fn in self.functions if fn.trigger_type == "timerTrigger"]


def _user_frame(exc: BaseException, root: Path) -> tuple[str | None, int | None]:
    """The innermost traceback frame inside the app's own files: where the user should look."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    found: tuple[str | None, int | None] = (None, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if _is_user_file(frame.filename, root):
            found = (frame.filename, frame.lineno)
    return found


def _is_user_file(filename: str, root: Path) -> bool:
    # A virtual environment inside the script root holds library code, not the user's.
    if "site-packages" in Path(filename).parts:
        return False
    try:
        return Path(filename).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _import_app(root: Path, script_file: str) -> ModuleType:
    path = root / script_file
    if not path.is_file():
        raise AppLoadError(
            f"no {script_file} in {root}; create it, or set PYTHON_SCRIPT_FILE_NAME to the app's file",
            file=path,
        )
    module_name = Path(script_file).stem
    # The worker imports the app from the script root, so the app's own packages import as top-level names.
    if str(root) in sys.path:
        sys.path.remove(str(root))
    sys.path.insert(0, str(root))
    # `get_functions()` works once per app object, so loading again (another app in the same test session,
    # a reload) must run the app module afresh, from this root's file whatever else `sys.path` holds. Its
    # other modules may stay cached: a blueprint's builders can be built again, only the app object cannot.
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError("cannot import this file as a Python module", file=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        file, line = _user_frame(exc, root)
        cause = f"{type(exc).__name__}: {_module_hint(exc) if isinstance(exc, ImportError) else exc}"
        raise AppLoadError("the function app could not be indexed", file=file or path, line=line, cause=cause) from exc
    return module


MODULE_NOT_FOUND_HELP = "https://aka.ms/functions-modulenotfound"


def _module_hint(exc: ImportError) -> str:
    """An import error's message with what the worker adds to it (its words, the troubleshooting guide and
    where it looked)."""
    message = (getattr(exc, "msg", None) or str(exc) or "").rstrip(".")
    return (
        f"{message}. Cannot find module. Please check the requirements.txt file for the missing module. For more "
        f"info, please refer the troubleshooting guide: {MODULE_NOT_FOUND_HELP}. Current sys.path: {' '.join(sys.path)}"
    )


def _find_register(module: ModuleType, path: Path) -> func.FunctionRegister:
    # The worker library's wording (azure-functions-runtime's indexing), which is what Azure reports.
    registers = [
        (name, value)
        for name in module.__dir__()
        if isinstance(value := getattr(module, name, None), func.FunctionRegister)
    ]
    if not registers:
        cause = f"ValueError: Could not find top level function app instances in {path.name}."
        raise AppLoadError("the function app could not be indexed", file=path, cause=cause)
    if len(registers) > 1:
        kind = type(registers[0][1]).__name__
        cause = f"ValueError: More than one {kind} or other top level function app instances are defined."
        raise AppLoadError("the function app could not be indexed", file=path, cause=cause)
    return registers[0][1]


def indexed_function(
    name: str,
    bindings: list[dict[str, Any]],
    user_function: Callable[..., Any],
    *,
    is_async: bool,
    worker: WorkerFunction | None = None,
    trigger_type: str | None = None,
    trigger_name: str | None = None,
) -> IndexedFunction:
    """A function as the host sees it, from its name and binding dicts (the raw bindings a worker reports)."""
    if trigger_type is None:
        found = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), {})
        trigger_type, trigger_name = str(found.get("type", "")), found.get("name")
    trigger = next(
        (b for b in bindings if b.get("type") == trigger_type and b.get("name") == trigger_name),
        {"type": trigger_type, "name": trigger_name},
    )
    override = _NAME_OVERRIDES.get(trigger_type)
    durable_name = str(trigger.get(override) or name) if override else name
    if trigger_type == "entityTrigger":
        durable_name = durable_name.lower()
    return IndexedFunction(
        name=name,
        durable_name=durable_name,
        trigger_type=trigger_type,
        trigger=trigger,
        bindings=bindings,
        func=user_function,
        is_async=is_async,
        worker=worker,
    )


def _index_function(function: Any) -> IndexedFunction:
    bindings: list[dict[str, Any]] = json.loads(function.get_function_json())["bindings"]
    trigger_obj = function.get_trigger()
    user_function = function.get_user_function()
    name = str(function.get_function_name())
    check_function(name, user_function, bindings)
    return indexed_function(
        name,
        bindings,
        user_function,
        is_async=inspect.iscoroutinefunction(user_function),
        trigger_type=str(trigger_obj.type) if trigger_obj is not None else "",
        trigger_name=getattr(trigger_obj, "name", None),
    )


DURABLE_BINDING_TYPES = frozenset(
    {"orchestrationTrigger", "activityTrigger", "entityTrigger", "durableClient", "orchestrationClient", "entityClient"}
)
"""The binding types the Durable Functions extension registers with the host."""


@dataclass(frozen=True)
class FunctionInError:
    """A function the host indexed but could not load, and why."""

    name: str
    reason: str


def loadable(index: FunctionIndex, durable_missing: str | None) -> tuple[FunctionIndex, list[FunctionInError]]:
    """The functions the host can load, and those in error: without the Durable Functions extension
    (`durable_missing` says why it is absent), every function with a durable binding is in error, as the
    Functions host leaves it, and the others still load."""
    if durable_missing is None:
        return index, []
    kept: list[IndexedFunction] = []
    errors: list[FunctionInError] = []
    for fn in index.functions:
        types = sorted({str(b.get("type")) for b in fn.bindings} & DURABLE_BINDING_TYPES)
        if types:
            named = ", ".join(f"'{t}'" for t in types)
            errors.append(
                FunctionInError(fn.name, f"the binding type(s) {named} are not registered: {durable_missing}")
            )
        else:
            kept.append(fn)
    return FunctionIndex(kept), errors


def load_app(
    script_root: str | Path, *, script_file: str = "function_app.py", worker_threads: int | None = None
) -> FunctionIndex:
    """Import and index the function app under `script_root`.

    On Python 3.13 the worker library `azure-functions-runtime` imports, indexes and loads it, as in Azure
    (`devhost.runtime_worker`); below, devhost does it the way the Python worker does. Raises AppLoadError (with
    the user's file, line and the cause) when the app fails to import, has no or several function apps, or its
    functions cannot be indexed. `worker_threads` sizes the worker library's thread pool for sync functions
    unless the app sets PYTHON_THREADPOOL_THREAD_COUNT (3.13 only: below, the caller's threads run them).
    """
    root = Path(script_root).resolve()
    if uses_worker_library():
        from devhost.runtime_worker import process_worker

        return process_worker().index(root, script_file, threads=worker_threads)
    path = root / script_file
    module = _import_app(root, script_file)
    register = _find_register(module, path)
    try:
        functions = register.get_functions()  # once: a second call fails on "duplicate" names
        indexed = [_index_function(function) for function in functions]
    except Exception as exc:
        file, line = _user_frame(exc, root)
        raise AppLoadError(
            "the function app could not be indexed", file=file or path, line=line, cause=f"{type(exc).__name__}: {exc}"
        ) from exc
    return FunctionIndex(indexed, source=str(path))


def uses_worker_library() -> bool:
    """Whether functions run through `azure-functions-runtime`: on Python 3.13, where Azure uses it too."""
    return sys.version_info >= (3, 13)
