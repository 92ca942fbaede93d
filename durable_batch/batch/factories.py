"""Task factories: a job's tasks from somewhere other than an inline list, as Azure Batch's task factories.

- `parametricSweep`: `parameterSets` (each `{start, end, step}`, `end` included) and a `repeatTask` template;
  one task per combination, the first set varying slowest; `{0}`, `{1}` ... in the template's strings are the
  combination's values (`{0:5}` pads with zeros to 5 digits; `{{` and `}}` are braces).
- `taskPerFile`: one task per blob under `prefix` in `container`, in name order; the template's `{filePath}`
  (the blob's name), `{fileName}` (its last segment), `{fileNameWithoutExtension}`, `{container}` and `{url}`.
- `jsonLines`: a JSON Lines blob (`container`, `blob`), one task a line with the fields of an inline task.

Every template also has `{index}`, the task's position. A string that is exactly one placeholder of a number
(`"{0}"`, `"{index}"`) becomes that number in a handler's `input`, so handlers get numbers, not text.

What a factory's blobs held when the job was submitted is pinned in its `resolved` part (how many tasks, a
digest of the content, the blob's ETag, where the line index is): the spec's hash covers it, so submitting the
same job again is idempotent by content, and a job whose source blob changed afterwards fails rather than run
other tasks. Pure: the reading is behind `BlockReader`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from durable_batch.batch.records import CHUNK_SIZE

__all__ = [
    "BLOCK",
    "FACTORY_TYPES",
    "MAX_FACTORY_TASKS",
    "BlockReader",
    "FactoryTasks",
    "ParameterSet",
    "file_values",
    "placeholders",
    "reads_source",
    "substitute",
    "sweep_count",
    "sweep_values",
]

FACTORY_TYPES = ("parametricSweep", "taskPerFile", "jsonLines")
MAX_FACTORY_TASKS = 1_000_000
"""The most tasks one factory makes."""
BLOCK = CHUNK_SIZE
"""Tasks per block of a JSON Lines source: the line index keeps the byte offset of every BLOCK-th line, and a
block is what a batch reads (a batch never spans two chunks)."""
FILE_NAMES = ("filePath", "fileName", "fileNameWithoutExtension", "container", "url", "index")

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z0-9_]+)(?::(\d{1,2}))?\}|[{}]")


@dataclass(frozen=True)
class ParameterSet:
    start: int
    end: int
    step: int = 1

    @property
    def count(self) -> int:
        return max(0, (self.end - self.start) // self.step + 1)

    def to_json(self) -> dict[str, int]:
        return {"start": self.start, "end": self.end, "step": self.step}


def reads_source(factory: Mapping[str, Any]) -> bool:
    """Whether the factory's tasks come from blobs (all but a sweep, which computes them)."""
    return factory.get("type") != "parametricSweep"


def sweep_count(sets: Sequence[ParameterSet]) -> int:
    total = 1
    for item in sets:
        total *= item.count
    return total


def sweep_values(sets: Sequence[ParameterSet], index: int) -> dict[str, int]:
    """The parameter values of the sweep's task at `index`, by placeholder name ("0", "1", ...)."""
    values: dict[str, int] = {}
    for position in range(len(sets) - 1, -1, -1):
        item = sets[position]
        index, offset = divmod(index, item.count)
        values[str(position)] = item.start + offset * item.step
    return values


def file_values(container: str, name: str, url: str) -> dict[str, str]:
    """The placeholders of a task-per-file task (without `index`)."""
    file_name = name.rsplit("/", 1)[-1]
    stem = file_name.rsplit(".", 1)[0] if "." in file_name.lstrip(".") else file_name
    return {
        "filePath": name,
        "fileName": file_name,
        "fileNameWithoutExtension": stem,
        "container": container,
        "url": url,
    }


def placeholders(template: Any, path: str = "repeatTask") -> Iterator[tuple[str, str | None]]:
    """(path, placeholder name) of every placeholder in the template's strings; a name of None marks a
    stray brace (write `{{` or `}}` for a brace)."""
    if isinstance(template, str):
        for match in _PLACEHOLDER.finditer(template):
            text = match.group(0)
            if text in ("{{", "}}"):
                continue
            yield path, match.group(1)
    elif isinstance(template, list):
        for i, item in enumerate(template):
            yield from placeholders(item, f"{path}[{i}]")
    elif isinstance(template, dict):
        for key, item in template.items():
            yield from placeholders(item, f"{path}.{key}")


