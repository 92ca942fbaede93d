"""How much memory devhost's processes keep: glibc's malloc arenas, bounded for the host and its workers.

glibc gives each thread that allocates under contention an arena of its own, up to eight per core, and memory
freed in an arena mostly stays with the process. devhost's host serves requests, reads its store and checks
submits on a handful of threads: through a million-task job it held about 160 MiB at its peak where 110 served
(its live Python objects were under 50 MiB), with no change in the job's time. Two arenas is the common bound for
threaded Python services. A `MALLOC_ARENA_MAX` the user set is left as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["ARENAS", "bound_malloc_arenas"]

ARENAS = 2
_M_ARENA_MAX = -8
"""`mallopt`'s parameter number for the arena bound (glibc's malloc.h)."""


def bound_malloc_arenas() -> bool:
    """Bound this process's malloc arenas to `ARENAS`, and those of the processes it starts from now on (they
    read `MALLOC_ARENA_MAX` as they start). Call it before other threads start. Whether this process's bound
    was set: not where the user set their own, nor off Linux, nor on a C library without `mallopt`."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    os.environ["MALLOC_ARENA_MAX"] = str(ARENAS)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, ARENAS))
