"""Command tasks' files from and to anywhere in the account, and from HTTP(S) URLs: containers and prefixes in
Azurite, a local HTTP server started here, upload conditions and destinations, and what is refused."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient

from tests.e2e.jobs.support import FeaturesHost, python_command, text_of

pytestmark = pytest.mark.e2e

BODY = b"fetched over http\n"
LIST_FILES = """\
import json, os, stat, pathlib
files = {}
for path in sorted(pathlib.Path(".").rglob("*")):
    if path.is_file():
        files[path.as_posix()] = [path.read_text(), oct(stat.S_IMODE(path.stat().st_mode))]
print(json.dumps(files))
"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/file.txt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/file.txt")
            self.end_headers()
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/metadata/identity")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def container(host: FeaturesHost, name: str) -> ContainerClient:
    client = BlobServiceClient.from_connection_string(host.azurite.connection_string).get_container_client(name)
    with contextlib.suppress(ResourceExistsError):
        client.create_container()
    return client


def listing(host: FeaturesHost, job_id: str, task_id: str) -> dict[str, list[str]]:
    task = host.task(job_id, task_id)
    blobs = container(host, "batch-results")
    files: dict[str, list[str]] = json.loads(text_of(blobs, task["result"]["stdoutBlob"]).splitlines()[-1])
    return files


def test_resource_files_from_containers_prefixes_and_http(features_host: FeaturesHost, http_base: str) -> None:
    inputs = container(features_host, "inputs-files")
    for name, text in [("data/a.txt", "A"), ("data/sub/b.txt", "B"), ("other.txt", "O")]:
        inputs.upload_blob(name, text, overwrite=True)
    job_id = features_host.unique_id("files-in")
    tasks = [
        python_command(
            "prefix",
            LIST_FILES,
            resourceFiles=[
                {
                    "autoStorageContainerName": "inputs-files",
                    "blobPrefix": "data/",
                    "filePath": "in",
                    "fileMode": "0640",
                }
            ],
        ),
        python_command(
            "by-url",
            LIST_FILES,
            resourceFiles=[{"storageContainerUrl": inputs.url, "blobPrefix": "other"}],
        ),
        python_command(
            "one-blob",
            LIST_FILES,
            resourceFiles=[{"blob": "data/sub/b.txt", "container": "inputs-files", "path": "b.txt", "fileMode": "600"}],
        ),
        python_command(
            "http",
            LIST_FILES,
            resourceFiles=[
                {"httpUrl": f"{http_base}/redirect", "filePath": "got/file.txt", "fileMode": "755"},
                {"httpUrl": f"{http_base}/file.txt", "filePath": "direct.txt"},
            ],
        ),
    ]
    view = features_host.run({"id": job_id, "tasks": tasks})
    assert view["state"] == "succeeded", (view, features_host.tasks_of(job_id))
    assert listing(features_host, job_id, "prefix") == {
        "in/data/a.txt": ["A", "0o640"],
        "in/data/sub/b.txt": ["B", "0o640"],
    }
    assert listing(features_host, job_id, "one-blob") == {"b.txt": ["B", "0o600"]}
    by_url = listing(features_host, job_id, "by-url")
    assert list(by_url) == ["other.txt"] and by_url["other.txt"][0] == "O"
    http_files = listing(features_host, job_id, "http")
    assert http_files["got/file.txt"] == [BODY.decode(), "0o755"]
    assert http_files["direct.txt"][0] == BODY.decode()


