"""Property tests of `parse_job` over mutated specs: it accepts a spec the whole pipeline can carry, or refuses
it with problems an answer can encode; it never raises anything else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from durable_batch.batch.errors import SpecError
from durable_batch.batch.validation import parse_job
from examples.handlers import all_handlers
from tests.fuzz import bodies, mutated_specs

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def check(body: Any, *, allow_commands: bool) -> None:
    try:
        spec = parse_job(body, known_handlers=all_handlers.keys(), allow_command_tasks=allow_commands)
    except SpecError as exc:
        assert exc.problems
        json.dumps({"details": exc.details(), "message": str(exc)}, ensure_ascii=False).encode("utf-8")
        return
    # What the activities and storage do with an accepted spec.
    spec.canonical_json().encode("utf-8")
    for task in spec.tasks:
        json.dumps(copy.deepcopy(task.input), allow_nan=False, ensure_ascii=False).encode("utf-8")


@FUZZ
@given(bodies("fuzz-1"))
def test_raw_bodies_are_accepted_whole_or_refused_cleanly(body: bytes) -> None:
    check(body, allow_commands=True)


@FUZZ
@given(mutated_specs("fuzz-1"))
def test_decoded_templates_are_accepted_whole_or_refused_cleanly(value: Any) -> None:
    # A schedule's template arrives decoded; the same rules hold for it.
    check(value, allow_commands=False)
