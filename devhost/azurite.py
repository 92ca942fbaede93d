"""Start and stop the Azurite storage emulator from Python, on free ports, and stop only what was started.

Used by the test fixture (`tests/azurite_fixture.py`) and by the README's run command::

    python -m devhost.azurite --location .azurite            # default ports 10000-10002, until Ctrl-C

and by `devhost start --azurite`, which starts one for the app it runs.

Azurite is launched as ``node node_modules/azurite/dist/src/azurite.js`` (never through ``npx``, which
leaves an orphan process holding the ports) with ``--skipApiVersionCheck``, because current Azure SDKs send a
newer service version than Azurite accepts. It is stopped with SIGTERM: in disk mode Azurite saves its state
every few seconds, and a SIGKILL would lose the latest writes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

__all__ = [
    "ACCOUNT_KEY",
    "ACCOUNT_NAME",
    "DEFAULT_PORTS",
    "Azurite",
    "AzuriteError",
    "AzuriteNotInstalled",
    "AzuriteStartError",
    "TlsFiles",
    "connection_string",
    "find_azurite_script",
    "free_port",
    "main",
    "start_azurite",
]

# The well-known development account of the emulator; not a secret.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEFAULT_PORTS = (10000, 10001, 10002)
LOCALHOST = "127.0.0.1"
_SCRIPT = Path("node_modules", "azurite", "dist", "src", "azurite.js")
_REPO_ROOT = Path(__file__).resolve().parent.parent
# A start that loses the race for a port picked with `free_port()` is retried on new ports this many times.
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate and its private key, for an Azurite that serves HTTPS."""

    cert: Path
    key: Path


class AzuriteError(Exception):
    """Root of the errors this module raises."""


class AzuriteNotInstalled(AzuriteError):
    """Node.js or the Azurite package is missing."""


class AzuriteStartError(AzuriteError):
    """Azurite exited during start-up or did not accept connections in time."""


def find_azurite_script(root: Path | None = None) -> Path:
    """The Azurite entry script: under ``root/node_modules`` when ``root`` is given; else from the first of the
    current folder's ``node_modules`` (``npm install azurite`` in an app's folder), this checkout's (a clone of
    Durable Batch, after ``npm ci``) and an ``azurite`` on PATH (``npm install -g azurite``)."""
    bases = [root] if root is not None else [Path.cwd(), _REPO_ROOT]
    for base in bases:
        if (base / _SCRIPT).is_file():
            return base / _SCRIPT
    if root is None:
        on_path = shutil.which("azurite")
        if on_path is not None and Path(on_path).resolve().name == _SCRIPT.name:
            return Path(on_path).resolve()
    raise AzuriteNotInstalled(
        f"Azurite is not installed: no {_SCRIPT} in {' or '.join(str(base) for base in bases)}"
        + ("" if root is not None else " and no azurite on PATH")
        + f". Run `npm install azurite` in {bases[0]} to install it."
    )


def _find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise AzuriteNotInstalled("Node.js is not on PATH; Azurite needs it. Install Node.js 18 or newer.")
    return node


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port the OS reports free on ``host`` now (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def connection_string(
    blob_port: int, queue_port: int, table_port: int, host: str = LOCALHOST, scheme: str = "http"
) -> str:
    """The full development-account connection string for an emulator on these ports."""
    base = f"{scheme}://{host}"
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{ACCOUNT_NAME};"
        f"QueueEndpoint={base}:{queue_port}/{ACCOUNT_NAME};"
        f"TableEndpoint={base}:{table_port}/{ACCOUNT_NAME};"
    )


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Azurite:
    """A running Azurite process that this object started, with its ports and connection string.

    Use `start_azurite` to create one. ``stop()`` (or leaving the ``with`` block) ends it; it signals only
    the PID it started.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        location: Path,
        host: str,
        blob_port: int,
        queue_port: int,
        table_port: int,
        log_path: Path,
        scheme: str = "http",
    ) -> None:
        self._process = process
        self.scheme = scheme
        self.location = location
        self.host = host
        self.blob_port = blob_port
        self.queue_port = queue_port
        self.table_port = table_port
        self.log_path = log_path

    @property
    def pid(self) -> int:
        """The PID of the Azurite (node) process."""
        return self._process.pid

    @property
    def connection_string(self) -> str:
        """The development-account connection string with Blob, Queue and Table endpoints on this instance."""
        return connection_string(self.blob_port, self.queue_port, self.table_port, self.host, self.scheme)

    @property
    def blob_endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.blob_port}/{ACCOUNT_NAME}"

    @property
    def queue_endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.queue_port}/{ACCOUNT_NAME}"

    @property
    def table_endpoint(self) -> str:
        return f"{self.scheme}://{self.host}:{self.table_port}/{ACCOUNT_NAME}"

    def is_running(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop Azurite: SIGTERM (so it saves its state), wait ``timeout`` s, then SIGKILL as a last resort.

        Returns the exit code (``None`` only if even SIGKILL did not end it in time). Safe to call twice.
        """
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(5.0)
        return self._process.poll()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"Azurite(pid={self.pid}, blob={self.blob_port}, queue={self.queue_port}, "
            f"table={self.table_port}, location={str(self.location)!r})"
        )


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-limit:].strip()