def test_refused_sources_fail_the_task_before_it_runs(features_host: FeaturesHost, http_base: str) -> None:
    container(features_host, "inputs-files").upload_blob("x.txt", "x", overwrite=True)
    earlier = features_host.unique_id("earlier")
    assert features_host.run({"id": earlier, "tasks": [python_command("w", "print('hi')")]})["state"] == "succeeded"
    job_id = features_host.unique_id("files-refused")
    tasks = [
        python_command(
            "metadata", "print(1)", resourceFiles=[{"httpUrl": "http://169.254.169.254/metadata", "filePath": "m"}]
        ),
        python_command(
            "redirected", "print(1)", resourceFiles=[{"httpUrl": f"{http_base}/to-metadata", "filePath": "m"}]
        ),
        python_command("missing", "print(1)", resourceFiles=[{"httpUrl": f"{http_base}/nope", "filePath": "m"}]),
        python_command(
            "other-account",
            "print(1)",
            resourceFiles=[{"storageContainerUrl": "https://elsewhere.blob.core.windows.net/data"}],
        ),
        python_command(
            "other-job",
            "print(1)",
            resourceFiles=[{"autoStorageContainerName": "batch-results", "blobPrefix": f"{earlier}/tasks/"}],
        ),
        python_command(
            "empty-prefix",
            "print(1)",
            resourceFiles=[{"autoStorageContainerName": "inputs-files", "blobPrefix": "no-such-folder/"}],
        ),
    ]
    view = features_host.run({"id": job_id, "toleratedFailurePercentage": 100, "tasks": tasks})
    assert view["state"] == "succeeded", view
    records = features_host.tasks_of(job_id, "failed")
    assert set(records) == {task["id"] for task in tasks}
    errors = {task_id: record["error"] for task_id, record in records.items()}
    assert "169.254.169.254 is in 169.254.0.0/16" in errors["metadata"]
    assert "169.254.169.254 is in 169.254.0.0/16" in errors["redirected"]
    assert "answered 404" in errors["missing"]
    assert "is not a container of this app's storage account" in errors["other-account"]
    assert f"names a blob of job '{earlier}'" in errors["other-job"]
    assert "no blob in container 'inputs-files' starts with 'no-such-folder/'" in errors["empty-prefix"]
    # None of them ran its command.
    assert {features_host.task(job_id, t)["result"] for t in errors} == {None}


def test_output_files_follow_their_upload_conditions_and_destinations(features_host: FeaturesHost) -> None:
    outputs = container(features_host, "outputs-files")
    job_id = features_host.unique_id("files-out")
    write = (
        "import pathlib, sys; pathlib.Path('out').mkdir(); pathlib.Path('out/a.txt').write_text('a');"
        "pathlib.Path('out/b.txt').write_text('b'); pathlib.Path('run.log').write_text('log'); sys.exit({code})"
    )

    def rules(run: str) -> list[Any]:
        destination = {"container": {"containerUrl": outputs.url, "path": f"{job_id}/{run}"}}
        return [
            {
                "filePattern": "out/*.txt",
                "destination": destination,
                "uploadOptions": {"uploadCondition": "taskSuccess"},
            },
            {
                "filePattern": "run.log",
                "destination": {"container": {"containerUrl": outputs.url, "path": f"{job_id}/{run}-failure.log"}},
                "uploadOptions": {"uploadCondition": "taskFailure"},
            },
            {"filePattern": "run.log", "uploadOptions": {"uploadCondition": "taskCompletion"}},
            {"filePattern": "out/a.txt", "uploadOptions": {"uploadCondition": "taskFailure"}},
        ]

    tasks = [
        python_command("ok", write.format(code=0), outputFiles=rules("ok")),
        python_command("bad", write.format(code=1), outputFiles=rules("bad")),
    ]
    view = features_host.run({"id": job_id, "toleratedFailurePercentage": 100, "tasks": tasks})
    assert view["state"] == "succeeded", view
    names = set(outputs.list_blob_names(name_starts_with=f"{job_id}/"))
    assert names == {f"{job_id}/ok/out/a.txt", f"{job_id}/ok/out/b.txt", f"{job_id}/bad-failure.log"}
    assert text_of(outputs, f"{job_id}/bad-failure.log") == "log"
    results = container(features_host, "batch-results")
    ok, bad = features_host.task(job_id, "ok")["result"], features_host.task(job_id, "bad")["result"]
    assert f"{outputs.url}/{job_id}/ok/out/a.txt" in ok["outputFiles"]
    assert f"_jobs/{job_id}/tasks/ok/outputs/run.log" in ok["outputFiles"]
    assert f"_jobs/{job_id}/tasks/ok/outputs/out/a.txt" not in ok["outputFiles"]
    assert f"_jobs/{job_id}/tasks/bad/outputs/out/a.txt" in bad["outputFiles"]
    assert text_of(results, f"_jobs/{job_id}/tasks/bad/outputs/run.log") == "log"


