"""The tasks' ids and dependencies as a job's check reads them, and the check of the dependencies between them.

Task validation records each task here in order, even a task with other problems, so that a bad dependency is
reported in the same answer as the rest: its id (None when it has none that is valid), its `dependsOn` ids, and
its `taskIdRanges`. Once every task is in, `check` reports unknown and repeated dependencies, ranges that name
missing tasks, too many dependencies in all, and cycles. The index keeps its lists to itself: a check that
wants to try a task without keeping it (a factory's sample task) uses an index of its own.

Pure: no I/O.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections import Counter
from collections.abc import Callable

from durable_batch.batch.checks import Checker
from durable_batch.batch.graph import find_cycles

__all__ = ["MAX_DEPENDENCIES", "MAX_RANGE_ID", "DependencyIndex"]

MAX_DEPENDENCIES = 2_000_000
"""The most dependencies of a job in all, a range counting the tasks it names: the plan and the scheduler
hold every one, so a few small ranges must not ask for billions."""
MAX_RANGE_ID = 10**18 - 1
"""The largest task id a `taskIdRanges` range can name."""
_BUCKETS = 16
"""How many arrays the ids' hashes are kept in (a power of two): `check` looks for repeats one at a time."""
_FLUSH = 4096
"""Ids gathered before they are added to the text as one."""
_INTEGER_ID = re.compile(r"0|[1-9][0-9]{0,17}")
"""A task id that a `taskIdRanges` range can name: a whole number as written without leading zeros."""


def _tasks_name(index: int) -> str:
    return f"tasks[{index}]"


