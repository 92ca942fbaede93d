"""The pool routes: named sets of task slots that jobs share (`durable_batch.batch.pools`, `durable_batch.batch.slots`).

| method and route             | success                                       | errors                 |
|------------------------------|-----------------------------------------------|------------------------|
| `PUT /api/pools/{poolId}`    | 201 view + `Location` (200: it was redefined) | 400, 413               |
| `GET /api/pools`             | 200 `{"value", "continuationToken", ...}`     | 400                    |
| `GET /api/pools/{poolId}`    | 200 view                                      | 404                    |
| `DELETE /api/pools/{poolId}` | 204                                           | 404, 409               |

A pool's definition is a row (`durable_batch.storage.pools`); how its slots are in use is its entity's ledger
(`durable_batch.orchestrators.pool`), which a `PUT` configures by a signal and a view reads. The `default` pool always
exists: until a `PUT` defines it, its size is the `BATCH_DEFAULT_POOL_SLOTS` setting.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from durable_batch.api import http
from durable_batch.api.errors import json_response
from durable_batch.api.views import page
from durable_batch.app.services import Services
from durable_batch.batch import wire
from durable_batch.batch.errors import BodyTooLargeError, SpecError
from durable_batch.batch.pools import DEFAULT_POOL, parse_pool, pool_id_problem
from durable_batch.batch.slots import Ledger
from durable_batch.batch.times import iso
from durable_batch.operations.errors import Conflict, InvalidPool, PoolNotFound, refused_spec
from durable_batch.storage.pools import PoolRecord, undefined_pool

__all__ = ["job_slots", "pool_entity_id", "read_ledger", "register"]

DEFAULT_PAGE_SIZE = 50


def pool_entity_id(pool_id: str) -> Any:
    return df.EntityId(wire.POOL_ENTITY, pool_id)


def register(bp: df.Blueprint, services: Services) -> None:
    """Register the pool routes on `bp`; their functions close over `services`."""
    app = http.registrar(bp)

    @app.route(route="pools", methods=["GET"])
    @app.durable_client_input(client_name="client")
    async def api_pools(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return await http.guarded(lambda: list_pools(req, client, services))

    @app.route(route="pools/{poolId}", methods=["GET", "PUT", "DELETE"])
    @app.durable_client_input(client_name="client")
    async def api_pool(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        method = req.method.upper()
        if method == "PUT":
            return await http.guarded(lambda: put(req, client, services))
        if method == "DELETE":
            return await http.guarded(lambda: delete(req, client, services))
        return await http.guarded(lambda: get(req, client, services))


def _default(services: Services) -> PoolRecord:
    """The `default` pool while no `PUT` has defined it: its size from the settings."""
    return undefined_pool(DEFAULT_POOL, services.settings.default_pool_slots)


async def read_ledger(client: Any, pool_id: str) -> Ledger:
    """The pool entity's ledger (empty when no job has used the pool yet)."""
    state = await client.read_entity_state(pool_entity_id(pool_id))
    return Ledger.from_json(state.entity_state if state.entity_exists else None)


def job_slots(ledger: Ledger, job_id: str) -> dict[str, int]:
    """A running job's slots in its pool: `held` (its batches may run that many tasks at once now), `waiting`
    (more that its ready tasks could use, which the pool has not granted) and `rateLimited` (its tasks waiting
    for a rate limit's start permits)."""
    entry = next((job for job in ledger.jobs() if job["jobId"] == job_id), None)
    if entry is None:
        return {"held": 0, "waiting": 0, "rateLimited": 0}
    return {"held": entry["slots"], "waiting": entry["waiting"], "rateLimited": entry["rateLimited"]}


