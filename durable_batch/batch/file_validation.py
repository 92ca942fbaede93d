"""Checking a command task's `resourceFiles` and `outputFiles` (Azure Batch's field names), for
`durable_batch.batch.task_validation`.

What needs no I/O is checked here: each entry's shape, that it names exactly one source, URLs' form, paths that
stay inside the task's folder, file modes. What needs the account (a container URL of this app's account, a
container that exists, blobs under a prefix) is checked where the files move, in
`durable_batch.activities.command_files`.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from durable_batch.batch.checks import Checker
from durable_batch.batch.paths import CONTAINER_PATTERN, CONTAINER_RULE, blob_name_problem, relative_path_problem
from durable_batch.batch.spec import RESOURCE_FILE_NAMES, OutputFile, ResourceFile, UploadCondition

__all__ = [
    "MAX_FILE_ENTRIES",
    "check_output_files",
    "check_resource_files",
    "container_url_parts",
    "http_url_problem",
    "reserved_container_problem",
]

MAX_FILE_ENTRIES = 100
"""The most `resourceFiles`, `outputFiles` or `environment` entries of one task."""
RESOURCE_FILE_FIELDS = frozenset(RESOURCE_FILE_NAMES)
SOURCES = ("blob", "autoStorageContainerName", "storageContainerUrl", "httpUrl")
OUTPUT_FILE_FIELDS = frozenset({"filePattern", "destination", "uploadOptions"})
_DESTINATION = frozenset({"container"})
_CONTAINER_DESTINATION = frozenset({"containerUrl", "path"})
_UPLOAD_OPTIONS = frozenset({"uploadCondition"})
_RESOURCE_FILE = (
    "a resource file ({'blob', 'path'} with an optional 'container', or one of 'autoStorageContainerName', "
    "'storageContainerUrl', 'httpUrl')"
)
_OUTPUT_FILE = "objects with 'filePattern', 'destination', 'uploadOptions'"
MAX_URL_LENGTH = 2048
_FILE_MODE = re.compile(r"0?[0-7]{3}")
_RESERVED_PREFIXES = ("azure-webjobs-", "$")
# The Durable Functions Azure Storage provider's own containers end so (`{hub}-leases`, ...).
_RESERVED_SUFFIXES = ("-leases", "-largemessages", "-applease")


def reserved_container_problem(container: str) -> str | None:
    """Why a job may not read or write `container`, or None: the Functions host's own containers (its keys are in
    `azure-webjobs-secrets`) and the Durable task hub's are off limits."""
    if container.startswith(_RESERVED_PREFIXES) or container.endswith(_RESERVED_SUFFIXES):
        return (
            f"container '{container}' belongs to the Functions host or its Durable task hub (names starting "
            "'azure-webjobs-' or '$', or ending '-leases', '-largemessages', '-applease'): a job may not use it"
        )
    return None


