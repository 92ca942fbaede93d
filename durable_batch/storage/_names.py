"""Name checks shared by the stores: ids become blob path segments and table keys, so they must be safe."""

from __future__ import annotations

import re

from durable_batch.batch.paths import normalise_path, relative_path_problem
from durable_batch.lib.azure_storage.errors import InvalidName

# The job and task id grammar of the job spec; it excludes '/', '\\', '#', '?' and control characters, which
# table keys forbid, and it cannot spell '.' or '..' path segments.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid job or task id, else raise `InvalidName` naming ``kind``."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise InvalidName(f"{kind} {value!r} is not a valid id: it must match {_ID.pattern}")
    return value


def check_relative_path(value: str) -> str:
    """Normalise a relative blob path below a prefix (``out/a.png``): the name of a file from a file system,
    with ``\\`` as ``/`` and empty or ``.`` segments left out; `InvalidName` unless the result meets the one
    path rule (`durable_batch.batch.paths`): no ``..``, nothing absolute, no control characters."""
    path = normalise_path(value)
    problem = relative_path_problem(path)
    if problem is not None:
        raise InvalidName(f"path {value!r} {problem}")
    return path
