"""Command tasks as devhost gives them out by default when it runs as root: each command a uid of its own, so
it reads neither the worker's environment (the storage connection string) nor its files nor another command's
folder, and nothing it starts or leaves in /tmp outlives it. Through the job API on devhost + Azurite.

Switching uids needs root, so this runs only as root (as CI does). The commands are shell scripts: the tests'
own Python lies under /root, where a command's uid cannot go.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import Azurite
from durable_batch.activities.command_users import processes_of
from durable_batch.app.settings import DEFAULT_COMMAND_UIDS
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.process.activities.command_support import public_folder

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="running commands as other uids needs root (CI runs as root)"),
]

PROBE = """
attempt() { if cat "$1" >/dev/null 2>&1; then echo read; else echo denied; fi; }
parent() { sed -n 's/^PPid:[[:space:]]*//p' "/proc/$1/status"; }
shepherd=$PPID
server=$(parent "$shepherd")
worker=$(parent "$server")
echo "uid=$(id -u)"
echo "worker_environ=$(attempt /proc/$worker/environ)"
echo "worker=$worker"
echo "secret=$(attempt "$1")"
echo "$BATCH_TASK_WORKING_DIR" > "$2/$(id -u)"
echo mine > note.txt
while [ "$(ls "$2" | wc -l)" -lt 2 ]; do sleep 0.05; done
for f in "$2"/*; do [ "$f" = "$2/$(id -u)" ] || other=$(cat "$f"); done
echo "other=$(attempt "$other/note.txt")"
(setsid env -i /bin/sh -c "echo \\$\\$ > $2/escaped-$(id -u); exec sleep 600" &)
while [ ! -s "$2/escaped-$(id -u)" ]; do sleep 0.01; done
echo left > /tmp/batch-isolation-$(id -u)
"""


@pytest.fixture
def public() -> Iterator[Path]:
    """A folder outside pytest's own (0700): the work root and the commands' meeting place."""
    with public_folder("batch-isolation-") as folder:
        yield folder


@pytest.fixture
def host(azurite: Azurite, public: Path, tmp_path: Path) -> Iterator[BatchHost]:
    # BATCH_COMMAND_USER empty: the default, as a user who sets nothing gets it.
    env = {"BATCH_COMMAND_USER": "", "BATCH_WORK_DIR": str(public / "work")}
    host = start_batch_host(azurite, tmp_path / "state", env)
    try:
        yield host
    finally:
        host.close()


def test_each_command_gets_a_uid_of_its_own_and_leaves_nothing_behind(host: BatchHost, public: Path) -> None:
    secret = public / "worker-only.txt"
    secret.write_text("the worker's secret")
    secret.chmod(0o600)
    meeting = public / "meeting"
    meeting.mkdir()
    meeting.chmod(0o777)
    job_id = host.unique_id("isolated")
    command = ["/bin/sh", "-c", PROBE, "probe", str(secret), str(meeting)]
    spec = {"id": job_id, "maxParallelTasks": 2, "tasks": [{"id": t, "commandLine": command} for t in ("a", "b")]}
    assert host.submit(spec).status_code == 202
    view = host.wait_for_job(job_id, timeout=120)
    assert view["state"] == "succeeded", view
    seen = []
    for task_id in ("a", "b"):
        logs = host.get(f"/jobs/{job_id}/tasks/{task_id}/logs").json()
        seen.append(dict(line.split("=", 1) for line in logs["stdout"].split()))
    uids = {int(s["uid"]) for s in seen}
    assert len(uids) == 2 and all(DEFAULT_COMMAND_UIDS.first <= uid <= DEFAULT_COMMAND_UIDS.last for uid in uids)
    for probe in seen:
        # The worker's environment holds the storage connection string (so the probe looked at the right process).
        assert b"AzureWebJobsStorage=" in Path(f"/proc/{probe['worker']}/environ").read_bytes()
        assert (probe["worker_environ"], probe["secret"], probe["other"]) == ("denied", "denied", "denied")
    for uid in uids:
        escaped = int((meeting / f"escaped-{uid}").read_text())
        assert not Path(f"/proc/{escaped}").exists() or "Z" in Path(f"/proc/{escaped}/stat").read_text().split()[2]
        assert processes_of(uid) == []
        assert not Path(f"/tmp/batch-isolation-{uid}").exists()