def _fill(text: str, values: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name, width = match.group(1), match.group(2)
        value = values[name]
        if width is not None and isinstance(value, int):
            return f"{value:0{int(width)}d}"
        return str(value)

    return _PLACEHOLDER.sub(one, text)


def substitute(template: Any, values: Mapping[str, Any], *, numbers: bool = False) -> Any:
    """The template with placeholders replaced by `values` (validated: every name is known). With `numbers`,
    a string that is exactly one unpadded placeholder of an int becomes the int."""
    if isinstance(template, str):
        if numbers:
            match = _PLACEHOLDER.fullmatch(template)
            if match is not None and match.group(1) is not None and match.group(2) is None:
                value = values[match.group(1)]
                if isinstance(value, int):
                    return value
        return _fill(template, values)
    if isinstance(template, list):
        return [substitute(item, values, numbers=numbers) for item in template]
    if isinstance(template, dict):
        return {key: substitute(item, values, numbers=numbers or key == "input") for key, item in template.items()}
    return template


BlockReader = Callable[[int], list[Any]]
"""Reads block `number` of a factory's line source: the decoded JSON value of each line, in order."""


class FactoryTasks(Sequence[Any]):
    """A factory's tasks as a read-only sequence, made on demand a block (BLOCK tasks) at a time: `make(index,
    line)` builds the task at `index` (`line` is the source line's value, None for a sweep), and blocks of a line
    source are read through `read`. The last `keep` blocks are kept as made tasks: a job's partition plan and its
    batches ask for the same tasks one after another, and a task is made once while its block is kept, its line
    read and decoded once. Nothing holds the whole task list. Thread-safe.

    `id_of(index, line)`, when given, says a task's id without making it: `task_id` uses it for what only
    needs ids (a job's chunk layout, a million tasks at a time), which then costs no task building."""

    def __init__(
        self,
        count: int,
        make: Callable[[int, Any], Any],
        read: BlockReader | None = None,
        *,
        keep: int = 8,
        id_of: Callable[[int, Any], str] | None = None,
    ) -> None:
        self._count = count
        self._make = make
        self._read = read
        self._keep = keep
        self._id_of = id_of
        self._blocks: OrderedDict[int, list[Any]] = OrderedDict()
        self._ids: OrderedDict[int, list[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def _kept(self, cache: OrderedDict[int, list[Any]], number: int, build: Callable[[int], list[Any]]) -> list[Any]:
        """Block `number` from `cache`, else `build(number)`, kept there as one of the last `keep`."""
        with self._lock:
            found = cache.get(number)
            if found is not None:
                cache.move_to_end(number)
                return found
        built = build(number)
        with self._lock:
            cache[number] = built
            while len(cache) > self._keep:
                cache.popitem(last=False)
        return built

    def _lines(self, number: int) -> list[Any]:
        return self._read(number) if self._read is not None else [None] * len(self._indexes(number))

    def _made(self, number: int) -> list[Any]:
        return [self._make(i, line) for i, line in zip(self._indexes(number), self._lines(number), strict=False)]

    def _indexes(self, number: int) -> range:
        first = number * BLOCK
        return range(first, min(first + BLOCK, self._count))

    def task_id(self, index: int) -> str:
        """The id of the task at `index`: from its block's tasks when they are kept, else through `id_of` (the
        block's ids kept as the tasks are), else by making the task."""
        if not 0 <= index < self._count:
            raise IndexError(f"task {index} of {self._count}")
        number, offset = divmod(index, BLOCK)
        with self._lock:
            made = self._blocks.get(number)
        if made is not None:
            return str(made[offset].id)
        if self._id_of is None:
            return str(self[index].id)
        return str(self._kept(self._ids, number, self._ids_of)[offset])

    def task_ids(self, indexes: Sequence[int]) -> list[str]:
        """`[task_id(i) for i in indexes]`, with each block's ids looked up once for a run of its indexes."""
        ids: list[str] = []
        number, block = -1, None
        for index in indexes:
            if not 0 <= index < self._count:
                raise IndexError(f"task {index} of {self._count}")
            if index // BLOCK != number:
                number = index // BLOCK
                block = self._block_ids(number)
            assert block is not None
            ids.append(block[index - number * BLOCK])
        return ids

    def _block_ids(self, number: int) -> list[str]:
        """The ids of block `number`'s tasks: from its made tasks when they are kept, else through `id_of` (kept
        as the tasks are), else by making its tasks."""
        with self._lock:
            made = self._blocks.get(number)
        if made is None and self._id_of is not None:
            return self._kept(self._ids, number, self._ids_of)
        return [str(task.id) for task in made or self._kept(self._blocks, number, self._made)]

    def _ids_of(self, number: int) -> list[str]:
        id_of = self._id_of
        assert id_of is not None
        return [id_of(i, line) for i, line in zip(self._indexes(number), self._lines(number), strict=False)]

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"task {index} of {self._count}")
        number, offset = divmod(index, BLOCK)
        return self._kept(self._blocks, number, self._made)[offset]

    def __iter__(self) -> Iterator[Any]:
        for i in range(self._count):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__
