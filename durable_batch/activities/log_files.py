"""Unnamed files for command runs' stdout and stderr, kept and emptied for later runs of the same worker.

A file per stream per run was two new inodes and two deletions a command: on ext4, allocating inodes while many
were freed just before (`recently_deleted`) was a large share of a short command's CPU. A file is handed on only
after the run that used it has returned with every one of its processes dead, so nothing of one run can still
write into the next's; a run that could not say so closes its files instead (`give_back(..., reuse=False)`).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import IO

__all__ = ["LogFiles", "log_files"]

SPARE_FILES = 64
"""Emptied files kept per work folder: as many as a worker's commands running at once use, about."""


class LogFiles:
    """A pool of emptied unnamed files, per folder they lie in."""

    def __init__(self, spare: int = SPARE_FILES) -> None:
        self._spare = spare
        self._lock = threading.Lock()
        self._kept: dict[Path, list[IO[bytes]]] = {}

    def take(self, folder: Path) -> IO[bytes]:
        """An empty file in `folder`: a kept one, or a new one."""
        with self._lock:
            kept = self._kept.get(folder)
            if kept:
                return kept.pop()
        return tempfile.TemporaryFile(dir=folder)

    def give_back(self, folder: Path, stream: IO[bytes], *, reuse: bool) -> None:
        """Empty the file and keep it for a later run (`reuse`: nothing of its run can write to it any more)."""
        if reuse:
            try:
                stream.seek(0)
                stream.truncate()
            except OSError:
                pass
            else:
                with self._lock:
                    kept = self._kept.setdefault(folder, [])
                    if len(kept) < self._spare:
                        kept.append(stream)
                        return
        stream.close()

    def forget(self) -> None:
        """Drop every kept file (a forked child shares them with its parent: it must not empty them)."""
        with self._lock:
            kept, self._kept = self._kept, {}
        for streams in kept.values():
            for stream in streams:
                stream.close()


log_files = LogFiles()
os.register_at_fork(after_in_child=log_files.forget)
