"""The API's description: the OpenAPI document is valid and describes exactly the HTTP routes the app registers,
and the job spec's JSON Schema accepts every spec the validator accepts (the README's, the examples', a fuzzed
corpus) and refuses what is plainly the wrong shape."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Hashable, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from durable_batch.api.openapi import JOB_SCHEMA_FILE, OPENAPI_FILE, document
from durable_batch.batch.errors import SpecError
from durable_batch.batch.validation import parse_job
from examples.billing.generate import generate_job as billing_job
from examples.etl.generate import generate_job as etl_job
from examples.handlers import all_handlers
from examples.risk.generate import generate_job as risk_job
from tests.fuzz import mutated_specs

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
JOB_SCHEMA = Draft202012Validator(json.loads(JOB_SCHEMA_FILE.read_text()))


def http_routes() -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every HTTP trigger the app registers, its route template written as OpenAPI
    writes it (`{*path}`, `{id:int}` and `{id?}` are all `{path}`, `{id}`)."""
    import function_app

    prefix = json.loads((REPO / "host.json").read_text())["extensions"]["http"]["routePrefix"]
    assert prefix == "api", "the document's server is /api"
    found = set()
    for function in function_app.app.get_functions():
        trigger = function.get_trigger()
        if trigger.type != "httpTrigger":
            continue
        path = re.sub(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", r"{\1}", trigger.route)
        for method in trigger.methods:
            found.add((str(method.value).lower(), f"/{path}"))
    return found


def documented_routes() -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {(method, path) for path, item in document()["paths"].items() for method in item if method in methods}


def test_the_served_document_is_valid_openapi_3_1() -> None:
    served = document()
    assert served["openapi"].startswith("3.1")
    validate_openapi(cast(Mapping[Hashable, Any], served))  # the library takes Mapping[Hashable, Any]


def test_every_route_the_app_registers_is_described_and_nothing_else() -> None:
    registered, documented = http_routes(), documented_routes()
    assert registered, "the app registers HTTP routes"
    assert registered - documented == set(), "routes without a description in schema/openapi.json"
    assert documented - registered == set(), "schema/openapi.json describes routes the app does not have"


def test_the_document_embeds_the_job_schema_and_the_repository_copy_refers_to_it() -> None:
    kept = json.loads(OPENAPI_FILE.read_text())
    assert kept["components"]["schemas"]["JobSpec"] == {"$ref": "job.schema.json"}
    embedded = document()["components"]["schemas"]["JobSpec"]
    assert embedded["$defs"].keys() == json.loads(JOB_SCHEMA_FILE.read_text())["$defs"].keys()
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(embedded))
    assert refs and all(ref.startswith("#/components/schemas/JobSpec/$defs/") for ref in refs)


def test_the_job_schema_is_valid_json_schema() -> None:
    Draft202012Validator.check_schema(JOB_SCHEMA.schema)


def accepted_by_validator(spec: Any, handlers: Collection[str] = all_handlers.keys()) -> bool:
    try:
        parse_job(spec, known_handlers=handlers, allow_command_tasks=True)
    except SpecError:
        return False
    return True


def schema_problems(spec: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in JOB_SCHEMA.iter_errors(spec)]


def readme_specs() -> list[Any]:
    """Every job spec in the README's JSON blocks (the "Task factories" block holds several, a blank line apart)."""
    readme = (REPO / "README.md").read_text()
    specs: list[Any] = []
    for block in re.findall(r"```json\n(.*?)```", readme, re.S):
        try:
            specs.append(json.loads(block))
        except ValueError:
            specs.extend(json.loads(part) for part in re.split(r"\n\s*\n", block) if part.strip())
    return [spec for spec in specs if isinstance(spec, dict) and ("tasks" in spec or "taskFactory" in spec)]


def example_specs() -> list[Any]:
    made = [billing_job(5), risk_job(4), etl_job(3)]
    generated = [job if isinstance(job, dict) else job.to_json() for job in made]
    templates = [json.loads(p.read_text()) for p in sorted((REPO / "examples" / "templates").glob("*.json"))]
    return generated + templates