def pool_view(record: PoolRecord, ledger: Ledger, root: str) -> dict[str, Any]:
    """A pool as the API shows it: its definition, the slots its jobs hold, and each job's slots and wait."""
    jobs = ledger.jobs()
    return {
        "id": record.pool_id,
        "taskSlots": record.task_slots,
        "rateLimits": [limit.to_json() for limit in record.rate_limits],
        "slotsInUse": ledger.in_use,
        "jobs": jobs,
        "jobsWaiting": sum(1 for job in jobs if job["waiting"] > 0),
        "created": iso(record.created) if record.version > 0 else None,
        "updated": iso(record.updated) if record.version > 0 else None,
        "links": {"self": f"{root}/pools/{record.pool_id}"},
    }


def pool_id_param(req: func.HttpRequest) -> str:
    """The route's `{poolId}`; a 400 naming it when it cannot be a pool's id."""
    pool_id = str(req.route_params.get("poolId", ""))
    problem = pool_id_problem(pool_id)
    if problem is not None:
        raise InvalidPool(f"invalid pool id: {problem}", [{"path": "poolId", "message": problem}])
    return pool_id


async def load_pool(services: Services, pool_id: str) -> PoolRecord:
    """The pool's definition (the default pool's from the settings while undefined); `PoolNotFound`."""
    record = await asyncio.to_thread(services.pools.get, pool_id)
    if record is None and pool_id == DEFAULT_POOL:
        return _default(services)
    if record is None:
        raise PoolNotFound(pool_id)
    return record


async def put(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    pool_id = pool_id_param(req)
    try:
        spec = parse_pool(req.get_body())
    except BodyTooLargeError as exc:
        raise refused_spec(exc) from exc
    except SpecError as exc:
        count = len(exc.problems)
        message = f"the pool has {count} {'problem' if count == 1 else 'problems'}; see details"
        raise InvalidPool(message, exc.details()) from None
    record, created = await asyncio.to_thread(
        services.pools.put, pool_id, spec.task_slots, datetime.now(UTC), spec.rate_limits
    )
    # Running jobs' partitions see the new size at their next exchange; jobs that start later carry it too.
    rates = {limit.key: [limit.per_second, float(limit.burst)] for limit in record.rate_limits}
    operation = {"slots": record.task_slots, "version": record.version, "rateLimits": rates}
    await client.signal_entity(pool_entity_id(pool_id), "configure", operation)
    view = pool_view(record, await read_ledger(client, pool_id), http.api_root(req.url))
    return json_response(view, 201 if created else 200, {"Location": view["links"]["self"]})


async def get(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    pool_id = pool_id_param(req)
    record = await load_pool(services, pool_id)
    return json_response(pool_view(record, await read_ledger(client, pool_id), http.api_root(req.url)))


async def list_pools(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    top = http.top_param(req, DEFAULT_PAGE_SIZE)
    token = http.token_param(req)
    result = await asyncio.to_thread(services.pools.list, top, token)
    records = result.records
    if token is None and not await asyncio.to_thread(services.pools.get, DEFAULT_POOL):
        records = [_default(services), *records]  # undefined, it is listed first, on the first page
    ledgers = await asyncio.gather(*(read_ledger(client, record.pool_id) for record in records))
    root = http.api_root(req.url)
    items = [pool_view(record, ledger, root) for record, ledger in zip(records, ledgers, strict=True)]
    following = result.continuation_token
    link = None if following is None else http.next_link(req.url, {"top": str(top), "continuationToken": following})
    return json_response(page(items, following, link))


async def delete(req: func.HttpRequest, client: Any, services: Services) -> func.HttpResponse:
    pool_id = pool_id_param(req)
    if pool_id == DEFAULT_POOL:
        raise Conflict("the default pool cannot be deleted; give it another size with PUT", "defaultPool")
    await load_pool(services, pool_id)
    ledger = await read_ledger(client, pool_id)
    jobs = ledger.jobs()
    if jobs:
        shown = ", ".join(repr(job["jobId"]) for job in jobs[:5])
        raise Conflict(
            f"pool {pool_id!r} has {len(jobs)} unfinished {'job' if len(jobs) == 1 else 'jobs'} ({shown}); "
            "delete it once they have ended, or cancel them",
            "poolInUse",
        )
    await asyncio.to_thread(services.pools.delete, pool_id)
    return func.HttpResponse(status_code=204)