def _launch(
    node: str,
    script: Path,
    location: Path,
    host: str,
    ports: tuple[int, int, int],
    log: IO[bytes],
    tls: TlsFiles | None = None,
) -> subprocess.Popen[bytes]:
    blob, queue, table = ports
    argv = [
        node,
        str(script),
        "--skipApiVersionCheck",
        "--silent",
        "--disableTelemetry",
        "--location",
        str(location),
        "--blobHost",
        host,
        "--blobPort",
        str(blob),
        "--queueHost",
        host,
        "--queuePort",
        str(queue),
        "--tableHost",
        host,
        "--tablePort",
        str(table),
    ]
    if tls is not None:
        # Azurite checks bearer tokens only over HTTPS; "basic" checks their lifetime, issuer and audience.
        argv += ["--cert", str(tls.cert), "--key", str(tls.key), "--oauth", "basic"]
    # A session of its own: a Ctrl-C in the terminal reaches only our process, which then stops Azurite with
    # SIGTERM itself (rather than both racing to shut down).
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def start_azurite(
    location: str | os.PathLike[str],
    *,
    blob_port: int = 0,
    queue_port: int = 0,
    table_port: int = 0,
    host: str = LOCALHOST,
    startup_timeout: float = 30.0,
    root: Path | None = None,
    tls: TlsFiles | None = None,
) -> Azurite:
    """Start Azurite with its data in ``location`` and wait until Blob, Queue and Table accept connections.

    With ``tls``, Azurite serves HTTPS with that certificate and accepts OAuth bearer tokens (``--oauth
    basic``) as well as the account key. A port of 0 means "a free port picked now". ``startup_timeout``
    bounds the wait. Azurite's output goes to ``location/azurite.log``. Raises `AzuriteNotInstalled` or
    `AzuriteStartError`; on failure nothing is left running.
    """
    script = find_azurite_script(root)
    node = _find_node()
    folder = Path(location).resolve()
    # Its data (every blob, table and queue, the account key's work) is the user's alone.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    log_path = folder / "azurite.log"
    wanted = (blob_port, queue_port, table_port)
    # Only picked ports can lose a race with another process; fixed ports fail on the first attempt.
    attempts = _START_ATTEMPTS if 0 in wanted else 1
    last_error = ""
    for _ in range(attempts):
        ports = _pick_ports(wanted, host)
        with log_path.open("ab") as log:
            process = _launch(node, script, folder, host, ports, log, tls)
        azurite = Azurite(
            process,
            location=folder,
            host=host,
            blob_port=ports[0],
            queue_port=ports[1],
            table_port=ports[2],
            log_path=log_path,
            scheme="http" if tls is None else "https",
        )
        try:
            if _wait_ready(azurite, startup_timeout):
                return azurite
        except BaseException:
            azurite.stop()
            raise
        code = azurite.stop()
        last_error = f"Azurite exited with code {code}. Its output ({log_path}):\n{_tail(log_path)}"
    raise AzuriteStartError(
        last_error or f"Azurite did not accept connections within {startup_timeout:.0f} s (log: {log_path})."
    )


def _pick_ports(wanted: tuple[int, int, int], host: str) -> tuple[int, int, int]:
    picked: list[int] = []
    for port in wanted:
        candidate = port or free_port(host)
        while candidate in picked:
            candidate = free_port(host)
        picked.append(candidate)
    return picked[0], picked[1], picked[2]


def _wait_ready(azurite: Azurite, timeout: float) -> bool:
    """True once all three ports accept connections; False if the process exited first.

    Raises `AzuriteStartError` when the deadline passes with the process still alive.
    """
    deadline = time.monotonic() + timeout
    pending = [azurite.blob_port, azurite.queue_port, azurite.table_port]
    while pending:
        if not azurite.is_running():
            return False
        pending = [port for port in pending if not _accepts(azurite.host, port)]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise AzuriteStartError(
                f"Azurite (pid {azurite.pid}) did not accept connections on port(s) {pending} within "
                f"{timeout:.0f} s. Its output ({azurite.log_path}):\n{_tail(azurite.log_path)}"
            )
        time.sleep(0.05)
    # Ports can open while start-up still fails elsewhere (one port already taken); confirm it stays up.
    return azurite.is_running()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devhost.azurite",
        description="Run the Azurite storage emulator in the foreground until Ctrl-C.",
    )
    parser.add_argument("--location", default=".azurite", help="data folder (default: .azurite)")
    parser.add_argument("--host", default=LOCALHOST, help=f"listening address (default: {LOCALHOST})")
    parser.add_argument("--blob-port", type=int, default=DEFAULT_PORTS[0], help="0 picks a free port")
    parser.add_argument("--queue-port", type=int, default=DEFAULT_PORTS[1], help="0 picks a free port")
    parser.add_argument("--table-port", type=int, default=DEFAULT_PORTS[2], help="0 picks a free port")
    parser.add_argument("--startup-timeout", type=float, default=30.0, help="seconds (default: 30)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: start Azurite, print its connection string, wait for Ctrl-C or SIGTERM, stop it."""
    args = _parse_args(argv)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        azurite = start_azurite(
            args.location,
            blob_port=args.blob_port,
            queue_port=args.queue_port,
            table_port=args.table_port,
            host=args.host,
            startup_timeout=args.startup_timeout,
        )
    except AzuriteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # start_azurite has already stopped what it started.
        return 130
    try:
        with azurite:
            try:
                print(f"Azurite is running (pid {azurite.pid}, data in {azurite.location}).", flush=True)
                print("Ctrl-C stops it.", flush=True)
                print(f"AzureWebJobsStorage={azurite.connection_string}", flush=True)
                while azurite.is_running():
                    time.sleep(0.5)
            except KeyboardInterrupt:
                print("Stopping Azurite...", file=sys.stderr, flush=True)
                return 0
            print(f"Azurite exited on its own; see {azurite.log_path}", file=sys.stderr)
            return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