def http_url_problem(url: str) -> str | None:
    """What is wrong with `url` as an `httpUrl`, or None. Where it points is checked when it is fetched."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH:,} characters"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL: {exc}"
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user name or password"
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    return None


def container_url_parts(url: str) -> tuple[str, str] | None:
    """(account part, container) of a container URL: `https://acct.blob.core.windows.net/data` gives
    (`https://acct.blob.core.windows.net`, `data`); Azurite's `http://127.0.0.1:10000/devstoreaccount1/data` gives
    (`http://127.0.0.1:10000/devstoreaccount1`, `data`). None when `url` is not of that form."""
    if http_url_problem(url) is not None:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment:
        return None
    path = parts.path.rstrip("/")
    base, _, container = path.rpartition("/")
    if not CONTAINER_PATTERN.fullmatch(container):
        return None
    return f"{parts.scheme}://{parts.netloc}{base}", container


def _container_url_problem(url: str) -> str | None:
    if (problem := http_url_problem(url)) is not None:
        return problem
    parts = container_url_parts(url)
    if parts is None:
        return (
            "must be the URL of a container of this app's storage account, such as "
            "'https://account.blob.core.windows.net/container', without a query (no SAS: the app uses its own "
            "identity)"
        )
    return reserved_container_problem(parts[1])


def _text(checker: Checker, obj: dict[str, Any], name: str, base: str) -> str | None:
    value = obj.get(name)
    return None if value is None else checker.string(value, f"{base}.{name}")


def _relative(checker: Checker, value: str | None, path: str) -> str | None:
    return None if value is None else checker.unless(value, path, relative_path_problem(value))


def check_resource_files(
    checker: Checker, value: Any, path: str, job_id: str | None
) -> tuple[ResourceFile, ...] | None:
    """The resource files at `path`, or None with their problems reported. `job_id` is the job's own id (None
    while unknown): the one job whose results a `blob` may name."""
    value = checker.array(value, path, "resource files", MAX_FILE_ENTRIES)
    if value is None:
        return None
    files: list[ResourceFile] = []
    seen: dict[str, int] = {}
    for j, item in enumerate(value):
        entry = f"{path}[{j}]"
        before = checker.count
        obj = checker.fields(item, entry, RESOURCE_FILE_FIELDS, _RESOURCE_FILE)
        if obj is None:
            continue
        cache: dict[str, str | None] = {}

        def text(
            name: str, obj: dict[str, Any] = obj, entry: str = entry, cache: dict[str, str | None] = cache
        ) -> str | None:
            # Read on first use, so that problems come in the order the fields are checked.
            if name not in cache:
                cache[name] = _text(checker, obj, name, entry)
            return cache[name]

        sources = [name for name in SOURCES if obj.get(name) is not None]
        if not sources and obj.get("path") is not None:
            checker.add(f"{entry}.blob", "missing required field")
            continue
        if len(sources) != 1:
            named = " and ".join(f"'{name}'" for name in sources) if sources else "none"
            checker.add(entry, f"a resource file has exactly one of {', '.join(SOURCES)}; this one has {named}")
            continue
        source = sources[0]
        target: str | None = None
        if source == "blob":
            for name in ("blobPrefix", "filePath"):
                if obj.get(name) is not None:
                    checker.add(f"{entry}.{name}", f"'{name}' goes with a container source, not 'blob' (use 'path')")
            blob = text("blob")
            if blob is not None and (problem := blob_name_problem(blob, job_id)) is not None:
                checker.add(f"{entry}.blob", problem)
            container = text("container")
            if container is not None:
                if not CONTAINER_PATTERN.fullmatch(container):
                    checker.add(f"{entry}.container", CONTAINER_RULE)
                elif (problem := reserved_container_problem(container)) is not None:
                    checker.add(f"{entry}.container", problem)
            if obj.get("path") is None:
                checker.add(f"{entry}.path", "missing required field")
            target = _relative(checker, text("path"), f"{entry}.path")
        else:
            if obj.get("path") is not None:
                checker.add(f"{entry}.path", "'path' goes with 'blob'; other sources take 'filePath'")
            if obj.get("container") is not None:
                checker.add(f"{entry}.container", f"'container' goes with 'blob'; '{source}' names its own source")
            if source == "httpUrl":
                if obj.get("blobPrefix") is not None:
                    checker.add(f"{entry}.blobPrefix", "'blobPrefix' goes with a container source, not 'httpUrl'")
                url = text("httpUrl")
                if url is not None and (problem := http_url_problem(url)) is not None:
                    checker.add(f"{entry}.httpUrl", problem)
                if obj.get("filePath") is None:
                    checker.add(f"{entry}.filePath", "missing required field: where the fetched file goes")
                target = _relative(checker, text("filePath"), f"{entry}.filePath")
            else:
                container = text(source)
                if container is not None and source == "autoStorageContainerName":
                    if not CONTAINER_PATTERN.fullmatch(container):
                        checker.add(f"{entry}.{source}", CONTAINER_RULE)
                    elif (problem := reserved_container_problem(container)) is not None:
                        checker.add(f"{entry}.{source}", problem)
                elif container is not None and (problem := _container_url_problem(container)) is not None:
                    checker.add(f"{entry}.{source}", problem)
                prefix = text("blobPrefix")
                if prefix is not None and prefix != "" and any(ord(c) < 32 for c in prefix):
                    checker.add(f"{entry}.blobPrefix", "must not contain control characters")
                # A folder: each blob lands at filePath/{its name}, so it is not a file target of its own.
                _relative(checker, text("filePath"), f"{entry}.filePath")
        mode = text("fileMode")
        if mode is not None and not _FILE_MODE.fullmatch(mode):
            checker.add(
                f"{entry}.fileMode",
                f"{mode!r} is not a file mode: an octal string of permission bits, such as '0644' or '755' "
                "(no setuid, setgid or sticky bits)",
            )
        if target is not None:
            if target in seen:
                checker.add(
                    f"{entry}.{'path' if source == 'blob' else 'filePath'}",
                    f"duplicate path '{target}' (also at resourceFiles[{seen[target]}])",
                )
            else:
                seen[target] = j
        if checker.count == before:
            values = {name: text(name) for name in RESOURCE_FILE_NAMES}
            files.append(ResourceFile.from_json({name: v for name, v in values.items() if v is not None}))
    return tuple(files) if len(files) == len(value) else None


def check_output_files(checker: Checker, value: Any, path: str) -> tuple[OutputFile, ...] | None:
    """The output files at `path`, or None with their problems reported."""
    value = checker.array(value, path, f"output files (globs, or {_OUTPUT_FILE})", MAX_FILE_ENTRIES)
    if value is None:
        return None
    files: list[OutputFile] = []
    for j, item in enumerate(value):
        entry = f"{path}[{j}]"
        if isinstance(item, str):
            if _relative(checker, item, entry) is not None:
                files.append(OutputFile(item))
            continue
        before = checker.count
        obj = checker.fields(item, entry, OUTPUT_FILE_FIELDS, "an output file (a glob, or {'filePattern', ...})")
        if obj is None:
            continue
        pattern = _text(checker, obj, "filePattern", entry)
        if obj.get("filePattern") is None:
            checker.add(f"{entry}.filePattern", "missing required field")
        pattern = _relative(checker, pattern, f"{entry}.filePattern")
        container_url = blob_path = None
        destination = obj.get("destination")
        if destination is not None:
            dest = checker.fields(destination, f"{entry}.destination", _DESTINATION, "a destination ({'container'})")
            container = None if dest is None else dest.get("container")
            if dest is not None and container is None:
                checker.add(f"{entry}.destination.container", "missing required field")
            elif container is not None:
                base = f"{entry}.destination.container"
                where = checker.fields(
                    container,
                    base,
                    _CONTAINER_DESTINATION,
                    "a container destination ({'containerUrl', 'path'})",
                )
                if where is not None:
                    if where.get("containerUrl") is None:
                        checker.add(f"{base}.containerUrl", "missing required field")
                    container_url = _text(checker, where, "containerUrl", base)
                    if container_url is not None and (problem := _container_url_problem(container_url)) is not None:
                        checker.add(f"{base}.containerUrl", problem)
                    blob_path = _relative(checker, _text(checker, where, "path", base), f"{base}.path")
        condition = UploadCondition.TASK_COMPLETION
        options = obj.get("uploadOptions")
        if options is not None:
            opts = checker.fields(
                options,
                f"{entry}.uploadOptions",
                _UPLOAD_OPTIONS,
                "upload options ({'uploadCondition'})",
            )
            raw = None if opts is None else opts.get("uploadCondition")
            if opts is not None and raw is None:
                checker.add(f"{entry}.uploadOptions.uploadCondition", "missing required field")
            elif raw is not None:
                chosen = checker.choice(
                    raw, f"{entry}.uploadOptions.uploadCondition", [c.value for c in UploadCondition]
                )
                if chosen is not None:
                    condition = UploadCondition(chosen)
        if checker.count == before and pattern is not None:
            files.append(OutputFile(pattern, container_url, blob_path, condition))
    return tuple(files) if len(files) == len(value) else None
