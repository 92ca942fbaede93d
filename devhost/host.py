"""The host: loads the app and its settings, and runs the engine, the HTTP server and the timers together.

Everything runs on one long-lived event loop (the SDK keeps one global aiohttp session, so client functions
must all run on the same loop); the engine does its work on its own thread and activities on a pool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost import replay
from devhost.client_binding import client_payload, rpc_base_url, webhook_base_url
from devhost.clock import Clock, ManualClock, SystemClock
from devhost.config import HostConfig, load_config, settings_file_warning, storage_warning
from devhost.control import EngineManagement
from devhost.engine import Engine
from devhost.http.app import MAX_REQUEST_LINE, build_http_app, http_routes
from devhost.http.keys import KeySet
from devhost.http_activity import HttpActivity
from devhost.invoke import invoke_timer
from devhost.loader import IndexedFunction, load_app, loadable
from devhost.store import open_store
from devhost.timers import TimerScheduler, TimerTrigger
from devhost.workers import ClientSettings, WorkerPool, worker_process_count

log = logging.getLogger("devhost")

READY_LINE = "devhost: listening on"
WORKER_LOAD_SECONDS = 120
"""How long start-up waits for a worker process to load the app before it listens anyway (`DevHost.start`)."""


@dataclass(frozen=True)
class HostOptions:
    script_root: Path
    port: int = 7071
    bind: str = "127.0.0.1"
    require_keys: bool = False
    store: str | None = None
    state_dir: Path | None = None
    manual_clock: bool = False
    in_process: bool = False
    """Run `def` activities on threads of the host's own process instead of worker processes (to step through
    them in a debugger); a handler that ends its process then ends the host."""


def store_kind(options: HostOptions, config: HostConfig, environ: Mapping[str, str]) -> str:
    """`--store`, else DEVHOST_STORE, else "azure" when host.json's storage provider is AzureStorage, else
    "sqlite"."""
    if options.store:
        return options.store
    if environ.get("DEVHOST_STORE"):
        return environ["DEVHOST_STORE"].strip().lower()
    if (config.storage_provider_type or "").strip().lower() == "azurestorage":
        return "azure"
    return "sqlite"


class DevHost:
    """One running host. `start()` binds the port; `stop()` shuts everything down in order."""

    def __init__(self, options: HostOptions, environ: MutableMapping[str, str] | None = None) -> None:
        self.options = options
        self.environ = os.environ if environ is None else environ
        self.config: HostConfig = load_config(options.script_root, self.environ)
        root = self.config.script_root
        warnings = (storage_warning(root, self.environ), settings_file_warning(root))
        self.warnings = [warning for warning in warnings if warning]
        # Functions whose bindings the host cannot register are in error: not loaded, and said so at start-up.
        # On 3.13 the worker library runs sync functions on a pool of its own: room for the activities the host
        # runs at once when they run in its process, and for orchestrator and entity episodes besides.
        threads = self.config.max_concurrent_activity_functions + 2
        index = load_app(self.config.script_root, script_file=self.config.script_file, worker_threads=threads)
        self.index, self.functions_in_error = loadable(index, self.config.durable_missing)
        self.clock: Clock = ManualClock() if options.manual_clock else SystemClock()
        if self.environ.get("DEVHOST_FAST_TIMESTAMPS", "1") != "0":
            replay.use_fast_timestamp_parsing()
        state_dir = options.state_dir or self.config.script_root / ".devhost"
        self.store = open_store(
            store_kind(options, self.config, self.environ),
            state_dir=state_dir,
            hub=self.config.hub_name,
            settings=self.environ,
            connection_name=self.config.storage_connection_name,
        )
        self.http_activity = HttpActivity()
        self.engine = Engine(
            self.index,
            self.store,
            self.clock,
            max_activities=self.config.max_concurrent_activity_functions,
            http_caller=self.http_activity,
        )
        self.management = EngineManagement(self.engine)
        self.keys = KeySet.generate() if options.require_keys else None
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._timers: TimerScheduler | None = None

    async def start(self) -> str:
        """Start serving; returns the base URL (with the port the OS picked when the port is 0)."""
        if not self.options.in_process:
            # Before the engine starts: the activities it recovers at start go to the workers too. They are
            # sent once a worker has loaded the app, by when the client settings below are known.
            processes = worker_process_count(self.environ)
            self.engine.workers = WorkerPool(
                self.config.script_root,
                self.config.script_file,
                processes=processes,
                threads=max(1, -(-self.config.max_concurrent_activity_functions // processes)),
                on_replies=self.engine.complete_all,
                client_settings=lambda: self.engine.client_settings,
            )
        await self.engine.start()
        if self.engine.workers is not None:
            await self._wait_for_a_worker()
        app = build_http_app(self.index, self.config, self.management, keys=self.keys, clock=self.clock)
        self._runner = web.AppRunner(app, access_log=None, max_line_size=MAX_REQUEST_LINE)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.bind, self.options.port)
        await site.start()
        # With port 0 the OS picks the port: read it back from the listening socket.
        addresses = self._runner.addresses
        port = int(addresses[0][1]) if addresses else self.options.port
        self.base_url = f"http://{self.options.bind}:{port}"
        self.engine.client_payload = self._client_payload
        # Functions the host triggers itself (timers, activities) have no caller who presented a key, so their
        # management URLs carry none; their client reaches the RPC base with the secret in rpcBaseUrl.
        self.engine.client_settings = ClientSettings(
            webhook_base_url(self.base_url), self._rpc_base_url(), self.config.hub_name, None
        )
        triggers = [TimerTrigger(fn, self.environ) for fn in self.index.timer_functions]
        self._timers = TimerScheduler(triggers, self.clock, self._fire_timer)
        self._timers.start()
        return self.base_url

    async def _wait_for_a_worker(self) -> None:
        """The Functions host routes requests to an app's functions once a worker has indexed the app: devhost
        listens once a worker process has loaded it (or none can: then activities fail with the reason), so the
        first job after start does not queue behind the workers' imports."""
        assert self.engine.workers is not None
        if not await asyncio.to_thread(self.engine.workers.wait_loaded, WORKER_LOAD_SECONDS):
            log.warning("no worker process has loaded the app after %d s; listening anyway", WORKER_LOAD_SECONDS)

    async def stop(self) -> None:
        if self._timers is not None:
            await self._timers.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.engine.stop()
        await self.http_activity.close()

    def _rpc_base_url(self) -> str:
        return rpc_base_url(self.base_url, self.keys.rpc_secret if self.keys else None)

    def _client_payload(self, binding: Any) -> str:
        """The durable client binding value for functions the host itself triggers (timers, activities)."""
        return client_payload(webhook_base_url(self.base_url), self._rpc_base_url(), self.config.hub_name, binding)

    async def _fire_timer(self, function: IndexedFunction, past_due: bool) -> object:
        return await invoke_timer(
            function,
            past_due=past_due,
            client_payload=self._client_payload,
            function_directory=str(self.config.script_root),
        )

    def banner(self) -> str:
        lines = ["", "Functions:", ""]
        for route in http_routes(self.index):
            methods = ",".join(route.methods) if route.methods else "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS"
            path = "/".join(
                p
                for p in (self.config.route_prefix, str(route.function.trigger.get("route") or route.function.name))
                if p
            )
            lines.append(f"        {route.function.name}: [{methods}] {self.base_url}/{path}")
        for fn in self.index.functions:
            if fn.trigger_type != "httpTrigger":
                lines.append(f"        {fn.name}: {fn.trigger_type}")
        if self.functions_in_error:
            lines += ["", "Functions in error (not loaded):", ""]
            lines += [f"        {error.name}: {error.reason}" for error in self.functions_in_error]
        if self.keys is not None:
            lines += [
                "",
                f"Function key: {self.keys.function_key}",
                f"Master key: {self.keys.master_key}",
                f"System key (Durable webhooks): {self.keys.system_key}",
            ]
        lines += ["", f"Durable state: {self.store.location}"]
        return "\n".join(lines)


async def serve(options: HostOptions, stop: asyncio.Event) -> None:
    """Run a host until `stop` is set (the CLI sets it on SIGINT or SIGTERM)."""
    host = DevHost(options)
    for warning in host.warnings:
        print(warning, file=sys.stderr, flush=True)
    url = await host.start()
    print(host.banner(), flush=True)
    print(f"{READY_LINE} {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await host.stop()
