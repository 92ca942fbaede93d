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
from collections.abc import Callable

from durable_batch.batch.checks import Checker
from durable_batch.batch.graph import find_cycles

__all__ = ["MAX_DEPENDENCIES", "MAX_RANGE_ID", "DependencyIndex"]

MAX_DEPENDENCIES = 2_000_000
"""The most dependencies of a job in all, a range counting the tasks it names: the plan and the scheduler
hold every one, so a few small ranges must not ask for billions."""
MAX_RANGE_ID = 10**18 - 1
"""The largest task id a `taskIdRanges` range can name."""
_INTEGER_ID = re.compile(r"0|[1-9][0-9]{0,17}")
"""A task id that a `taskIdRanges` range can name: a whole number as written without leading zeros."""


def _tasks_name(index: int) -> str:
    return f"tasks[{index}]"


class DependencyIndex:
    """Each task's id and dependencies by position; `position_name` says how a position is named in messages
    (`tasks[3]` inline, `line 4` in a JSON Lines source)."""

    def __init__(self, position_name: Callable[[int], str] = _tasks_name) -> None:
        self.position_name = position_name
        self._ids: list[str | None] = []
        self._depends_on: list[list[str] | None] = []
        self._first_index: dict[str, int] = {}
        # Tasks' `taskIdRanges` by position, (index in taskIdRanges, start, end), and the positions whose
        # dependsOn is the object form (`{taskIds, taskIdRanges}`), whose entries have paths of their own.
        self._ranges: dict[int, list[tuple[int, int, int]]] = {}
        self._object_form: set[int] = set()
        self.add_plain = self._plain_recorder()
        """`add_plain(task_id, depends_on, i)`: record the next task, at position i, unless another task has its
        id (then False, and nothing is recorded): `claim` and `add` in one call, for the fast path."""

    def _plain_recorder(self) -> Callable[[str, list[str] | None, int], bool]:
        # A closure over the lists rather than a method: the fast path calls it once a line, up to a million
        # times in one submit, and the lists are then in its cells, not looked up on `self` on every call.
        claim, add_id, add_depends_on = self._first_index.setdefault, self._ids.append, self._depends_on.append

        def add_plain(task_id: str, depends_on: list[str] | None, i: int) -> bool:
            if claim(task_id, i) != i:
                return False
            add_id(task_id)
            add_depends_on(depends_on)
            return True

        return add_plain

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def has_dependencies(self) -> bool:
        return any(self._depends_on) or bool(self._ranges)

    def claim(self, task_id: str, i: int) -> int:
        """Take `task_id` for the task at position i, unless an earlier task has it; the position of the task
        that has it."""
        return self._first_index.setdefault(task_id, i)

    def add(
        self,
        task_id: str | None,
        depends_on: list[str] | None,
        ranges: list[tuple[int, int, int]] | None = None,
        *,
        object_form: bool = False,
    ) -> None:
        """Record the next task: its id (claimed first), its `dependsOn` ids and the ranges that were valid
        (index in `taskIdRanges`, start, end); None for what it does not have, or has wrong."""
        i = len(self._ids)
        self._ids.append(task_id)
        self._depends_on.append(depends_on)
        if ranges:
            self._ranges[i] = ranges
        if object_form:
            self._object_form.add(i)

    def check(self, checker: Checker) -> None:
        """Report what is wrong with the dependencies of the tasks recorded so far."""
        n = len(self._ids)
        no_edges: list[int] = []
        successors: list[list[int]] = [no_edges] * n
        first_index = self._first_index
        total = 0
        for i, deps in enumerate(self._depends_on):
            if not deps:
                continue
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
        deps = self._depends_on[i] or []
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
