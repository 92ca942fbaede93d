"""The task index beside an inline job's spec: the spec's text is unchanged by it, and every task is found at its
partition and place, for any spec and any plan; an index that cannot answer says so (None), never a wrong task."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_batch.batch.plan import JobPlan, plan_independent, plan_tasks
from durable_batch.storage import _json
from durable_batch.storage.task_index import MAGIC, document_with_spans, encode, locate

pytestmark = pytest.mark.unit

ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
tasks = st.lists(st.dictionaries(st.text(max_size=6), json_values, max_size=4), max_size=20)


def reader(data: bytes) -> Any:
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    read.reads = reads  # type: ignore[attr-defined]
    return read


@settings(max_examples=200, deadline=None)
@given(tasks, st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_the_text_is_the_specs_and_each_span_is_its_task(
    job_tasks: list[dict[str, Any]], fields: dict[str, Any]
) -> None:
    spec = {**fields, "tasks": job_tasks}
    document, spans = document_with_spans(spec, ENCODER)
    assert document == _json.dumps(spec, "spec", sort_keys=True).encode()
    assert [json.loads(document[offset : offset + length]) for offset, length in spans] == job_tasks


def test_a_spec_without_tasks_has_no_spans() -> None:
    assert document_with_spans({"id": "j", "taskFactory": {"type": "jsonLines"}}, ENCODER) == (
        b'{"id":"j","taskFactory":{"type":"jsonLines"}}',
        [],
    )


@st.composite
def dependencies(draw: st.DrawFn) -> list[list[int]]:
    count = draw(st.integers(1, 60))
    return [draw(st.lists(st.integers(0, i - 1), max_size=2)) if i else [] for i in range(count)]


@settings(max_examples=200, deadline=None)
@given(dependencies(), st.integers(1, 12), st.booleans())
def test_every_task_is_found_at_its_partition_and_place(deps: list[list[int]], size: int, independent: bool) -> None:
    count = len(deps)
    spans = [(1000 + 7 * i, 3 + i % 5) for i in range(count)]
    plan: JobPlan = plan_independent(count, size) if independent else plan_tasks(deps, size)
    data = encode(spans, size, None if independent else plan)
    for partition in plan.partitions:
        for place, position in enumerate(partition.task_indexes()):
            found = locate(reader(data), size, partition.index, place)
            assert found is not None and (found.position, found.offset, found.length) == (position, *spans[position])
        assert locate(reader(data), size, partition.index, partition.size) is None
    assert locate(reader(data), size, len(plan.partitions), 0) is None
    assert locate(reader(data), size + 1, 0, 0) is None  # built for another partition size
    assert locate(reader(data), size, -1, 0) is None and locate(reader(data), size, 0, -1) is None


def test_a_lookup_is_a_few_small_reads() -> None:
    count = 100_000
    deps = [[i - 1] if i % 2 else [] for i in range(count)]
    data = encode([(i * 10, 9) for i in range(count)], 2000, plan_tasks(deps, 2000))
    read = reader(data)
    found = locate(read, 2000, 37, 1999)
    assert found is not None and found.position == 37 * 2000 + 1999
    assert len(read.reads) == 3 and sum(length for _, length in read.reads) < 300


@pytest.mark.parametrize("data", [b"", b"not an index at all", MAGIC[:4], b"DBTIDX0\n" + bytes(12)])
def test_what_is_no_index_answers_nothing(data: bytes) -> None:
    assert locate(reader(data), 10, 0, 0) is None


def test_a_plan_of_another_job_is_refused() -> None:
    with pytest.raises(ValueError, match="another job"):
        encode([(0, 1)] * 3, 2, plan_independent(4, 2))
