"""The one rule for relative paths and blob names, shared by validation, the command runner and storage.

A path in a job spec names a file in the task's working folder (`resourceFiles[].path`, `outputFiles[]`) or a
blob in the results container (`resourceFiles[].blob`, a schedule's `blob:<name>`). Both are held to the same
canonical spelling: segments joined by `/`, none of them empty, `.` or `..`, no leading `/`, no backslash, no
drive letter, no control characters. One spelling per file means no check can be walked around: storage
services and HTTP clients resolve `..` and `.` in a blob's URL, and Azure Storage reads `\\` as `/`.

Blob names have one more rule (`reserved_name_problem`): the results container holds the app's own files, which
no upload may write and a job reads only when they are its own:

- the app's folders (`APP_FOLDERS`): every job's files under `_jobs/{jobId}/` and schedules' own files under
  `_schedules/` (a job id starts with a letter or digit, so no user's job or folder name is one of them);
- jobs stored before `_jobs/` existed keep their files under `{jobId}/` (`durable_batch.storage.results` says which
layout a
  job has): a name whose first segment could be a job id and whose second is an entry of that old layout
  (`JOB_LAYOUT_ENTRIES`) belongs to that job.

Decided from the name alone: no storage lookup, and a job created later cannot make an accepted spec unsafe.
"""

from __future__ import annotations

import re

from durable_batch.batch.json_limits import has_surrogate
from durable_batch.batch.spec import is_id

MAX_PATH_LENGTH = 1_024
"""The longest path or blob name, in characters (Azure Storage's limit on blob names)."""
JOBS_FOLDER = "_jobs"
"""Every job's files, under `_jobs/{jobId}/` (see `durable_batch.storage.results`)."""
SCHEDULES_FOLDER = "_schedules"
"""Schedules' own files (the copies of inline templates)."""
APP_FOLDERS = frozenset({JOBS_FOLDER, SCHEDULES_FOLDER})
"""First segments of the results container that only the app writes."""
JOB_LAYOUT_ENTRIES = frozenset({"job.json", "summary.json", "reduce.json", "results", "tasks", "source"})
"""What a job's folder holds (see `durable_batch.storage.results`); under the old layout the folder is `{jobId}/`
itself."""

CONTAINER_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
"""Blob Storage's container names: 3-63 lowercase letters, digits and single hyphens, not at either end."""
CONTAINER_RULE = "must be a Blob Storage container name: 3-63 lowercase letters, digits and single hyphens"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


def relative_path_problem(path: str) -> str | None:
    """What is wrong with `path` as a relative path or blob name, or None when it is in canonical form."""
    if path == "":
        return "must not be empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"must be at most {MAX_PATH_LENGTH} characters"
    if _CONTROL.search(path) is not None:
        return "must not contain control characters (NUL, tab, newline, ...)"
    if has_surrogate(path):
        return "must be UTF-8 text (it holds a lone surrogate)"
    if path[0] in "/\\" or _DRIVE.match(path):
        return "must be a relative path, not an absolute one (no leading '/', '\\' or drive letter)"
    segments = path.split("/")
    if ".." in segments or ".." in re.split(r"[/\\]", path):
        return "must not contain '..' segments"
    if "\\" in path:
        return "must separate folders with '/', not '\\'"
    if "" in segments:
        return "must not have empty segments (no '//', and no '/' at the end)"
    if "." in segments:
        return "must not have '.' segments (write 'a/b', not './a/b')"
    return None


def normalise_path(path: str) -> str:
    """A path from a file system in canonical form: `\\` as `/`, empty and `.` segments left out. The result
    still needs `relative_path_problem` (a `..` stays a `..`)."""
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    joined = "/".join(parts)
    # An absolute path stays absolute, so that the check refuses it rather than reading it as relative.
    return f"/{joined}" if path[:1] in ("/", "\\") else joined


def blob_name_problem(name: str, own_job_id: str | None) -> str | None:
    """What is wrong with `name` as a blob a job may read from the results container, or None.

    `own_job_id` is the reading job's id (None when it has none yet, or for a schedule's template): its own
    folder is allowed, so a task can read the output files of a task it depends on."""
    return relative_path_problem(name) or reserved_name_problem(name, own_job_id)


def reserved_name_problem(name: str, own_job_id: str | None) -> str | None:
    """Why `name` (a canonical blob name) is the app's, not the caller's, or None; see the module. `own_job_id`
    as in `blob_name_problem`; None for an upload, which may write none of the app's names."""
    first, _, rest = name.partition("/")
    second = rest.partition("/")[0]
    if first in APP_FOLDERS:
        if first == JOBS_FOLDER and own_job_id is not None and second == own_job_id:
            return None
        return (
            f"is in '{first}/', where the app keeps its own files (jobs' records and results under "
            f"'{JOBS_FOLDER}/{{jobId}}/', schedules' templates under '{SCHEDULES_FOLDER}/'): keep files in a "
            "folder such as 'inputs/'"
        )
    if second in JOB_LAYOUT_ENTRIES and first != own_job_id and is_id(first):
        return (
            f"names a blob of job '{first}' ('{first}/{second}' is in that job's results): a job may read its "
            "own results and blobs outside any job's folder, such as 'inputs/...'"
        )
    return None