def handler_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        own = {value["handler"]} if isinstance(value.get("handler"), str) else set()
        return own.union(*(handler_names(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(handler_names(item) for item in value))
    return set()


def test_the_readme_documents_specs_that_the_schema_and_the_validator_accept() -> None:
    specs = readme_specs()
    assert len(specs) >= 4, "the README's job and its three task factories"
    for spec in specs:
        assert schema_problems(spec) == [], spec
        # The README's handlers stand for a user's own: the validator is told they are registered.
        assert accepted_by_validator(spec, all_handlers.keys() | handler_names(spec)), spec


def test_the_examples_jobs_are_accepted_by_the_schema() -> None:
    for spec in example_specs():
        assert accepted_by_validator(spec)
        assert schema_problems(spec) == [], spec["id"]


@pytest.mark.parametrize(
    "spec",
    [
        {"tasks": [{"id": "a", "handler": "billing.invoice"}]},  # no id: the app makes one
        {"id": "j", "tasks": [{"id": "a", "commandLine": ["true"], "handler": None, "dependsOn": None}]},
        {"id": "j", "maxParallelTasks": None, "reduce": None, "tasks": [{"id": "a", "handler": "billing.invoice"}]},
        {"id": "j", "tasks": None, "taskFactory": {"type": "jsonLines", "container": "inputs", "blob": "a/b.jsonl"}},
        {"id": "j", "taskFactory": {"type": "taskPerFile", "container": "images", "repeatTask": {"handler": "x"}}},
        {
            "id": "j",
            "taskBatchSize": 1,
            "onTaskFailure": "terminateJob",
            "tasks": [{"id": "a", "handler": "h", "input": [1, {"b": None}]}],
        },
    ],
)
def test_documented_forms_are_accepted(spec: dict[str, Any]) -> None:
    assert schema_problems(spec) == []


@pytest.mark.parametrize(
    "spec",
    [
        [],
        {"id": "j"},
        {"id": "j", "tasks": []},
        {"id": "j", "tasks": [{"id": "a"}]},
        {"id": "j", "tasks": [{"id": "a", "handler": "h", "commandLine": ["x"]}]},
        {"id": "j", "tasks": [{"id": "a", "handler": "h", "colour": "red"}]},
        {"id": "-j", "tasks": [{"id": "a", "handler": "h"}]},
        {"id": "j", "maxParallelTasks": 0, "tasks": [{"id": "a", "handler": "h"}]},
        {"id": "j", "taskTimeoutSeconds": 0, "tasks": [{"id": "a", "handler": "h"}]},
        {"id": "j", "tasks": [{"id": "a", "commandLine": ["x"], "resourceFiles": [{"blob": "../x", "path": "x"}]}]},
        {"id": "j", "tasks": [{"id": "a", "commandLine": ["x"], "outputFiles": ["out//a.png"]}]},
        {"id": "j", "tasks": [{"id": "a", "commandLine": ["x"], "environment": {"1X": "y"}}]},
        {
            "id": "j",
            "tasks": [{"id": "a", "handler": "h"}],
            "taskFactory": {"type": "jsonLines", "container": "abc", "blob": "x"},
        },
        {"id": "j", "taskFactory": {"type": "jsonLines", "container": "Bad_Name", "blob": "x"}},
        {"id": "j", "taskFactory": {"type": "parametricSweep", "parameterSets": [], "repeatTask": {"handler": "h"}}},
        {"id": "j", "taskFactory": {"type": "taskPerFile", "container": "abc", "repeatTask": {"dependsOn": ["a"]}}},
    ],
)
def test_plainly_wrong_shapes_are_refused_by_both(spec: Any) -> None:
    assert schema_problems(spec) != []
    assert not accepted_by_validator(spec)


@FUZZ
@given(mutated_specs("schema-1"))
def test_every_spec_the_validator_accepts_the_schema_accepts(spec: Any) -> None:
    if accepted_by_validator(spec):
        assert schema_problems(spec) == []


def test_the_schema_has_exactly_the_fields_the_validator_reads_and_the_readme_documents_them() -> None:
    from durable_batch.batch.factory_validation import FIELDS as FACTORY_FIELDS
    from durable_batch.batch.file_validation import RESOURCE_FILE_FIELDS
    from durable_batch.batch.task_validation import TASK_FIELDS
    from durable_batch.batch.validation import JOB_FIELDS, REDUCE_FIELDS

    schema = cast(Mapping[str, Any], JOB_SCHEMA.schema)  # typed as bool | Mapping: this one is an object
    defs = schema["$defs"]
    reduce = next(option for option in schema["properties"]["reduce"]["oneOf"] if option.get("type") == "object")
    assert set(schema["properties"]) == JOB_FIELDS
    assert set(defs["task"]["properties"]) == TASK_FIELDS
    assert set(reduce["properties"]) == REDUCE_FIELDS
    assert set(defs["task"]["properties"]["resourceFiles"]["items"]["properties"]) == RESOURCE_FILE_FIELDS
    assert set(defs["repeatTask"]["propertyNames"]["enum"]) == TASK_FIELDS - {"dependsOn"}
    for kind, fields in FACTORY_FIELDS.items():
        assert set(defs[kind]["properties"]) == fields, kind
    readme = (REPO / "README.md").read_text()
    documented = JOB_FIELDS | TASK_FIELDS | {name for fields in FACTORY_FIELDS.values() for name in fields}
    assert [name for name in sorted(documented) if f"`{name}`" not in readme] == []
