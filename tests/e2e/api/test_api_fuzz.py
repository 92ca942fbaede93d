"""Fuzzing the job API through real HTTP (devhost + Azurite): thousands of mutated specs, raw bodies, queries,
continuation tokens and route ids (strategies in `tests/fuzz.py`). Whatever comes in, the answer is never a
5xx, every refusal has the documented error shape, a refused submit creates no job, and the host goes on
serving. Bounded to about a minute: the numbers of examples below are what fits on a shared 2-core machine.

Command tasks are turned off on this host: a mutated spec must never run a program named by random text.
Specs with command tasks are still validated in full (resource files, outputs, environment) and refused.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.azurite import Azurite
from devhost.http.app import MAX_URL_BYTES
from durable_batch.batch.spec import ID_PATTERN
from tests.e2e.api.jobs import billing_job
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.fuzz import ANY_TEXT, JSON_VALUES, QUERY_VALUES, TOKENS, bodies, to_bytes

pytestmark = pytest.mark.e2e

RUN = f"fz{uuid.uuid4().hex[:6]}"
"""The prefix of every job id this module's specs start from, so the job list shows what they created."""
SPEC_EXAMPLES = 3000
QUERY_EXAMPLES = 1500
ID_EXAMPLES = 1000


def fuzz_settings(examples: int) -> settings:
    # No example database: CI starts from a clean clone, and shrinking a failure re-sends requests anyway.
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class Seen:
    """What the module's requests created: the ids of accepted submits."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.numbers = itertools.count()

    def new_id(self) -> str:
        # Of one length: the strategies draw positions in the spec's text, which must not depend on the id.
        return f"{RUN}-{next(self.numbers):07d}"


SEEN = Seen()


@pytest.fixture(scope="module")
def fuzz_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    host = start_batch_host(azurite, tmp_path_factory.mktemp("fuzz"), {"BATCH_ALLOW_COMMAND_TASKS": "false"})
    try:
        yield host
    finally:
        host.close()


FRAME = re.compile(r'File \\?"[^"\n]+?\\?", line [0-9]+, in ')
"""A frame of a Python traceback, as text or inside a JSON string (its quotes escaped)."""


def check_answer(response: requests.Response, allowed: set[int]) -> None:
    """No 5xx, a status the route documents, and for an error the documented JSON shape."""
    shown = f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, shown
    assert response.status_code in allowed, shown
    if response.status_code < 400:
        return
    is_json = response.headers.get("Content-Type", "").startswith("application/json")
    body = response.json() if is_json else None
    assert is_json, shown
    assert isinstance(body, dict) and set(body) == {"error"}, shown
    error = body["error"]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), shown
    assert isinstance(error.get("details"), list), shown
    for detail in error["details"]:
        assert set(detail) == {"path", "message"}, shown
        assert isinstance(detail["path"], str) and isinstance(detail["message"], str), shown
    # A server-side traceback shows its frames. The words alone prove nothing: an answer quotes the request's
    # own field names and ids, and the fuzzer draws words (such as "Traceback") from this very file.
    assert not FRAME.search(response.text), shown


@fuzz_settings(SPEC_EXAMPLES)
@given(data=st.data())
def test_mutated_specs_are_accepted_or_refused_cleanly_and_refusals_create_nothing(
    fuzz_host: BatchHost, data: st.DataObject
) -> None:
    job_id = SEEN.new_id()
    body = data.draw(bodies(job_id), label="body")
    response = fuzz_host.post("/jobs", data=body, headers={"Content-Type": "application/json"})
    check_answer(response, {200, 202, 400, 409, 413})
    if response.status_code in (200, 202):
        SEEN.accepted.add(response.json()["id"])
        return
    # The id the spec started from (a mutation may have changed or removed it): still no such job.
    check_answer(fuzz_host.get(f"/jobs/{job_id}"), {404})


@fuzz_settings(QUERY_EXAMPLES)
@given(
    route=st.sampled_from(["/jobs", "/jobs/{known}/tasks", "/jobs/{known}/insights"]),
    params=st.dictionaries(
        st.sampled_from(["state", "top", "continuationToken", "buckets", "groups", "other"]), QUERY_VALUES
    ),
    token=st.one_of(st.none(), TOKENS),
)
def test_odd_queries_and_continuation_tokens_are_answered_cleanly(
    fuzz_host: BatchHost, known_job: str, route: str, params: dict[str, str], token: str | None
) -> None:
    if token is not None:
        params["continuationToken"] = token
    # Encoded here: a lone surrogate travels as its surrogatepass bytes, which `requests` will not produce.
    query = "&".join(
        f"{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}" for name, value in params.items()
    )
    url = fuzz_host.url(f"{route.format(known=known_job)}?{query}")
    # A URL over devhost's documented limit is refused before any route sees it (its size is the fuzzer's draw).
    parts = urlsplit(url)
    too_long = len(f"{parts.path}?{parts.query}".encode()) > MAX_URL_BYTES
    check_answer(fuzz_host.get(url), {414} if too_long else {200, 400})


@fuzz_settings(ID_EXAMPLES)
@given(
    text=st.one_of(ANY_TEXT, st.sampled_from(["%00", "a/b", "..", ".", "a" * 129, "a" * 5000, "\ud800", "é"])),
    action=st.sampled_from(["get", "tasks", "task", "logs", "insights", "dashboard", "cancel", "delete"]),
)
def test_odd_ids_in_routes_are_answered_cleanly(fuzz_host: BatchHost, known_job: str, text: str, action: str) -> None:
    # Ids go in one path segment, percent-encoded as a client would ('/' as %2F, a surrogate as its
    # surrogatepass bytes). Cancels and deletes get this run's prefix: they must never reach another test's job.
    segment = quote(text.encode("utf-8", "surrogatepass"), safe="")
    own = quote(f"{RUN}-x{text}".encode("utf-8", "surrogatepass"), safe="")
    session = fuzz_host.http
    if action == "get":
        check_answer(fuzz_host.get(f"/jobs/{segment}"), {200, 404})
    elif action == "tasks":
        check_answer(fuzz_host.get(f"/jobs/{segment}/tasks"), {200, 404})
    elif action == "task":
        check_answer(fuzz_host.get(f"/jobs/{known_job}/tasks/{segment}"), {200, 404})
    elif action == "logs":
        check_answer(fuzz_host.get(f"/jobs/{known_job}/tasks/{segment}/logs"), {200, 404})
    elif action == "insights":
        check_answer(fuzz_host.get(f"/jobs/{segment}/insights"), {200, 404})
    elif action == "dashboard":
        check_answer(fuzz_host.get(f"/dashboard/{segment}"), {200, 404})
    elif action == "cancel":
        check_answer(session.post(fuzz_host.url(f"/jobs/{own}/cancel"), timeout=60), {404})
    else:
        check_answer(session.delete(fuzz_host.url(f"/jobs/{own}"), timeout=60), {404})


CHANGE_EXAMPLES = 300


@fuzz_settings(CHANGE_EXAMPLES)
@given(
    route=st.sampled_from(["PATCH /jobs/{known}", "POST /jobs/{known}/disable"]),
    body=st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "maxParallelTasks": JSON_VALUES,
                "toleratedFailurePercentage": JSON_VALUES,
                "disableTasks": st.one_of(st.sampled_from(["wait", "requeue", "terminate"]), JSON_VALUES),
            },
        ).map(to_bytes),
        JSON_VALUES.map(to_bytes),
        st.binary(max_size=64),
    ),
)
def test_odd_change_bodies_are_answered_cleanly(fuzz_host: BatchHost, known_job: str, route: str, body: bytes) -> None:
    # Once the known job has finished, a body that passes is refused as a change to a finished job.
    fuzz_host.wait_for_job(known_job)
    method, path = route.split(" ")
    response = fuzz_host.http.request(method, fuzz_host.url(path.format(known=known_job)), data=body, timeout=60)
    check_answer(response, {400, 409})


ROUTES = {
    "/jobs": {"GET", "POST"},
    "/jobs/{known}": {"GET", "DELETE", "PATCH"},
    "/jobs/{known}/cancel": {"POST"},
    "/jobs/{known}/disable": {"POST"},
    "/jobs/{known}/enable": {"POST"},
    "/jobs/{known}/tasks": {"GET"},
    "/jobs/{known}/tasks/t1": {"GET"},
    "/jobs/{known}/tasks/t1/logs": {"GET"},
    "/jobs/{known}/insights": {"GET"},
    "/dashboard": {"GET"},
    "/dashboard/dashboard.js": {"GET"},
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_methods_a_route_does_not_take_are_405(fuzz_host: BatchHost, known_job: str, route: str) -> None:
    for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"} - ROUTES[route]):
        response = fuzz_host.http.request(method, fuzz_host.url(route.format(known=known_job)), timeout=60)
        shown = f"{method} {route}: {response.status_code} {response.text[:200]}"
        assert response.status_code == 405, shown
        assert set(response.headers.get("Allow", "").replace(" ", "").split(",")) == ROUTES[route], shown
        if method != "HEAD":
            check_answer(response, {405})


@pytest.fixture(scope="module")
def known_job(fuzz_host: BatchHost) -> str:
    """A real job, so the task routes get past the job lookup."""
    job_id = f"{RUN}-known"
    response = fuzz_host.submit(billing_job(job_id, tasks=2))
    assert response.status_code == 202, response.text
    SEEN.accepted.add(job_id)
    return job_id


def test_the_refused_submits_left_no_jobs_behind_and_the_host_still_serves(fuzz_host: BatchHost) -> None:
    # Runs after the fuzz tests of this module (pytest keeps the file's order).
    listed: set[str] = set()
    link: str | None = "/jobs?top=1000"
    while link:
        response = fuzz_host.get(link)
        check_answer(response, {200})
        page = response.json()
        listed.update(item["id"] for item in page["value"] if item["id"].startswith(f"{RUN}-"))
        link = page["nextLink"]
    assert listed == {job_id for job_id in SEEN.accepted if job_id.startswith(f"{RUN}-")}
    assert all(ID_PATTERN.fullmatch(job_id) for job_id in listed)

    job_id = f"{RUN}-after"
    response = fuzz_host.submit(billing_job(job_id, tasks=3))
    check_answer(response, {202})
    assert fuzz_host.wait_for_job(job_id, timeout=120)["state"] == "succeeded"
