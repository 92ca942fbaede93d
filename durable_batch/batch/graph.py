"""Graph algorithms over task dependencies, with tasks numbered 0..n-1 in job order.

Everything here is iterative: a chain of 100,000 tasks would overflow Python's recursion limit otherwise.
Each function is O(tasks + dependencies) and deterministic (results are in task order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cycle:
    """A dependency cycle: `path[0]` depends on `path[1]`, ..., and the last depends on `path[0]`.

    `group` is every task of the strongly connected component the cycle was found in (in task order): all of
    them depend on each other, and breaking `path` alone may leave another cycle among them."""

    path: tuple[int, ...]
    group: tuple[int, ...]


def find_cycles(successors: Sequence[Sequence[int]]) -> list[Cycle]:
    """One `Cycle` per strongly connected component that contains a cycle, ordered by their first task.

    `successors[i]` lists the tasks that task i depends on. A task that lists itself is a one-task cycle.
    Each cycle starts at the group's first task and is a shortest cycle through it, so messages stay short.
    """
    n = len(successors)
    # Tarjan's algorithm with an explicit stack of (task, next successor position) frames.
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    groups: list[list[int]] = []
    counter = 0
    for root in range(n):
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        frames = [root]
        positions = [0]
        while frames:
            v = frames[-1]
            succ = successors[v]
            i = positions[-1]
            if i < len(succ):
                positions[-1] = i + 1
                w = succ[i]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    frames.append(w)
                    positions.append(0)
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            frames.pop()
            positions.pop()
            if frames and low[v] < low[frames[-1]]:
                low[frames[-1]] = low[v]
            if low[v] == index[v]:
                group: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1 or v in successors[v]:
                    group.sort()
                    groups.append(group)
    groups.sort(key=lambda g: g[0])
    return [Cycle(_shortest_cycle_through(g[0], g, successors), tuple(g)) for g in groups]


def _shortest_cycle_through(start: int, group: list[int], successors: Sequence[Sequence[int]]) -> tuple[int, ...]:
    # Breadth-first search inside the group, in successor order, so the cycle found is deterministic.
    members = set(group)
    parent: dict[int, int] = {start: start}
    frontier = [start]
    while frontier:
        following: list[int] = []
        for v in frontier:
            for w in successors[v]:
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return tuple(reversed(path))
                if w in members and w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError("a strongly connected group always has a cycle through each member")


def weak_components(n: int, successors: Sequence[Sequence[int]]) -> list[int]:
    """Label each task with its weakly connected component (dependencies taken as undirected edges).

    Labels are 0, 1, 2, ... in the order of each component's first task, so the result is deterministic.
    """
    parent = list(range(n))

    def find(x: int) -> int:
        # Path halving keeps the trees shallow without recursion.
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for v in range(n):
        for w in successors[v]:
            a, b = find(v), find(w)
            if a != b:
                # The smaller root wins, so a component's root is its first task.
                if a < b:
                    parent[b] = a
                else:
                    parent[a] = b
    labels = [0] * n
    label_of_root: dict[int, int] = {}
    for v in range(n):
        root = find(v)
        label = label_of_root.get(root)
        if label is None:
            label = label_of_root[root] = len(label_of_root)
        labels[v] = label
    return labels
