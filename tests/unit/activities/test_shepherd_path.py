"""Where the shepherd looks for a command (`command_paths`), found before its fork as subprocess finds it: the
program itself when it names a folder, else each folder of the command's own PATH (empty: the working folder)."""

from __future__ import annotations

import os

import pytest

from durable_batch.activities.shepherd import command_paths

pytestmark = pytest.mark.unit


def test_a_program_with_a_folder_is_tried_as_it_is() -> None:
    assert command_paths("./run.sh", {"PATH": "/bin"}) == ["./run.sh"]
    assert command_paths("/usr/bin/true", {}) == ["/usr/bin/true"]


def test_a_bare_name_is_looked_up_on_the_commands_own_path() -> None:
    assert command_paths("tool", {"PATH": "/opt/x/bin::/bin"}) == ["/opt/x/bin/tool", "tool", "/bin/tool"]


def test_without_a_path_the_default_one_is_searched() -> None:
    assert command_paths("tool", {}) == [os.path.join(folder, "tool") for folder in os.defpath.split(os.pathsep)]