def test_a_command_writes_none_of_its_own_jobs_files_through_a_container_url(features_host: FeaturesHost) -> None:
    results = container(features_host, "batch-results")
    job_id = features_host.unique_id("files-own")
    write = "import pathlib; pathlib.Path('forged.json').write_text('{}')"

    def to_results(task_id: str, blob: str) -> dict[str, Any]:
        destination = {"container": {"containerUrl": results.url, "path": blob}}
        rule = {
            "filePattern": "forged.json",
            "destination": destination,
            "uploadOptions": {"uploadCondition": "taskCompletion"},
        }
        return python_command(task_id, write, outputFiles=[rule])

    forged = f"_jobs/{job_id}/tasks/other/result.json"
    tasks = [to_results("forger", forged), to_results("sharer", f"inputs/{job_id}/forged.json")]
    view = features_host.run({"id": job_id, "toleratedFailurePercentage": 100, "tasks": tasks})
    assert view["state"] == "succeeded", view
    failed = features_host.tasks_of(job_id, "failed")
    assert set(failed) == {"forger"}
    assert f"cannot upload 'forged.json' as blob '{forged}'" in failed["forger"]["error"]
    assert "is in '_jobs/', where the app keeps its own files" in failed["forger"]["error"]
    assert not results.get_blob_client(forged).exists()
    # Outside the app's names the results container takes a task's files.
    assert text_of(results, f"inputs/{job_id}/forged.json") == "{}"


def test_bad_file_specs_get_a_400_with_their_paths(features_host: FeaturesHost) -> None:
    job_id = features_host.unique_id("files-bad")
    spec = {
        "id": job_id,
        "tasks": [
            python_command(
                "c",
                "print(1)",
                resourceFiles=[
                    {"autoStorageContainerName": "azure-webjobs-secrets"},
                    {"httpUrl": "ftp://example.com/x", "filePath": "x"},
                    {"httpUrl": "https://example.com/x", "filePath": "../x"},
                    {"blob": "a", "httpUrl": "https://example.com/x", "path": "a"},
                    {"storageContainerUrl": "https://acct.blob.core.windows.net/c?sig=secret"},
                    {"autoStorageContainerName": "data", "fileMode": "4755"},
                ],
                outputFiles=[
                    {"filePattern": "x", "uploadOptions": {"uploadCondition": "always"}},
                    {"filePattern": "/etc/x"},
                    {"filePattern": "y", "destination": {"container": {"path": "p"}}},
                ],
            )
        ],
    }
    response = features_host.submit(spec)
    assert response.status_code == 400, response.text
    details = {d["path"]: d["message"] for d in response.json()["error"]["details"]}
    base = "tasks[0]"
    assert set(details) == {
        f"{base}.resourceFiles[0].autoStorageContainerName",
        f"{base}.resourceFiles[1].httpUrl",
        f"{base}.resourceFiles[2].filePath",
        f"{base}.resourceFiles[3]",
        f"{base}.resourceFiles[4].storageContainerUrl",
        f"{base}.resourceFiles[5].fileMode",
        f"{base}.outputFiles[0].uploadOptions.uploadCondition",
        f"{base}.outputFiles[1].filePattern",
        f"{base}.outputFiles[2].destination.container.containerUrl",
    }, details
    assert "belongs to the Functions host" in details[f"{base}.resourceFiles[0].autoStorageContainerName"]
    assert features_host.get(f"/jobs/{job_id}").status_code == 404
