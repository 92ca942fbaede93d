"""The checks a Python worker makes when it loads a function, for devhost's own path (Python 3.11 and 3.12).

On Python 3.13 Azure's worker library (`azure-functions-runtime`, `devhost.runtime_worker`) refuses to load an
app when one function's parameters disagree with its bindings or its annotations with the binding converters,
and devhost reports what it says. These checks give the same verdict, in the same words, where devhost indexes
the app itself, so an app that runs on devhost on any Python loads in Azure too: a parameter without a binding
(or the reverse), a `context` parameter of another type, an annotation that is not a class (`dict[str, Any]`,
`X | None`: the worker takes only classes and `typing` generics), or one the binding's converter does not accept
(an HTTP function annotated `-> dict`).
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable
from typing import Any

import azure.functions as func

from devhost.errors import HostError


class FunctionLoadError(HostError):
    """A function cannot be loaded. Named as the worker library's error, whose name is part of the message Azure
    reports for it."""

    def __init__(self, function_name: str, message: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {message}")


class _Generic:
    """What the worker uses for a binding type no converter is registered for."""

    @staticmethod
    def check_input_type_annotation(pytype: type) -> bool:
        return issubclass(pytype, str | bytes)

    @staticmethod
    def check_output_type_annotation(pytype: type) -> bool:
        return issubclass(pytype, str | bytes | bytearray)


def _converter(binding_type: str) -> Any:
    registry: Any = func.get_binding_registry()  # type: ignore[no-untyped-call]
    found = registry.get(binding_type) if binding_type != "generic" else None
    return found if found is not None else _Generic


def _implicit_output(binding_type: str) -> bool:
    converter = _converter(binding_type)
    if converter is _Generic:
        return binding_type != "durableClient"
    return bool(getattr(converter, "has_implicit_output", lambda: False)())


def _is_generic(annotation: Any) -> bool:
    """A `typing` generic (`typing.Dict[str, Any]`, `typing.Iterator[int]`), as the worker tells them apart:
    not a builtin alias like `dict[str, Any]`, and not a union, tuple, ClassVar or Callable."""
    aliases = (typing._GenericAlias, typing._SpecialGenericAlias)  # type: ignore[attr-defined]
    if isinstance(annotation, type):
        return issubclass(annotation, typing.Generic)
    excluded = (typing.Union, tuple, typing.ClassVar, collections.abc.Callable)
    return isinstance(annotation, aliases) and annotation.__origin__ not in excluded


def _is_out(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) if _is_generic(annotation) else None
    candidate = origin if origin is not None else annotation
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def check_function(name: str, user_function: Callable[..., Any], bindings: list[dict[str, Any]]) -> None:
    """Raise FunctionLoadError when the worker would refuse to load this function."""
    bound: dict[str, dict[str, Any]] = {}
    return_type: str | None = None
    for binding in bindings:
        binding_name, direction = str(binding.get("name")), str(binding.get("direction", "IN")).upper()
        if direction == "INOUT":
            raise FunctionLoadError(name, '"inout" bindings are not supported')
        if binding_name == "$return":
            if direction != "OUT":
                raise FunctionLoadError(name, '"$return" binding must have direction set to "out"')
            return_type = str(binding.get("type"))
        else:
            bound[binding_name] = binding
    parameters = dict(inspect.signature(user_function).parameters)
    annotations = typing.get_type_hints(user_function)
    if "context" in parameters and "context" not in bound:
        parameters.pop("context")
        wanted = annotations.get("context")
        if "context" in annotations and (not isinstance(wanted, type) or wanted.__name__ != "Context"):
            raise FunctionLoadError(
                name, f'the "context" parameter is expected to be of type azure.functions.Context, got "{wanted!r}"'
            )
    if set(parameters) - set(bound):
        raise FunctionLoadError(
            name,
            "the following parameters are declared in Python but not in the function definition (function.json "
            f"or function decorators):  {set(parameters) - set(bound)!r}",
        )
    if set(bound) - set(parameters):
        raise FunctionLoadError(
            name,
            "Extra parameters in binding definition \u2014 the following parameters are declared as bindings but "
            f"are not present in Python: {set(bound) - set(parameters)!r}",
        )
    for parameter in parameters:
        _check_parameter(name, parameter, bound[parameter], annotations)
    if return_type is not None and "return" in annotations:
        _check_return(name, annotations["return"], return_type)


def _check_parameter(name: str, parameter: str, binding: dict[str, Any], annotations: dict[str, Any]) -> None:
    if parameter not in annotations:
        return
    annotation = annotations[parameter]
    binding_type = str(binding.get("type"))
    is_out = _is_out(annotation)
    pytype = typing.get_args(annotation)[0] if is_out and typing.get_args(annotation) else annotation
    if not isinstance(pytype, type) and not _is_generic(pytype):
        raise FunctionLoadError(name, f"binding {parameter} has invalid non-type annotation {annotation!r}")
    binding_out = str(binding.get("direction", "IN")).upper() == "OUT"
    if binding_out and not is_out:
        raise FunctionLoadError(
            name,
            f'binding {parameter} is declared to have the "out" direction, but its annotation in Python is not a '
            "subclass of azure.functions.Out",
        )
    if not binding_out and is_out:
        raise FunctionLoadError(
            name,
            f'binding {parameter} is declared to have the "in" direction in the binding decorator, but its '
            "annotation is azure.functions.Out in Python",
        )
    checked_type = "generic" if pytype in (str, bytes) and not _implicit_output(binding_type) else binding_type
    converter = _converter(checked_type)
    check = converter.check_output_type_annotation if is_out else converter.check_input_type_annotation
    if not check(pytype):
        shown = getattr(pytype, "__name__", repr(pytype))
        raise FunctionLoadError(
            name,
            f'type of {parameter} binding in the binding decorator "{binding_type}" does not match its Python '
            f'annotation "{shown}"',
        )


def _check_return(name: str, annotation: Any, binding_type: str) -> None:
    if _is_out(annotation) and _is_generic(annotation):
        raise FunctionLoadError(name, "return annotation should not be azure.functions.Out")
    if not isinstance(annotation, type):
        raise FunctionLoadError(name, f"has invalid non-type return annotation {annotation!r}")
    if not _converter(binding_type).check_output_type_annotation(annotation):
        raise FunctionLoadError(
            name, f'Python return annotation "{annotation.__name__}" does not match binding type "{binding_type}"'
        )
