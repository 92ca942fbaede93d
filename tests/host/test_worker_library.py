"""On Python 3.13 devhost runs the app through Azure's worker library, `azure-functions-runtime`, end to end: the
HTTP function, the orchestrator, a sync activity (in a worker process and in the host's), an async activity and
the entity are each invoked by it. Below 3.13 devhost invokes them itself. Replacing the library by devhost's own
path on 3.13 fails this test: only the library sets its invocation id and passes its own `func.Context`.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from devhost.testing import DevHostProcess
from tests.conftest import SdkLoop
from tests.host.helpers import Client

APPS = Path(__file__).resolve().parent.parent / "apps"
pytestmark = pytest.mark.host

ON_WORKER_LIBRARY = sys.version_info >= (3, 13)


def _post(url: str) -> dict[str, object]:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, object] = json.loads(response.read())
        return body


@pytest.mark.parametrize("in_process", [False, True], ids=["worker-processes", "in-process"])
def test_every_kind_of_function_is_invoked_by_the_worker_library_on_313(
    tmp_path: Path, sdk: SdkLoop, in_process: bool
) -> None:
    args = ["--in-process"] if in_process else []
    with DevHostProcess(APPS / "devhost_worker_probe", state_dir=tmp_path / "state", extra_args=args) as host:
        answer = _post(f"{host.base_url}/api/probe/sync")
        context_module = "azure_functions_runtime.bindings.context" if ON_WORKER_LIBRARY else "devhost.invoke"
        assert answer["context"] == context_module
        status = Client(host, sdk).wait(str(answer["instance"]))
        assert status.runtime_status.value == "Completed", status.output
        assert status.output == {
            "orchestrator": ON_WORKER_LIBRARY,
            "activity": {"kind": "sync", "context": context_module, "worker": ON_WORKER_LIBRARY},
            "async_activity": context_module,
            "entity": ON_WORKER_LIBRARY,
        }
