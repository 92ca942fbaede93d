"""Resource file blobs stay in the results container and out of other jobs' folders; the rule that decides
which folders are a job's matches the layout storage writes."""

from __future__ import annotations

import json

import pytest

from durable_batch.api.schedules import TemplateError, load_template
from durable_batch.batch.errors import SpecError
from durable_batch.batch.paths import (
    JOB_LAYOUT_ENTRIES,
    blob_name_problem,
    normalise_path,
    relative_path_problem,
    reserved_name_problem,
)
from durable_batch.batch.validation import parse_job
from durable_batch.storage.blobs import MemoryBlobs
from durable_batch.storage.results import CURRENT_LAYOUT, OLD_LAYOUT, ResultStore

pytestmark = pytest.mark.unit

OTHER_JOB = "names a blob of job 'otherjob'"


def spec_with_blob(blob: str, job_id: str = "job-1") -> bytes:
    task = {"id": "t", "commandLine": ["true"], "resourceFiles": [{"blob": blob, "path": "f"}]}
    return json.dumps({"id": job_id, "tasks": [task]}).encode()


def blob_problems(blob: str, job_id: str = "job-1") -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_job(spec_with_blob(blob, job_id), known_handlers=(), allow_command_tasks=True)
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        ("../private/secret.txt", "must not contain '..' segments"),
        ("inputs/../../x", "must not contain '..' segments"),
        ("inputs\\..\\x", "must not contain '..' segments"),
        ("/inputs/render.py", "must be a relative path"),
        ("\\inputs", "must be a relative path"),
        ("inputs\\render.py", "must separate folders with '/'"),
        ("inputs//render.py", "must not have empty segments"),
        ("inputs/", "must not have empty segments"),
        ("./inputs/render.py", "must not have '.' segments"),
        ("inputs/\x00", "must not contain control characters"),
        ("", "must not be empty"),
        ("a" * 1025, "must be at most 1024 characters"),
        ("otherjob/job.json", OTHER_JOB),
        ("otherjob/summary.json", OTHER_JOB),
        ("otherjob/reduce.json", OTHER_JOB),
        ("otherjob/results/p00000-b0000.jsonl", OTHER_JOB),
        ("otherjob/tasks/t1/stdout.txt", OTHER_JOB),
        ("otherjob/tasks", OTHER_JOB),
    ],
)
def test_blobs_outside_the_rule_are_refused_at_submit_with_their_path(blob: str, message: str) -> None:
    found = blob_problems(blob)
    assert [path for path, _ in found] == ["tasks[0].resourceFiles[0].blob"]
    assert message in found[0][1]


@pytest.mark.parametrize(
    "blob",
    [
        "inputs/render.py",
        "render.py",
        "otherjob",
        "otherjob/inputs/job.json",
        "otherjob/Tasks/x",
        "not a job id/tasks/x",
        "job-1/tasks/t0/outputs/frame.png",
        "job-1/job.json",
        "_jobs/job-1/tasks/t0/outputs/frame.png",
        "données/été.csv",
    ],
)
def test_blobs_a_job_may_read(blob: str) -> None:
    spec = parse_job(spec_with_blob(blob), known_handlers=(), allow_command_tasks=True)
    assert spec.tasks[0].resource_files[0].blob == blob


def test_a_job_without_an_id_yet_reads_no_job_folder() -> None:
    body = json.dumps(
        {"tasks": [{"id": "t", "commandLine": ["true"], "resourceFiles": [{"blob": "x/tasks/y", "path": "f"}]}]}
    )
    with pytest.raises(SpecError, match="names a blob of job 'x'"):
        parse_job(body, known_handlers=(), allow_command_tasks=True, new_job_id=lambda: "x")


@pytest.mark.parametrize(("layout", "folder"), [(OLD_LAYOUT, "j/"), (CURRENT_LAYOUT, "_jobs/j/")])
def test_the_layout_entries_are_every_top_level_name_storage_writes_for_a_job(layout: int, folder: str) -> None:
    results = ResultStore(MemoryBlobs(), lambda _job_id: layout)
    names = [
        results.job_spec_name("j"),
        results.summary_name("j"),
        results.reduce_name("j"),
        results.result_batch_name("j", 0),
        results.result_batch_name("j", "p00001-b0002"),
        results.task_result_name("j", "t"),
        results.task_output_name("j", "t", "out/a.png"),
        results.task_prefix("j", "t") + "stdout.txt",
        results.source_name("j", "files.jsonl"),
    ]
    assert all(name.startswith(folder) for name in names)
    entries = {name[len(folder) :].split("/")[0] for name in names}
    assert entries == JOB_LAYOUT_ENTRIES
    assert all(blob_name_problem(name, "other") is not None for name in names)
    assert all(blob_name_problem(name, "j") is None for name in names)
    assert all(reserved_name_problem(name, None) is not None for name in names)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("_jobs/j/job.json", "is in '_jobs/', where the app keeps its own files"),
        ("_jobs/other/tasks/t/outputs/a", "is in '_jobs/', where the app keeps its own files"),
        ("_jobs", "is in '_jobs/', where the app keeps its own files"),
        ("_schedules/s/template-0123.json", "is in '_schedules/', where the app keeps its own files"),
        ("inputs/source/files.jsonl", "names a blob of job 'inputs'"),
        ("inputs/job.json", "names a blob of job 'inputs'"),
    ],
)
def test_the_apps_own_names_are_reserved_for_uploads_and_other_jobs(name: str, message: str) -> None:
    problem = reserved_name_problem(name, None)
    assert problem is not None and problem.startswith(message)
    assert blob_name_problem(name, "someone") == problem


@pytest.mark.parametrize("name", ["inputs/x.csv", "_private/x", "jobs/j/job.json", "inputs/sources/x", "x_jobs/a"])
def test_names_outside_the_apps_are_anyones(name: str) -> None:
    assert reserved_name_problem(name, None) is None


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("out\\a.png", "out/a.png"), ("out//./a.png", "out/a.png"), ("\\x", "/x"), ("a/../b", "a/../b")],
)
def test_file_system_names_are_normalised_then_held_to_the_same_rule(raw: str, normal: str) -> None:
    assert normalise_path(raw) == normal
    assert (relative_path_problem(normal) is None) == (normal == "out/a.png")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("blob:../other-container/template.json", "must not contain '..' segments"),
        ("blob:/templates/x.json", "must be a relative path"),
        ("blob:nightly-2026/job.json", "names a blob of job 'nightly-2026'"),
    ],
)
def test_a_schedule_template_blob_is_held_to_the_rule(reference: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_template(reference, None)
