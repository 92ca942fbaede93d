"""Hypothesis strategies for hostile inputs: job specs that start valid and are then mutated (wrong types, odd
numbers, lone surrogates, deep nesting, unknown fields, bad ids, dependencies and resource files), raw-byte
mutations of their JSON text, and query values and continuation tokens.

Shared by the unit property tests (`parse_job` directly) and the end-to-end fuzz test (real HTTP).
"""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

from hypothesis import strategies as st

from durable_batch.batch.spec import ID_PATTERN

# Every character, lone surrogates included: the default alphabet leaves those out, and they are what broke.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=12)
ODD_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1.5, 1e308, -1e308, 5e-324, 2**53 + 1, 2**63, 10**308, -(10**309)]),
)
SCALARS = st.one_of(st.none(), st.booleans(), ODD_NUMBERS, ANY_TEXT)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12
)
BAD_IDS = st.one_of(
    st.sampled_from(["", "-x", ".", "..", "a/b", "a\\b", "%00", "a\x00", "a b", "é", "\ud800", "a" * 129, "a\n"]),
    ANY_TEXT,
)
BLOB_NAMES = st.one_of(
    st.sampled_from(
        [
            "../private/secret.txt",
            "/inputs/x",
            "inputs\\x",
            "inputs//x",
            "./x",
            "inputs/",
            "otherjob/job.json",
            "otherjob/tasks/t/stdout.txt",
            "otherjob/results/p0.jsonl",
            "a/../../b",
            "C:x",
            "\x00",
            "\ud800/x",
            "inputs/render.py",
        ]
    ),
    st.lists(st.sampled_from(["..", ".", "", "a", "tasks", "job.json", "x\\y", "é"]), min_size=1, max_size=4).map(
        "/".join
    ),
)
_VALUE = re.compile(rb'(": )(-?[0-9][0-9.eE+-]*|"[^"\\]*")')


def base_task(n: int, *, command: bool) -> dict[str, Any]:
    if command:
        return {
            "id": f"t{n}",
            "commandLine": ["true"],
            "resourceFiles": [{"blob": "inputs/render.py", "path": "render.py"}],
            "outputFiles": ["out/*.png"],
            "environment": {"QUALITY": "high"},
        }
    return {"id": f"t{n}", "handler": "billing.invoice", "input": {"customer": f"c-{n:06d}", "seed": n}}


@st.composite
def valid_specs(draw: st.DrawFn, job_id: str) -> dict[str, Any]:
    """A valid job spec with 1-3 tasks (handler tasks, or command tasks where the app allows them)."""
    count = draw(st.integers(1, 3))
    tasks = [base_task(n, command=draw(st.booleans())) for n in range(count)]
    if count > 1 and draw(st.booleans()):
        tasks[-1]["dependsOn"] = ["t0"]
    spec: dict[str, Any] = {"id": job_id, "tasks": tasks}
    if draw(st.integers(0, 3)) == 0:
        # Task factories go through their own checks and the source reads at submit. These name a container
        # that does not exist, or (a sweep) command tasks the fuzz host refuses: mutated, they probe every
        # branch of those checks without ever starting a job of many tasks.
        del spec["tasks"]
        spec["taskFactory"] = copy.deepcopy(draw(st.sampled_from(FACTORY_SEEDS)))  # mutations change it in place
    if draw(st.booleans()):
        spec.update(maxParallelTasks=5, maxTaskRetryCount=1, taskTimeoutSeconds=60, onTaskFailure="continue")
    return spec


FACTORY_SEEDS: list[dict[str, Any]] = [
    {"type": "jsonLines", "container": "fuzz-missing", "blob": "jobs/tasks.jsonl"},
    {
        "type": "taskPerFile",
        "container": "fuzz-missing",
        "prefix": "raw/",
        "repeatTask": {"id": "f-{index}", "handler": "billing.invoice", "input": {"blob": "{filePath}"}},
    },
    {
        "type": "parametricSweep",
        "parameterSets": [{"start": 1, "end": 3}, {"start": 0, "end": 4, "step": 2}],
        "repeatTask": {"id": "s-{0}-{1:3}", "commandLine": ["render", "{0}", "{{x}}"]},
    },
]


def _containers(value: Any) -> list[Any]:
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


