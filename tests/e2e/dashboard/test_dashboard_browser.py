"""The dashboard in a real browser (Debian's Chromium) against devhost + Azurite: a finished job and a running
one render with the API's counts, the task table pages, a task opens, cancel and re-run work, and user data
that is markup stays text."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.api.jobs import billing_job
from tests.e2e.batch_host import BatchHost
from tests.e2e.dashboard.conftest import ARTIFACTS
from tests.e2e.dashboard.jobs import MARKUP, finished_job, running_job

pytestmark = pytest.mark.e2e

WAIT_MS = 60_000
COUNTS = ("total", "pending", "running", "succeeded", "failed", "skipped", "cancelled")


@pytest.fixture(scope="module")
def finished(batch_host: BatchHost) -> dict[str, Any]:
    job_id = batch_host.unique_id("dash-done")
    assert batch_host.submit(finished_job(job_id)).status_code == 202
    view = batch_host.wait_for_job(job_id, timeout=120)
    assert view["state"] == "failed" and view["taskCounts"]["failed"] == 3
    return view


def dashboard(batch_host: BatchHost, fragment: str = "") -> str:
    return f"{batch_host.api}/dashboard{fragment}"


def shown_counts(page: Page, scope: str) -> dict[str, int]:
    return {k: int(page.locator(f'{scope} [data-count="{k}"]').inner_text().replace(",", "")) for k in COUNTS}


def assert_no_markup_ran(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("#injected").count() == 0


def test_a_finished_job_shows_the_apis_counts_chart_failures_and_pages_of_tasks(
    batch_host: BatchHost, finished: dict[str, Any], page: Page
) -> None:
    job_id = finished["id"]
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}"))
    expect(page.locator("#job-phase")).to_have_text("finished", timeout=WAIT_MS)
    assert page.locator("#job-id").inner_text() == job_id
    assert shown_counts(page, "#job-counts") == {k: finished["taskCounts"][k] for k in COUNTS}

    insights = batch_host.get(f"/jobs/{job_id}/insights").json()
    done = finished["taskCounts"]["succeeded"] + finished["taskCounts"]["failed"]
    expect(page.locator("#chart")).to_have_attribute("data-total", str(done), timeout=WAIT_MS)
    assert page.locator("#chart svg rect").count() >= 1
    groups = page.locator("#failure-groups tbody tr")
    expect(groups).to_have_count(len(insights["failures"]["groups"]))
    assert groups.first.locator(".err").inner_text() == insights["failures"]["groups"][0]["error"]
    assert MARKUP in groups.first.locator(".err").inner_text()
    examples = groups.first.locator("a")
    assert [examples.nth(i).inner_text() for i in range(examples.count())] == ["bad-1", "bad-2", "bad-3"]

    # A failed job's task table starts with its failures; "all states" lists every task.
    rows = page.locator("#task-table tbody tr")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    assert page.locator("#task-state").input_value() == "failed"
    assert {rows.nth(i).get_attribute("data-task") for i in range(3)} == {"bad-1", "bad-2", "bad-3"}
    page.select_option("#task-state", "")
    # The task table: the first page as the API lists it, then the next.
    first = batch_host.get(f"/jobs/{job_id}/tasks", params={"top": 50}).json()
    expect(rows).to_have_count(50, timeout=WAIT_MS)
    assert [rows.nth(i).get_attribute("data-task") for i in range(50)] == [t["id"] for t in first["value"]]
    # Durations of short tasks in ms (or s), never a whole "0s".
    durations = [rows.nth(i).locator("td").nth(4).inner_text() for i in range(50)]
    assert all(re.fullmatch(r"\d+ ms|\d+\.\d\d s", shown) for shown in durations), durations
    page.locator('#tasks [data-page="next"]').click()
    second = batch_host.get(first["nextLink"]).json()
    expect(rows.first).to_have_attribute("data-task", second["value"][0]["id"], timeout=WAIT_MS)
    assert [rows.nth(i).get_attribute("data-task") for i in range(rows.count())] == [t["id"] for t in second["value"]]
    expect(page.locator("#tasks [data-page-number]")).to_have_text("page 2")

    # Filtered to the failures, whose errors are markup, shown as text.
    page.select_option("#task-state", "failed")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    assert {rows.nth(i).get_attribute("data-task") for i in range(3)} == {"bad-1", "bad-2", "bad-3"}
    assert MARKUP in rows.first.locator(".err").inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-finished-job.png"), full_page=True)

    # A task: its error and result as the API has them.
    rows.first.locator("a").click()
    expect(page.locator("#task-error")).to_contain_text(MARKUP, timeout=WAIT_MS)
    task = batch_host.get(f"/jobs/{job_id}/tasks/bad-1").json()
    assert page.locator("#task-error").inner_text() == task["error"]
    assert page.locator("#task-attempts").inner_text() == str(task["attempts"])
    expect(page.locator("#task-stderr")).to_have_text(MARKUP)
    page.screenshot(path=str(ARTIFACTS / "dashboard-task.png"))
    page.locator("#task-close").click()
    expect(page.locator("#task")).to_have_count(0)
    assert_no_markup_ran(page)


def test_a_jobs_cost_shows_the_apis_figures_in_all_and_per_task(
    batch_host: BatchHost, finished: dict[str, Any], page: Page
) -> None:
    job_id = finished["id"]
    cost, tasks = finished["cost"], finished["taskCounts"]["total"]
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}"))
    expect(page.locator("#job-phase")).to_have_text("finished", timeout=WAIT_MS)

    def shown(key: str) -> tuple[str, str]:
        cells = page.locator(f'#job-cost tr[data-cost="{key}"] td.num')
        return cells.nth(0).inner_text(), cells.nth(1).inner_text()

    def per_task(n: int) -> str:
        return f"{n / tasks:,.3f}".rstrip("0").rstrip(".")

    for key in ("orchestrations", "episodes", "historyEvents", "replayedEvents", "activityCalls", "timers"):
        assert shown(key) == (f"{cost[key]:,}", per_task(cost[key])), key
    storage = cost["storageRequests"]
    assert shown("storageRequests") == (f"{storage['total']:,}", per_task(storage["total"]))
    # Each kind the job used has its row; the kinds it did not use have none.
    used = {kind for kind, n in storage.items() if kind != "total" and n > 0}
    assert used and {"blobWrites"} <= used
    listed = page.locator("#job-cost tr[data-cost]")
    keys = {listed.nth(i).get_attribute("data-cost") for i in range(listed.count())}
    assert keys - {"orchestrations", "episodes", "historyEvents", "replayedEvents", "activityCalls", "timers"} == {
        "storageRequests",
        *used,
    }
    for kind in used:
        assert shown(kind) == (f"{storage[kind]:,}", per_task(storage[kind])), kind
    page.locator("#job").screenshot(path=str(ARTIFACTS / "dashboard-job-cost.png"))


def test_a_tasks_result_and_logs_open_from_its_link(
    batch_host: BatchHost, finished: dict[str, Any], page: Page
) -> None:
    job_id = finished["id"]
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}/tasks/echo-1"))
    expect(page.locator("#task-stdout")).to_have_text(MARKUP + "\n", timeout=WAIT_MS)
    task = batch_host.get(f"/jobs/{job_id}/tasks/echo-1").json()
    assert '"exitCode": 0' in page.locator("#task-result").inner_text() and task["result"]["exitCode"] == 0
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}/tasks/inv-000007"))
    expect(page.locator("#task-result")).to_contain_text('"customer": "c-000007"', timeout=WAIT_MS)
    # Its definition (handler and input) as the task view gives it.
    definition = batch_host.get(f"/jobs/{job_id}/tasks/inv-000007").json()["definition"]
    assert json.loads(page.locator("#task-definition").inner_text()) == definition
    assert definition["id"] == "inv-000007"
    assert page.locator("#task-stdout").count() == 0
    assert_no_markup_ran(page)


def test_the_jobs_list_shows_each_job_with_the_lists_counts_and_filters_by_state(
    batch_host: BatchHost, finished: dict[str, Any], page: Page
) -> None:
    job_id = finished["id"]
    page.goto(dashboard(batch_host))
    row = page.locator(f'#jobs tr[data-job="{job_id}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    listed = next(j for j in batch_host.get("/jobs", params={"top": 1000}).json()["value"] if j["id"] == job_id)
    assert shown_counts(page, f'#jobs tr[data-job="{job_id}"]') == {k: listed["taskCounts"][k] for k in COUNTS}
    assert row.locator(".badge").inner_text() == "failed"
    page.select_option("#job-state", "succeeded")
    expect(row).to_have_count(0, timeout=WAIT_MS)
    states = page.locator("#jobs tbody tr[data-job] .badge")
    assert all(states.nth(i).inner_text() == "succeeded" for i in range(states.count()))
    page.select_option("#job-state", "failed")
    expect(row).to_have_count(1, timeout=WAIT_MS)
    row.locator("a").click()
    expect(page.locator("#job-id")).to_have_text(job_id, timeout=WAIT_MS)


def test_a_running_job_is_live_and_its_buttons_disable_enable_and_cancel_it(batch_host: BatchHost, page: Page) -> None:
    job_id = batch_host.unique_id("dash-live")
    assert batch_host.submit(running_job(job_id)).status_code == 202
    batch_host.wait_until(
        lambda: batch_host.get(f"/jobs/{job_id}").json()["taskCounts"]["running"] == 2, timeout=60, what="2 running"
    )
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}"))
    expect(page.locator("#job .badge[data-state]").first).to_have_text("running", timeout=WAIT_MS)
    expect(page.locator('#job-counts [data-count="running"]')).to_have_text("2", timeout=WAIT_MS)
    view = batch_host.get(f"/jobs/{job_id}").json()
    assert view["state"] == "running" and view["taskCounts"]["running"] == 2
    assert shown_counts(page, "#job-counts") == {k: view["taskCounts"][k] for k in COUNTS}
    assert page.locator("#job-phase").inner_text() == view["phase"] == "running"
    # Its pool and the slots the pool granted it, as the API shows them.
    assert page.locator("#job-pool").inner_text() == "default, priority 0"
    expect(page.locator("#job-slots")).to_have_text(re.compile(r"^\d+ held, \d+ waiting$"), timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "dashboard-running-job.png"), full_page=True)

    # One state badge: the phase is not shown when it says what the state says.
    assert page.locator("#job-phase").is_hidden() and page.locator("#job .toolbar .badge").count() == 1
    # While it runs: how fast its tasks finish, and when the rest will have (after two looks at it).
    expect(page.locator("#job-rate")).to_have_text(re.compile(r"^[\d.,]+ tasks/s$"), timeout=WAIT_MS)
    expect(page.locator("#job-eta")).to_have_count(1)
    # Its settings, changed from the page: the API's view has them.
    expect(page.locator("#job-cap")).to_have_value(str(view["maxParallelTasks"]), timeout=WAIT_MS)
    page.locator("#job-cap").fill("3")
    page.locator("#job-priority").fill("250")
    page.locator("#job-apply").click()

    def settings() -> tuple[int, int]:
        changed = batch_host.get(f"/jobs/{job_id}").json()
        return changed["maxParallelTasks"], changed["priority"]

    batch_host.wait_until(lambda: settings() == (3, 250), what="the PATCH from the settings")
    expect(page.locator("#job-pool")).to_have_text("default, priority 250", timeout=WAIT_MS)
    expect(page.locator("#job-cap")).to_have_value("3")

    # Its orchestrations, for when it hangs: the job's, its group's and its partition's, each with its history.
    page.locator("#orchestrations summary").click()
    rows = page.locator("#orchestration-table tbody tr")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    partition = f"{job_id}:p00000"
    expect(page.locator(f'#orchestration-table tr[data-instance="{partition}"] [data-status]')).to_have_text("Running")
    assert page.locator(f'[data-terminate="{partition}"]').count() == 1
    page.locator(f'[data-history="{partition}"]').click()
    expect(page.locator('#history tr[data-event="ExecutionStarted"]')).to_have_count(1, timeout=WAIT_MS)
    assert page.locator("#orchestration-status").inner_text() == "Running"
    page.locator("#orchestration-close").click()
    expect(page.locator("#orchestration")).to_have_count(0)

    # Disable, then enable: each button is offered only in the state it applies to.
    expect(page.locator('[data-action="enable"]')).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-action="disable"]').click()
    expect(page.locator("#job .badge[data-state]").first).to_have_text("disabled", timeout=WAIT_MS)
    assert batch_host.get(f"/jobs/{job_id}").json()["state"] == "disabled"
    expect(page.locator('[data-action="disable"]')).to_have_count(0)
    page.locator('[data-action="enable"]').click()
    expect(page.locator("#job .badge[data-state]").first).to_have_text("running", timeout=WAIT_MS)
    assert batch_host.get(f"/jobs/{job_id}").json()["state"] == "running"

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-action="cancel"]').click()
    expect(page.locator("#job-phase")).to_have_text("finished", timeout=WAIT_MS)
    expect(page.locator("#job .badge[data-state]").first).to_have_text("cancelled")
    assert batch_host.get(f"/jobs/{job_id}").json()["state"] == "cancelled"
    expect(page.locator('[data-action="cancel"]')).to_have_count(0)


def test_the_jobs_list_pages_with_the_apis_tokens(batch_host: BatchHost, finished: dict[str, Any], page: Page) -> None:
    other = batch_host.unique_id("dash-other")
    assert batch_host.submit(billing_job(other, tasks=1, reduce=False)).status_code == 202
    first = batch_host.get("/jobs", params={"top": 1}).json()
    assert first["continuationToken"], "two jobs make two pages of one"
    second = batch_host.get(first["nextLink"]).json()
    page.goto(dashboard(batch_host, "#/?top=1"))
    rows = page.locator("#jobs tbody tr[data-job]")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    assert rows.first.get_attribute("data-job") == first["value"][0]["id"]
    page.locator('#jobs-panel [data-page="next"]').click()
    expect(rows.first).to_have_attribute("data-job", second["value"][0]["id"], timeout=WAIT_MS)
    expect(page.locator("#jobs-panel [data-page-number]")).to_have_text("page 2")
    page.locator('#jobs-panel [data-page="prev"]').click()
    expect(rows.first).to_have_attribute("data-job", first["value"][0]["id"], timeout=WAIT_MS)


def test_a_finished_jobs_rerun_button_reruns_it_and_its_runs_are_listed(
    batch_host: BatchHost, page: Page, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    code = f"import os, sys; sys.exit(0 if os.path.exists({str(flag)!r}) else 3)"
    job_id = batch_host.unique_id("dash-rerun")
    spec = {"id": job_id, "tasks": [{"id": "gate", "commandLine": [sys.executable, "-c", code]}]}
    assert batch_host.submit(spec).status_code == 202
    assert batch_host.wait_for_job(job_id)["state"] == "failed"
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}"))
    expect(page.locator("#job-phase")).to_have_text("finished", timeout=WAIT_MS)
    expect(page.locator("#runs")).to_have_count(0)
    flag.write_text("yes")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-action="rerun"]').click()
    # The page goes live again and follows the re-run to its end.
    expect(page.locator("#job .badge[data-state]").first).to_have_text("succeeded", timeout=WAIT_MS)
    expect(page.locator("#job-phase")).to_have_text("finished", timeout=WAIT_MS)
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator('#runs tr[data-run="1"] .badge')).to_have_text("failed")
    expect(page.locator('#runs tr[data-run="2"] .badge')).to_have_text("succeeded")
    # Its results: the summary and the spec download through the files routes, with the page's key.
    with page.expect_download() as saved:
        page.locator("#job-summary-download").click()
    assert saved.value.suggested_filename == "summary.json"
    assert json.loads(Path(saved.value.path()).read_text())["state"] == "succeeded"
    assert "durable-batch results download" in page.locator("#job-results").inner_text()
    expect(page.locator('[data-action="rerun"]')).to_have_count(0)
    view = batch_host.get(f"/jobs/{job_id}").json()
    assert view["state"] == "succeeded" and [run["number"] for run in view["runs"]] == [1, 2]


def test_a_jobs_reduce_output_is_on_its_page(batch_host: BatchHost, page: Page) -> None:
    job_id = batch_host.unique_id("dash-reduce")
    assert batch_host.submit(billing_job(job_id, tasks=2)).status_code == 202
    view = batch_host.wait_for_job(job_id)
    assert view["state"] == "succeeded" and isinstance(view["reduce"], dict) and view["reduce"]
    page.goto(dashboard(batch_host, f"#/jobs/{job_id}"))
    expect(page.locator("#job-reduce")).to_have_count(1, timeout=WAIT_MS)
    assert json.loads(page.locator("#job-reduce").inner_text()) == view["reduce"]
    # A finished job's settings are shown, not offered for change.
    assert page.locator("#job-cap").is_disabled() and page.locator("#job-apply").is_hidden()
