"""A helper for apps' own tests: run devhost for a script root on a free port, in its own process.

    with DevHostProcess(Path("my_app"), manual_clock=True) as host:
        requests.post(f"{host.base_url}/api/orchestrators/hello")
        host.advance_clock(60)

The process is started with this interpreter, on 127.0.0.1 and a port the OS picks, and stopped by its PID
(SIGTERM, then SIGKILL if it does not stop). `kill()` ends it at once, as a crash would. With
`require_keys=True`, `keys` holds the keys devhost printed, and `advance_clock` sends the master key.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from devhost.host import READY_LINE

REPO_ROOT = Path(__file__).resolve().parent.parent


class DevHostStartError(RuntimeError):
    """devhost did not come up; the message carries what it printed."""


@dataclass(frozen=True)
class HostKeys:
    """The keys a devhost started with `--require-keys` printed."""

    function_key: str
    master_key: str
    system_key: str


_KEY_LINES = {"Function key": "function_key", "Master key": "master_key", "System key (Durable webhooks)": "system_key"}


def _printed_keys(lines: list[str]) -> HostKeys | None:
    found: dict[str, str] = {}
    for line in lines:
        name, _, value = line.strip().partition(": ")
        if name in _KEY_LINES:
            found[_KEY_LINES[name]] = value
    return HostKeys(**found) if len(found) == len(_KEY_LINES) else None


class DevHostProcess:
    """One devhost process for a script root."""

    def __init__(
        self,
        script_root: Path,
        *,
        state_dir: Path | None = None,
        manual_clock: bool = False,
        require_keys: bool = False,
        env: dict[str, str] | None = None,
        start_timeout: float = 60.0,
        extra_args: list[str] | None = None,
        code_root: Path = REPO_ROOT,
    ) -> None:
        """`code_root`: the tree devhost and the app's packages are imported from (another version's checkout,
        to start a host on older code)."""
        self.script_root = Path(script_root).resolve()
        self.code_root = Path(code_root).resolve()
        self.state_dir = state_dir
        self.manual_clock = manual_clock
        self.require_keys = require_keys
        self.env = env or {}
        self.start_timeout = start_timeout
        self.extra_args = extra_args or []
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.keys: HostKeys | None = None
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pump_thread: threading.Thread | None = None

    def start(self) -> DevHostProcess:
        args = [sys.executable, "-m", "devhost", "start", "--script-root", str(self.script_root), "--port", "0"]
        if self.state_dir is not None:
            args += ["--state-dir", str(self.state_dir)]
        if self.manual_clock:
            args.append("--manual-clock")
        if self.require_keys:
            args.append("--require-keys")
        args += self.extra_args
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.code_root), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.script_root
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith(READY_LINE):
                self.base_url = line[len(READY_LINE) :].strip()
                self.keys = _printed_keys(self.output)
                return self
        self.stop()
        raise DevHostStartError("devhost did not start:\n" + "".join(self.output))

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def advance_clock(self, seconds: float) -> None:
        """Move the host's manual clock forward."""
        headers = {"x-functions-key": self.keys.master_key} if self.keys else {}
        request = urllib.request.Request(
            f"{self.base_url}/admin/devhost/clock/advance?seconds={seconds}", method="POST", headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            json.load(response)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the process by its PID: SIGTERM, then SIGKILL if it has not ended within `timeout`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_output()

    def _close_output(self) -> None:
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=10)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_output()

    def __enter__(self) -> DevHostProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