def _deep(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


@st.composite
def mutated_specs(draw: st.DrawFn, job_id: str) -> Any:
    """A valid spec with one to three mutations applied; the result may still be valid."""
    spec: Any = draw(valid_specs(job_id))
    for _ in range(draw(st.integers(1, 3))):
        tasks = spec.get("tasks") if isinstance(spec, dict) else None
        task = draw(st.sampled_from(tasks)) if isinstance(tasks, list) and tasks else None
        kind = draw(st.integers(0, 9))
        if kind == 0 or not isinstance(spec, dict):
            spec = draw(JSON_VALUES) if draw(st.integers(0, 9)) == 0 else spec
            target = draw(st.sampled_from(_containers(spec))) if _containers(spec) else None
            if isinstance(target, dict):
                target[draw(ANY_TEXT)] = draw(JSON_VALUES)
            elif isinstance(target, list):
                target.append(draw(JSON_VALUES))
        elif kind == 1:
            target = draw(st.sampled_from(_containers(spec)))
            if isinstance(target, dict) and target:
                key = draw(st.sampled_from(sorted(target, key=repr)))
                target[key] = draw(JSON_VALUES)
            elif isinstance(target, list) and target:
                target[draw(st.integers(0, len(target) - 1))] = draw(JSON_VALUES)
        elif kind == 2:
            target = draw(st.sampled_from(_containers(spec)))
            if isinstance(target, dict) and target:
                del target[draw(st.sampled_from(sorted(target, key=repr)))]
        elif kind == 3:
            spec["id"] = draw(BAD_IDS)
        elif kind == 4 and isinstance(task, dict):
            task["id"] = draw(st.one_of(BAD_IDS, st.just("t0")))
        elif kind == 5 and isinstance(task, dict):
            task["dependsOn"] = draw(
                st.one_of(
                    st.lists(st.sampled_from(["t0", "t1", "t2", "ghost", task.get("id", "x")]), max_size=4),
                    JSON_VALUES,
                )
            )
        elif kind == 6 and isinstance(task, dict):
            entry = {"blob": draw(BLOB_NAMES), "path": draw(st.one_of(BLOB_NAMES, JSON_VALUES))}
            task["resourceFiles"] = draw(st.sampled_from([[entry], entry, [entry, entry], [draw(JSON_VALUES)]]))
        elif kind == 7 and isinstance(task, dict):
            task["input"] = _deep(draw(st.integers(55, 900)), draw(SCALARS))
        elif kind == 8 and isinstance(task, dict):
            task[draw(st.sampled_from(["input", "timeoutSeconds", "maxRetryCount", "outputFiles"]))] = draw(
                st.one_of(ODD_NUMBERS, JSON_VALUES)
            )
        else:
            spec[draw(st.sampled_from(["maxParallelTasks", "retryIntervalSeconds", "toleratedFailurePercentage"]))] = (
                draw(ODD_NUMBERS)
            )
    if isinstance(spec, dict) and isinstance(spec.get("id"), str) and ID_PATTERN.fullmatch(spec["id"]):
        # A mutation may spell another valid id ("a"): a spec accepted with it would create a job that other
        # tests of the session can see. Valid ids stay the caller's own.
        spec["id"] = job_id
    return spec


def to_bytes(value: Any) -> bytes:
    """JSON text of a mutated value, as a client would send it: non-ASCII escaped, so lone surrogates travel
    as `\\ud800` escapes; NaN and infinities as the non-standard words Python writes."""
    try:
        return json.dumps(value, allow_nan=True).encode("ascii")
    except ValueError:
        # An integer of more than 4,300 digits: Python will not write it, so send a stand-in.
        return b'{"id":"x","tasks":[{"id":"t","handler":"billing.invoice","input":' + b"9" * 5000 + b"}]}"


@st.composite
def raw_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one byte-level change: a lone surrogate escape or UTF-8 sequence, invalid UTF-8, a number
    out of range, a cut, or random bytes."""
    at = draw(st.integers(0, len(data)))
    insert = draw(
        st.sampled_from(
            [
                b'"\\ud800"',
                b'"\\udfff\\ud800"',
                b'"\xed\xa0\x80"',
                b"\xff",
                b"\xc3",
                b"1e400",
                b"-1e999",
                b"9" * 5000,
                b"NaN",
                b"[" * 3000,
                b'{"\\ud800":1}',
                b"\x00",
            ]
        )
        | st.binary(max_size=8)
    )
    values = list(_VALUE.finditer(data))
    if bool(values) and draw(st.booleans()):
        # In place of one value, so that the rest of the text stays well formed.
        match = draw(st.sampled_from(values))
        return data[: match.start(2)] + insert + data[match.end(2) :]
    return data[:at] + insert + data[at:]


@st.composite
def bodies(draw: st.DrawFn, job_id: str) -> bytes:
    """A request body for `POST /api/jobs`: a mutated spec's JSON text, sometimes mutated further as bytes."""
    data = to_bytes(draw(mutated_specs(job_id)))
    if draw(st.integers(0, 3)) == 0:
        data = draw(raw_mutations(data))
    return data


def _token(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


TOKEN_PAYLOADS = st.one_of(
    JSON_VALUES.map(lambda value: to_bytes({"v": 1, "s": {"kind": "jobs", "state": None}, "a": value})),
    JSON_VALUES.map(to_bytes),
    st.binary(max_size=64),
    st.integers(1, 4000).map(lambda n: b"[" * n),
    st.sampled_from([b'{"v":1,"s":{"kind":"jobs","state":null},"a":"\\ud800"}', b'{"a":"\xed\xa0\x80"}']),
)
TOKENS = st.one_of(TOKEN_PAYLOADS.map(_token), ANY_TEXT, st.text(max_size=300))
QUERY_VALUES = st.one_of(
    st.sampled_from(["running", "failed", "0", "1", "1000", "1001", "-1", "1e400", "9" * 1000, "", "%00", "\x00"]),
    ANY_TEXT,
)
