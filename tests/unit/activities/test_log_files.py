"""The pool of emptied log files for command runs (`durable_batch.activities.log_files`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_batch.activities.log_files import LogFiles


@pytest.fixture
def files() -> Iterator[LogFiles]:
    pool = LogFiles(spare=1)
    yield pool
    pool.forget()


def test_a_file_given_back_whole_is_emptied_and_handed_out_again(files: LogFiles, tmp_path: Path) -> None:
    stream = files.take(tmp_path)
    stream.write(b"the first run's output")
    files.give_back(tmp_path, stream, reuse=True)
    with files.take(tmp_path) as again:
        assert again is stream
        assert again.seek(0, 2) == 0  # empty
    assert list(tmp_path.iterdir()) == []  # unnamed: nothing in the folder to find


def test_a_file_whose_run_may_still_write_is_closed_not_kept(files: LogFiles, tmp_path: Path) -> None:
    stream = files.take(tmp_path)
    files.give_back(tmp_path, stream, reuse=False)
    assert stream.closed
    with files.take(tmp_path) as other:
        assert other is not stream


def test_files_are_kept_per_folder_and_only_up_to_the_spare_count(files: LogFiles, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first, second = files.take(one), files.take(one)
    files.give_back(one, first, reuse=True)
    files.give_back(one, second, reuse=True)
    assert second.closed and not first.closed  # one spare at most
    with files.take(two) as other:
        assert other is not first  # another folder's file is not handed out
    assert files.take(one) is first
    first.close()


def test_forget_closes_every_kept_file(files: LogFiles, tmp_path: Path) -> None:
    stream = files.take(tmp_path)
    files.give_back(tmp_path, stream, reuse=True)
    files.forget()
    assert stream.closed
    with files.take(tmp_path) as other:
        assert other is not stream
