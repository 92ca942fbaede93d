"""The lines of a JSON Lines source checked in runs (`LinesValidator.add_run`, the fast path where it can) give
exactly what each line checked on the full path (`add_line`: `decode_body`, then the inline task rules) gives:
the same problems at the same lines, the same count; and the byte offset of every block's first task line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_batch.batch.body import ProblemCollector, decode_body
from durable_batch.batch.errors import SpecError
from durable_batch.batch.factories import BLOCK
from durable_batch.batch.source_lines import GIVE_UP, LinesValidator, quick_decode
from durable_batch.batch.validation import lines_validator
from tests.fuzz import JSON_VALUES, raw_mutations

pytestmark = pytest.mark.unit

PROPERTY = settings(max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
HANDLERS = {"h.ok"}
IDS = ["a", "b", "c", "0", "1", "2"]


def validator(*, allow_commands: bool = False) -> LinesValidator:
    return lines_validator(known_handlers=HANDLERS, allow_command_tasks=allow_commands, job_id="j")


def outcome(checker: LinesValidator) -> tuple[int, list[tuple[str, str]]]:
    """The count of task lines and every problem the checker reports once the lines are in."""
    try:
        checker.finish()
    except SpecError as exc:
        return checker.count, [(p.path, p.message) for p in exc.problems]
    return checker.count, []


def both_paths(lines: list[bytes], *, allow_commands: bool = False) -> None:
    """Check `lines` in one run and each on the full path: the outcomes are the same."""
    fast, full = validator(allow_commands=allow_commands), validator(allow_commands=allow_commands)
    fast.add_run(0, lines)
    for line in lines:
        if line.strip():
            full.add_line(line)
    assert outcome(fast) == outcome(full)


TASKS = st.fixed_dictionaries(
    {"id": st.sampled_from(IDS), "handler": st.sampled_from(["h.ok", "h.nope"])},
    optional={
        "input": JSON_VALUES,
        "dependsOn": st.one_of(st.lists(st.sampled_from([*IDS, "zz"]), max_size=3), JSON_VALUES),
        "maxRetryCount": st.integers(-1, 3),
        "commandLine": st.just(["true"]),
        "rateLimitKey": st.sampled_from(["k", "bad key"]),
    },
)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One line as a source may hold it: a task, any JSON value, or either mutated as bytes."""
    value = draw(st.one_of(TASKS, JSON_VALUES))
    ascii_only = draw(st.booleans())
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    except ValueError:  # an integer Python will not write
        text = '{"id": "a", "handler": "h.ok", "input": ' + "9" * 5000 + "}"
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 2)) == 0:
        data = draw(raw_mutations(data))
    return data.replace(b"\n", b" ")


