"""Files in and out through the API (`/api/files/...`): upload, list, download, and the job's results link, on a
real devhost and Azurite, with a small file limit so that a file over it is cheap to send."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from devhost.azurite import Azurite
from durable_batch.storage import ContainerBlobs, get_account
from tests.e2e.api.jobs import billing_job
from tests.e2e.batch_host import BatchHost, start_batch_host
from tests.openapi_check import attach

pytestmark = pytest.mark.e2e

LIMIT = 4096


@pytest.fixture(scope="module")
def batch_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchHost]:
    host = start_batch_host(azurite, tmp_path_factory.mktemp("devhost"), {"BATCH_MAX_FILE_BYTES": str(LIMIT)})
    checker = attach(host.http)
    try:
        yield host
    finally:
        host.close()
    checker.assert_clean()


def put(host: BatchHost, path: str, data: bytes, content_type: str = "text/plain") -> requests.Response:
    return host.http.put(host.url(path), data=data, headers={"Content-Type": content_type}, timeout=60)


def error_code(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


def test_a_file_uploaded_lists_and_downloads_as_it_was_sent(batch_host: BatchHost) -> None:
    folder = batch_host.unique_id("up")
    data = "héllo\n".encode() * 10
    answer = put(batch_host, f"/files/batch-inputs/{folder}/data/a b.txt", data)
    assert answer.status_code == 201, answer.text
    info = answer.json()
    assert info["container"] == "batch-inputs" and info["name"] == f"{folder}/data/a b.txt"
    assert info["size"] == len(data) and answer.headers["Location"] == info["url"]
    listed = batch_host.get("/files/batch-inputs", params={"prefix": f"{folder}/"}).json()
    assert [item["name"] for item in listed["value"]] == [info["name"]]
    assert listed["value"][0]["url"] == info["url"] and listed["continuationToken"] is None
    downloaded = batch_host.get(info["url"])
    assert downloaded.status_code == 200 and downloaded.content == data
    assert downloaded.headers["Content-Type"].startswith("application/octet-stream")


def test_a_listing_pages_in_name_order(batch_host: BatchHost) -> None:
    folder = batch_host.unique_id("page")
    names = [f"{folder}/{n}.txt" for n in (3, 1, 4, 2, 5)]
    for name in names:
        assert put(batch_host, f"/files/batch-inputs/{name}", b"x").status_code == 201
    seen: list[str] = []
    page = batch_host.get("/files/batch-inputs", params={"prefix": f"{folder}/", "top": "2"}).json()
    while True:
        assert len(page["value"]) <= 2
        seen += [item["name"] for item in page["value"]]
        if page["nextLink"] is None:
            assert page["continuationToken"] is None
            break
        page = batch_host.get(page["nextLink"]).json()
    assert seen == sorted(names)


def test_an_uploaded_script_is_a_resource_file_of_a_command_task(batch_host: BatchHost) -> None:
    folder = batch_host.unique_id("inputs")
    script = b"import pathlib; pathlib.Path('out').mkdir(); pathlib.Path('out/r.txt').write_text('ran')\n"
    assert put(batch_host, f"/files/batch-results/{folder}/make.py", script).status_code == 201
    job_id = batch_host.unique_id("files-cmd")
    task = {
        "id": "t",
        "commandLine": ["python3", "make.py"],
        "resourceFiles": [{"blob": f"{folder}/make.py", "path": "make.py"}],
        "outputFiles": ["out/*.txt"],
    }
    assert batch_host.submit({"id": job_id, "tasks": [task]}).status_code == 202
    view = batch_host.wait_for_job(job_id)
    assert view["state"] == "succeeded", view
    listed = batch_host.get(view["results"]["url"]).json()
    names = {item["name"]: item["url"] for item in listed["value"]}
    assert f"_jobs/{job_id}/job.json" in names
    output = names[f"_jobs/{job_id}/tasks/t/outputs/out/r.txt"]
    assert batch_host.get(output).content == b"ran"


def test_the_results_link_of_a_job_lists_its_folder(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("files-results")
    assert batch_host.submit(billing_job(job_id, 2)).status_code == 202
    view = batch_host.wait_for_job(job_id)
    assert view["links"]["results"] == view["results"]["url"]
    listed = batch_host.get(view["results"]["url"])
    assert listed.status_code == 200
    names = [item["name"] for item in listed.json()["value"]]
    assert f"_jobs/{job_id}/summary.json" in names and all(name.startswith(f"_jobs/{job_id}/") for name in names)
    summary = batch_host.get(f"/files/batch-results/_jobs/{job_id}/summary.json")
    assert summary.json()["state"] == "succeeded"


@pytest.mark.parametrize("container", ["private", "azure-webjobs-hosts", "durablebatch-leases", "Bad", "x" * 70])
def test_only_the_allowed_containers_are_reachable(batch_host: BatchHost, container: str) -> None:
    assert error_code(batch_host.get(f"/files/{container}"), 403) == "containerNotAllowed"
    assert error_code(batch_host.get(f"/files/{container}/a.txt"), 403) == "containerNotAllowed"
    assert error_code(put(batch_host, f"/files/{container}/a.txt", b"x"), 403) == "containerNotAllowed"


@pytest.mark.parametrize("name", ["a//b.txt", "a/%2e/b", "a\\b", "a/%00b", "a/%2e%2e/b", "a/%2E%2E/%2E%2E/b"])
def test_a_name_out_of_the_rule_is_refused_and_nothing_is_written(batch_host: BatchHost, name: str) -> None:
    before = batch_host.get("/files/batch-inputs").json()["value"]
    assert error_code(put(batch_host, f"/files/batch-inputs/{name}", b"x"), 400) == "invalidPath"
    assert error_code(batch_host.get(f"/files/batch-inputs/{name}"), 400) == "invalidPath"
    assert batch_host.get("/files/batch-inputs").json()["value"] == before


def test_an_upload_into_a_jobs_folder_is_refused(batch_host: BatchHost) -> None:
    job_id = batch_host.unique_id("files-own")
    assert batch_host.submit(billing_job(job_id, 1)).status_code == 202
    batch_host.wait_for_job(job_id)
    spec = batch_host.get(f"/files/batch-results/_jobs/{job_id}/job.json").content
    for name in ("job.json", "summary.json", "results/p0-b0.jsonl", "tasks/inv-000001/result.json", "source/x"):
        for folder in (f"_jobs/{job_id}", job_id):  # its folder, and the folder of the layout before it
            answer = put(batch_host, f"/files/batch-results/{folder}/{name}", b"{}")
            assert error_code(answer, 403) == "reservedPath"
            assert answer.json()["error"]["details"][0]["message"].startswith(f"'{folder}/{name}' ")
    assert batch_host.get(f"/files/batch-results/_jobs/{job_id}/job.json").content == spec
    assert batch_host.get("/files/batch-results", params={"prefix": f"{job_id}/"}).json()["value"] == []


def test_a_missing_file_is_404_and_a_file_over_the_limit_413(batch_host: BatchHost) -> None:
    folder = batch_host.unique_id("big")
    assert error_code(batch_host.get(f"/files/batch-inputs/{folder}/none.txt"), 404) == "fileNotFound"
    assert (
        error_code(put(batch_host, f"/files/batch-inputs/{folder}/big.bin", b"x" * (LIMIT + 1)), 413) == "bodyTooLarge"
    )
    assert batch_host.get("/files/batch-inputs", params={"prefix": f"{folder}/"}).json()["value"] == []
    # A blob put there by other means, larger than the limit, is refused too rather than read whole.
    ContainerBlobs(get_account(batch_host.azurite.connection_string), "batch-inputs").put(
        f"{folder}/large.bin", b"y" * (LIMIT * 3)
    )
    assert error_code(batch_host.get(f"/files/batch-inputs/{folder}/large.bin"), 413) == "bodyTooLarge"


@pytest.mark.parametrize(
    "query",
    [{"top": "0"}, {"top": "x"}, {"top": "5001"}, {"prefix": "../a"}, {"prefix": "a", "continuationToken": "b"}],
)
def test_a_bad_listing_query_is_400(batch_host: BatchHost, query: dict[str, str]) -> None:
    assert error_code(batch_host.get("/files/batch-inputs", params=query), 400) == "invalidQuery"
