"""An HTTP client of the job API: one method per route, errors raised as `ApiError` with the API's body.

Kept apart from the commands so that everything that talks to the host (its address, its function key, timeouts)
is in one place, and the commands only decide what to show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://localhost:7071"
TIMEOUT_SECONDS = 60.0
"""Generous: a submit of a large spec or a task factory lists or reads its source before it answers."""


class CliError(Exception):
    """The root of everything the CLI reports as an error (exit code 2)."""


class HostUnreachable(CliError):
    """No answer from the host: it is not running, or `--url` points elsewhere."""


@dataclass(frozen=True)
class ErrorDetail:
    """One problem of a refused request, with the path of the field it is about."""

    path: str
    message: str


class ApiError(CliError):
    """The API answered with an error status; `code`, `message` and `details` are its error body's."""

    def __init__(self, status: int, code: str, message: str, details: list[ErrorDetail]) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """Read the API's `{"error": {...}}` body; anything else (a proxy's page, say) keeps its status and text."""
        try:
            body = response.json()
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            text = response.text.strip()[:300] or response.reason or "no body"
            return cls(response.status_code, f"http{response.status_code}", text, [])
        details = [
            ErrorDetail(str(item.get("path", "")), str(item.get("message", "")))
            for item in error.get("details") or []
            if isinstance(item, dict)
        ]
        return cls(response.status_code, str(error.get("code", "")), str(error.get("message", "")), details)


def _segment(value: str) -> str:
    return quote(value, safe="")


@dataclass
class JobApi:
    """The job API of one host. `key` is a function key, sent as `x-functions-key` (an Azure app's keys)."""

    base_url: str = DEFAULT_URL
    key: str | None = None
    timeout: float = TIMEOUT_SECONDS
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.key:
            self.session.headers["x-functions-key"] = self.key

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request to `{base_url}/api{path}`; the JSON body of a success (None for `204`)."""
        response = self.send(method, f"{self.base_url}/api{path}", body=body, params=params, content_type=content_type)
        if response.status_code == 204 or not response.content:
            return None
        return _json_of(method, response)

    def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> requests.Response:
        """Send one request to `url` (absolute: the API hands out links); a success, else `ApiError`."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            response = self.session.request(method, url, data=body, params=query, headers=headers, timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise HostUnreachable(
                f"cannot reach {self.base_url}: is the app running? (set --url or DURABLE_BATCH_URL)"
            ) from exc
        except requests.Timeout as exc:
            raise HostUnreachable(f"{self.base_url} did not answer in {self.timeout:g}s") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def submit(self, spec: bytes) -> tuple[dict[str, Any], bool]:
        """Send the spec's text as it is, so that the API reports a JSON syntax error with its line and column.
        The job's view, and whether the submit started it (`202`), rather than found it submitted before with
        the same spec (`200`)."""
        response = self.send("POST", f"{self.base_url}/api/jobs", body=spec)
        view: dict[str, Any] = _json_of("POST", response)
        return view, response.status_code == 202

    def job(self, job_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self.request("GET", f"/jobs/{_segment(job_id)}")
        return view

    def jobs(self, *, state: str | None = None, top: int | None = None, token: str | None = None) -> dict[str, Any]:
        page: dict[str, Any] = self.request(
            "GET", "/jobs", params={"state": state, "top": top, "continuationToken": token}
        )
        return page

    def tasks(
        self, job_id: str, *, state: str | None = None, top: int | None = None, token: str | None = None
    ) -> dict[str, Any]:
        page: dict[str, Any] = self.request(
            "GET", f"/jobs/{_segment(job_id)}/tasks", params={"state": state, "top": top, "continuationToken": token}
        )
        return page

    def task(self, job_id: str, task_id: str) -> dict[str, Any]:
        view: dict[str, Any] = self.request("GET", f"/jobs/{_segment(job_id)}/tasks/{_segment(task_id)}")
        return view

    def task_logs(self, job_id: str, task_id: str) -> dict[str, Any]:
        logs: dict[str, Any] = self.request("GET", f"/jobs/{_segment(job_id)}/tasks/{_segment(task_id)}/logs")
        return logs

    def cancel(self, job_id: str) -> Any:
        return self.request("POST", f"/jobs/{_segment(job_id)}/cancel")

    def disable(self, job_id: str, *, requeue: bool = False) -> Any:
        body = json.dumps({"disableTasks": "requeue" if requeue else "wait"}).encode()
        return self.request("POST", f"/jobs/{_segment(job_id)}/disable", body=body)

    def enable(self, job_id: str) -> Any:
        return self.request("POST", f"/jobs/{_segment(job_id)}/enable")

    def rerun(self, job_id: str, *, reason: str | None = None) -> Any:
        body = json.dumps({"reason": reason} if reason is not None else {}).encode()
        return self.request("POST", f"/jobs/{_segment(job_id)}/rerun", body=body)

    def update(self, job_id: str, change: Mapping[str, Any]) -> Any:
        return self.request("PATCH", f"/jobs/{_segment(job_id)}", body=json.dumps(dict(change)).encode())

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"/jobs/{_segment(job_id)}")

    def files(
        self, container: str, *, prefix: str | None = None, top: int | None = None, token: str | None = None
    ) -> dict[str, Any]:
        page: dict[str, Any] = self.request(
            "GET", f"/files/{_segment(container)}", params={"prefix": prefix, "top": top, "continuationToken": token}
        )
        return page

    def all_files(self, url: str) -> Iterator[dict[str, Any]]:
        """Every file of a listing link (a job's `results.url`, say), following its pages."""
        link: str | None = url
        while link is not None:
            page = self.send("GET", link).json()
            yield from page.get("value") or []
            link = page.get("nextLink")

    def upload(self, container: str, name: str, data: bytes, content_type: str) -> dict[str, Any]:
        path = f"/files/{_segment(container)}/{quote(name, safe='/')}"
        info: dict[str, Any] = self.request("PUT", path, body=data, content_type=content_type)
        return info

    def file_url(self, container: str, name: str) -> str:
        return f"{self.base_url}/api/files/{_segment(container)}/{quote(name, safe='/')}"

    def download(self, url: str) -> bytes:
        """A file's bytes from its link (`url` of a listed file)."""
        return self.send("GET", url).content


def _json_of(method: str, response: requests.Response) -> Any:
    """A success's JSON body; `CliError` when it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        raise CliError(f"{method} {response.url} answered {response.status_code} with a body that is not JSON") from exc