class DependencyIndex:
    """Each task's id and dependencies by position; `position_name` says how a position is named in messages
    (`tasks[3]` inline, `line 4` in a JSON Lines source).

    A source of a million tasks is checked here, so the ids are kept compactly until `check`: as one UTF-8
    text, an id a line (an empty line for a task without a valid id: ids are never empty and never hold a
    newline), and their `hash` in one of `_BUCKETS` arrays by its low bits. Repeated ids are found at `check`,
    a bucket at a time, in sets of a sixteenth of the ids; only ids whose hashes meet are compared as text. A
    dict of the ids and their positions, which held about 140 bytes a task, is made only for a job with
    dependencies, whose check needs it.
    """

    def __init__(
        self, position_name: Callable[[int], str] = _tasks_name, *, digest: Callable[[str], int] = hash
    ) -> None:
        self.position_name = position_name
        self._digest = digest
        """How an id is hashed: Python's own string hash (keyed afresh in each process, so ids cannot be chosen
        to meet); a test passes one whose values meet, to see that meeting hashes are only a hint."""
        self._count = 0
        self._id_text = bytearray()
        self._pending: list[str] = []
        """Ids not yet in `_id_text`: joined and encoded `_FLUSH` at a time, not one by one."""
        self._hashes = [array("q") for _ in range(_BUCKETS)]
        self._depends_on: dict[int, list[str]] = {}
        """The tasks that have `dependsOn` ids, by position."""
        # Tasks' `taskIdRanges` by position, (index in taskIdRanges, start, end), and the positions whose
        # dependsOn is the object form (`{taskIds, taskIdRanges}`), whose entries have paths of their own.
        self._ranges: dict[int, list[tuple[int, int, int]]] = {}
        self._object_form: set[int] = set()
        # Made by `check` from the ids: each id's first position, and the ids by position.
        self._first_index: dict[str, int] = {}
        self._ids: list[str] = []
        """The ids by position, "" for a task without a valid one."""
        self.add_plain = self._plain_recorder()
        """`add_plain(task_id, depends_on)`: record the next task, which has a valid id: `add` for the fast
        path."""

    def _plain_recorder(self) -> Callable[[str, list[str] | None], None]:
        # A closure rather than a method: the fast path calls it once a line, up to a million times in one
        # submit, and what it uses is then in its cells, not looked up on `self` on every call.
        pending, buckets, flush = self._pending, [bucket.append for bucket in self._hashes], self._flush
        mask, depends, digest_of = _BUCKETS - 1, self._depends_on, self._digest

        def add_plain(task_id: str, depends_on: list[str] | None) -> None:
            digest = digest_of(task_id)
            buckets[digest & mask](digest)
            if depends_on:
                depends[len(pending) + self._count] = depends_on
            pending.append(task_id)
            if len(pending) == _FLUSH:
                flush()

        return add_plain

    def _flush(self) -> None:
        pending = self._pending
        if pending:
            self._id_text += ("\n".join(pending) + "\n").encode()
            self._count += len(pending)
            pending.clear()

    def __len__(self) -> int:
        return self._count + len(self._pending)

    @property
    def has_dependencies(self) -> bool:
        return bool(self._depends_on) or bool(self._ranges)

    def add(
        self,
        task_id: str | None,
        depends_on: list[str] | None,
        ranges: list[tuple[int, int, int]] | None = None,
        *,
        object_form: bool = False,
    ) -> None:
        """Record the next task: its id, its `dependsOn` ids and the ranges that were valid (index in
        `taskIdRanges`, start, end); None for what it does not have, or has wrong."""
        i = len(self)
        if task_id == "" or (task_id is not None and "\n" in task_id):
            raise ValueError(f"a task id is checked before it is recorded: {task_id!r} is not one")
        # A task without an id is recorded as the empty one, which `_repeated_ids` never reports.
        self.add_plain(task_id or "", depends_on)
        if ranges:
            self._ranges[i] = ranges
        if object_form:
            self._object_form.add(i)

    def _read_ids(self) -> list[str]:
        """The ids by position, from the text ("" for a task without one)."""
        self._flush()
        return self._id_text[:-1].decode().split("\n") if self._count else []

    def _repeated_ids(self, checker: Checker) -> None:
        """Report each task whose id an earlier task has. Only ids whose hash another id in its bucket has are
        looked at one by one (all of them when ids repeat): a job without repeats makes a set of a sixteenth
        of its hashes at a time, and no string."""
        shared: set[int] = set()
        for bucket in self._hashes:
            if len(set(bucket)) != len(bucket):
                shared.update(digest for digest, seen in Counter(bucket).items() if seen > 1)
        if not shared:
            return
        first: dict[str, int] = {}
        for i, task_id in enumerate(self._ids or self._read_ids()):
            if not task_id or self._digest(task_id) not in shared:
                continue
            earlier = first.setdefault(task_id, i)
            if earlier != i:
                where = self.position_name(earlier)
                checker.add(f"{self.position_name(i)}.id", f"duplicate task id '{task_id}' (first used by {where})")

    def check(self, checker: Checker) -> None:
        """Report the repeated ids of the tasks recorded so far, and what is wrong with their dependencies."""
        self._flush()
        if not self.has_dependencies:
            self._repeated_ids(checker)
            return
        ids = self._ids = self._read_ids()
        n = len(ids)
        # Each id's first position: walked backwards, so an earlier position is written over a later one.
        first_index = self._first_index = dict(zip(reversed(ids), range(n - 1, -1, -1), strict=True))
        first_index.pop("", None)
        self._repeated_ids(checker)
        no_edges: list[int] = []
        successors: list[list[int]] = [no_edges] * n
        total = 0
        for i, deps in self._depends_on.items():  # in position order, as they were added
            own = self._ids[i]
            succ = [first_index.get(dep, -1) for dep in deps]
            if own in deps or -1 in succ or len(set(deps)) != len(deps):
                succ = self._bad_dependencies(checker, i, deps)
            successors[i] = succ
            total += len(succ)
        if self._ranges:
            total = self._range_dependencies(checker, successors, total)
        if total > MAX_DEPENDENCIES:
            checker.add(
                "tasks",
                f"the job has {total:,} dependencies in all (a range counts each task it names), more than "
                f"the {MAX_DEPENDENCIES:,} allowed; make tasks depend on fewer tasks, or on a few tasks that "
                "depend on the rest",
            )
            return
        for cycle in find_cycles(successors):
            start, following = cycle.path[0], cycle.path[1 % len(cycle.path)]
            names = [self._name(t) for t in cycle.path]
            message = "dependency cycle: " + _arrows(names)
            if len(cycle.group) > len(cycle.path):
                group = [self._name(t) for t in cycle.group]
                listed = ", ".join(group[:20]) + (", ..." if len(group) > 20 else "")
                message += f"; {len(group)} tasks depend on each other in a loop: {listed}"
            checker.add(self._edge_path(start, following), message)

    def _range_dependencies(self, checker: Checker, successors: list[list[int]], total: int) -> int:
        """Check each `taskIdRanges` range (its tasks exist, it does not hold the task itself) and add its
        edges, unless the job's dependencies would exceed `MAX_DEPENDENCIES`; returns the total so far. A
        range is checked with two binary searches over the integer ids, so its width costs nothing until its
        edges are added."""
        numbers = sorted(int(t) for t in self._first_index if _INTEGER_ID.fullmatch(t))
        for i, ranges in sorted(self._ranges.items()):
            own = self._ids[i]
            own_number = int(own) if own is not None and _INTEGER_ID.fullmatch(own) else None
            succ = list(successors[i])
            for j, start, end in ranges:
                where = f"{self.position_name(i)}.dependsOn.taskIdRanges[{j}]"
                lo, hi = bisect.bisect_left(numbers, start), bisect.bisect_right(numbers, end)
                if hi - lo != end - start + 1:
                    missing = start
                    for k in range(lo, hi):
                        if numbers[k] != missing:
                            break
                        missing += 1
                    checker.add(
                        where,
                        f"no task has the id '{missing}': a range {start}..{end} names only existing tasks, "
                        f"and {hi - lo:,} of its {end - start + 1:,} ids are task ids of this job",
                    )
                elif own_number is not None and start <= own_number <= end:
                    checker.add(where, f"a task cannot depend on itself (its id '{own}' is in the range)")
                else:
                    total += end - start + 1
                    if total <= MAX_DEPENDENCIES:
                        succ.extend(self._first_index[str(k)] for k in range(start, end + 1))
            successors[i] = succ
        return total

    def _edge_path(self, i: int, following: int) -> str:
        """Where task i names task `following`: its entry in the id list, else the range that holds it."""
        deps = self._depends_on.get(i, [])
        base = f"{self.position_name(i)}.dependsOn"
        ids = f"{base}.taskIds" if i in self._object_form else base
        for j, dep in enumerate(deps):
            if self._first_index.get(dep) == following:
                return f"{ids}[{j}]"
        target = int(self._ids[following] or 0)
        for j, start, end in self._ranges.get(i, ()):
            if start <= target <= end:
                return f"{base}.taskIdRanges[{j}]"
        return base

    def _bad_dependencies(self, checker: Checker, i: int, deps: list[str]) -> list[int]:
        """Report the problems in task i's dependencies; returns the edges that are fine."""
        succ: list[int] = []
        seen: dict[str, int] = {}
        field = "dependsOn.taskIds" if i in self._object_form else "dependsOn"
        for j, dep in enumerate(deps):
            k = self._first_index.get(dep)
            where = f"{self.position_name(i)}.{field}[{j}]"
            if dep == self._ids[i]:
                checker.add(where, "a task cannot depend on itself")
            elif k is None:
                checker.add(where, f"unknown task '{dep}'")
            elif dep in seen:
                checker.add(where, f"'{dep}' is listed twice (also at {field}[{seen[dep]}])")
            else:
                seen[dep] = j
                succ.append(k)
        return succ

    def _name(self, i: int) -> str:
        return self._ids[i] or self.position_name(i)


def _arrows(names: list[str]) -> str:
    # A cycle through 100,000 tasks is reported with its ends, not all of its members.
    if len(names) > 20:
        names = [*names[:10], f"... ({len(names) - 15} more) ...", *names[-5:]]
    return " -> ".join([*names, names[0]])