EDGE_LINES = [
    b'{"id": "a", "handler": "h.ok", "id": "b"}',  # a repeated key
    b'{"id": "a", "handler": "h.ok", "input": {"k": 1, "k": 2}}',  # one in a nested object
    b'{"id": "a", "handler": "h.ok", "input": "x:y", "input": 1}',  # one beside a colon in a string
    b'{"id": "a", "handler": "h.ok", "input": [' + b"[" * 70 + b"]" * 70 + b"]}",  # too deep
    b'{"id": "a", "handler": "h.ok", "input": [' + b"[" * 61 + b"]" * 61 + b"]}",  # as deep as allowed
    b'{"id": "a", "handler": "h.ok", "input": ' + b"9" * 309 + b"}",  # an integer out of range
    b'{"id": "a", "handler": "h.ok", "input": ' + b"1" * 308 + b"}",  # the longest in range
    b'{"id": "a", "handler": "h.ok", "input": 1e400}',
    b'{"id": "a", "handler": "h.ok", "input": NaN}',
    b'{"id": "a", "handler": "h.ok", "input": "\\ud800"}',
    b'{"id": "a", "handler": "h.ok", "input": "\xed\xa0\x80"}',  # a surrogate as UTF-8 bytes
    b'{"id": "a", "handler": "h.ok", "input": "\\ud83d\\ude00 caf\xc3\xa9"}',
    b'\xef\xbb\xbf{"id": "a", "handler": "h.ok"}',  # a byte order mark
    b'{"id": "a", "handler": "h.ok"}\x00',
    b'{"id": "a", "handler": "h.ok"}\r',
    b' {"id": "a", "handler": "h.ok"} \t',
    b'{"id": "a", "handler": "h.ok"} {"id": "b", "handler": "h.ok"}',
    b'{"id": "a", "handler": "h.ok"',
    b'"a"',
    b"[1, 2]",
    # Lines valid but for one field
    b'{"id": "a", "handler": "h.ok", "dependsOn": ["b", 1]}',
    b'{"id": "a", "handler": "h.ok", "dependsOn": "b"}',
    b'{"id": "a", "handler": "h.ok", "dependsOn": {"taskIds": ["b"]}}',
    b'{"id": "a", "handler": "h.ok", "maxRetryCount": -1}',
    b'{"id": "a", "handler": "h.ok", "timeoutSeconds": 0}',
    b'{"id": "a", "handler": "h.ok", "rateLimitKey": "bad key"}',
    b'{"id": "a", "handler": "h.ok", "nonRetryableErrors": ["not a class"]}',
    b'{"id": "a", "handler": "h.ok", "environment": {}}',
    b'{"id": "a", "handler": "h.ok", "input": 1, "extra": 2}',
    b'{"id": "bad id", "handler": "h.ok"}',
    b'{"id": 1, "handler": "h.ok"}',
    b'{"id": "a", "handler": "h.nope"}',
    b'{"id": "a", "handler": 1}',
    b'{"id": "a", "commandLine": ["true"]}',
    b'{"id": "a", "handler": "h.ok", "commandLine": ["true"]}',
]


@PROPERTY
@given(st.one_of(lines(), st.sampled_from(EDGE_LINES)))
def test_a_line_decodes_quickly_only_to_what_the_full_path_decodes_without_a_problem(line: bytes) -> None:
    quick = quick_decode(line)
    problems = ProblemCollector(100)
    decoded, value = decode_body(line, 2**25, problems)
    if quick is not GIVE_UP:
        assert decoded and not problems
        assert repr(quick) == repr(value)  # types too: 1, 1.0 and True are not the same value here


@PROPERTY
@given(st.lists(st.one_of(lines(), st.sampled_from([*EDGE_LINES, b"", b" \t"])), max_size=12), st.booleans())
def test_lines_checked_in_a_run_report_what_each_line_checked_alone_reports(
    source: list[bytes], allow_commands: bool
) -> None:
    both_paths(source, allow_commands=allow_commands)


@pytest.mark.parametrize("line", EDGE_LINES)
@pytest.mark.parametrize("allow_commands", [False, True])
def test_edge_lines_report_the_same_problems_on_both_paths(line: bytes, allow_commands: bool) -> None:
    both_paths([line], allow_commands=allow_commands)
    both_paths([b'{"id": "b", "handler": "h.ok"}', line, line], allow_commands=allow_commands)


def test_plain_lines_take_the_fast_path() -> None:
    # Not a rule of the API, but what makes a million-line source quick to submit: the lines most sources
    # hold decode without the full path, non-ASCII text and nested inputs included.
    for line in [
        b'{"id": "a", "handler": "h.ok", "input": 7}',
        b'{"id": "a", "handler": "h.ok", "input": {"frame": 7, "scene": "s1"}, "dependsOn": ["b"]}',
        b'{"id": "a", "handler": "h.ok", "input": "caf\\u00e9 \xe2\x98\x83", "maxRetryCount": 2}',
        b'{"id": "a", "handler": "h.ok", "input": {"url": "https://example.org/a:b"}}\r',
    ]:
        assert quick_decode(line) is not GIVE_UP, line


def task_line(n: int, **extra: Any) -> bytes:
    return json.dumps({"id": f"t{n}", "handler": "h.ok", "input": n, **extra}).encode()


def test_a_run_notes_where_each_block_starts_and_skips_blank_lines() -> None:
    source = [task_line(n) if n % 7 else b" " for n in range(3 * BLOCK)]  # 1,285 tasks: three blocks
    checker = validator()
    half = len(source) // 2
    checker.add_run(0, source[:half])
    checker.add_run(sum(len(line) + 1 for line in source[:half]), source[half:])
    assert outcome(checker) == (sum(1 for line in source if line.strip()), [])
    data = b"".join(line + b"\n" for line in source)
    task_starts = [i for i in range(len(data)) if (i == 0 or data[i - 1] == 10) and data[i : i + 1] == b"{"]
    assert checker.offsets == task_starts[::BLOCK] and len(checker.offsets) == 3


def test_a_repeated_id_far_from_its_first_line_is_reported_without_dependencies() -> None:
    # Ids are compared once every line is in: a source without dependencies is checked for repeats too.
    checker = validator()
    lines = [task_line(i) for i in range(10_000)]
    lines[9_000] = task_line(3)
    checker.add_run(0, lines)
    assert outcome(checker) == (10_000, [("line 9001.id", "duplicate task id 't3' (first used by line 4)")])


def test_repeated_ids_and_dependencies_across_runs_are_reported_at_their_lines() -> None:
    checker = validator()
    checker.add_run(0, [task_line(1), task_line(2, dependsOn=["t3"])])
    checker.add_run(100, [b"", task_line(3, dependsOn=["t2"]), task_line(1), task_line(4, dependsOn=["zz"])])
    assert outcome(checker) == (
        5,
        [
            ("line 4.id", "duplicate task id 't1' (first used by line 1)"),
            ("line 5.dependsOn[0]", "unknown task 'zz'"),
            ("line 2.dependsOn[0]", "dependency cycle: t2 -> t3 -> t2"),
        ],
    )


PLAIN_FIELDS = {"id", "handler", "input", "dependsOn"}


@PROPERTY
@given(st.lists(st.one_of(lines(), st.sampled_from([*EDGE_LINES, b"", b" \t"])), max_size=12))
def test_a_source_is_said_plain_only_when_every_task_line_is_a_plain_task(source: list[bytes]) -> None:
    # What a partition's plan holds is then the same for every task (`durable_batch.batch.plain_tasks`).
    checker = validator(allow_commands=True)
    checker.add_run(0, source)
    _, problems = outcome(checker)
    named = checker.plain_handlers
    if problems or named is None:
        return  # a refused source runs nothing; one not said plain is planned task by task
    tasks = [json.loads(line) for line in source if line.strip()]
    assert all(task.keys() <= PLAIN_FIELDS for task in tasks)
    assert named == sorted({task["handler"] for task in tasks})


@PROPERTY
@given(
    st.lists(
        st.fixed_dictionaries(
            {"handler": st.just("h.ok")},
            optional={
                "input": JSON_VALUES,
                "maxRetryCount": st.integers(0, 3),
                "timeoutSeconds": st.integers(1, 9),
                "rateLimitKey": st.just("k"),
            },
        ),
        min_size=1,
        max_size=8,
    )
)
def test_valid_sources_are_said_plain_exactly_when_their_tasks_have_no_field_but_an_input(
    tasks: list[dict[str, Any]],
) -> None:
    source = [json.dumps({"id": f"t{i}", **task}).encode() for i, task in enumerate(tasks)]
    checker = validator()
    checker.add_run(0, source)
    _, problems = outcome(checker)
    if problems:
        return  # an input out of the limits, say
    plain = all(task.keys() <= {"handler", "input"} for task in tasks)
    assert checker.plain_handlers == (["h.ok"] if plain else None)


def test_plain_lines_name_their_handlers_and_one_other_line_makes_the_source_not_plain() -> None:
    plain = [json.dumps({"id": f"t{i}", "handler": "h.ok", "input": i}).encode() for i in range(3)]
    checker = validator()
    checker.add_run(0, [*plain, b"", b'{"id": "d", "handler": "h.ok", "dependsOn": ["t0"]}'])
    assert outcome(checker) == (4, []) and checker.plain_handlers == ["h.ok"]
    timed = validator()
    timed.add_run(0, [*plain, b'{"id": "t9", "handler": "h.ok", "timeoutSeconds": 5}'])
    assert outcome(timed) == (4, []) and timed.plain_handlers is None
