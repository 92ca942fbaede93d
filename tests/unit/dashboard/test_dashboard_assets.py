"""`durable_batch.dashboard.assets` and the route's answers, through `durable_batch.dashboard.routes.serve`, without a
host."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import azure.functions as func
import pytest

from durable_batch.dashboard.assets import INDEX, load
from durable_batch.dashboard.routes import serve

pytestmark = pytest.mark.unit


def request(
    path: str, url: str = "", params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        url or f"http://host/api/dashboard/{path}",
        headers=headers or {},
        params=params or {},
        route_params={"path": path} if path else {},
        body=b"",
    )


def answer(req: func.HttpRequest) -> func.HttpResponse:
    return asyncio.run(serve(req, load()))


def test_the_page_links_its_files_by_version_and_carries_the_key_it_was_opened_with() -> None:
    assets = load()
    page = assets.page("/api/dashboard", "/api", 'k&y"<')
    for name in ("dashboard.js", "dashboard.css"):
        version = assets.files[name].version
        assert f"/api/dashboard/{name}?v={version}&amp;code=k%26y%22%3C" in page
    assert 'data-api="/api"' in page and "{{" not in page
    assert "code=" not in assets.page("/api/dashboard", "/api", None)


def test_the_page_answers_at_the_route_with_or_without_a_slash_and_a_custom_prefix() -> None:
    for url in ("http://h/api/dashboard", "http://h/api/dashboard/", "http://h/api/dashboard/index.html"):
        response = answer(request("" if not url.endswith(INDEX) else INDEX, url))
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "/api/dashboard/dashboard.js?v=" in response.get_body().decode()
    custom = answer(request("", "http://h/batch/v1/dashboard?code=abc", params={"code": "abc"})).get_body().decode()
    assert 'data-api="/batch/v1"' in custom and "/batch/v1/dashboard/dashboard.css?v=" in custom
    assert "code=abc" in custom


def test_files_have_their_types_and_are_cached_when_asked_for_by_version() -> None:
    assets = load()
    js = assets.files["dashboard.js"]
    response = answer(request("dashboard.js", params={"v": js.version}))
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.get_body() == js.body and response.headers["ETag"] == f'"{js.version}"'
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert answer(request("dashboard.css")).headers["Cache-Control"] == "no-cache"
    assert answer(request("dashboard.css")).mimetype == "text/css"
    unchanged = answer(request("dashboard.js", headers={"If-None-Match": f'"{js.version}"'}))
    assert unchanged.status_code == 304 and unchanged.get_body() == b""


@pytest.mark.parametrize(
    "name",
    [
        "../routes.py",
        "../../function_app.py",
        "..%2f..%2ffunction_app.py",
        "%2e%2e/assets.py",
        "/etc/passwd",
        "static/dashboard.js",
        "./dashboard.js",
        "DASHBOARD.JS",
        "dashboard.js\x00.css",
        "__init__.py",
        "..\\routes.py",
    ],
)
def test_no_name_reaches_past_the_files_of_the_folder(name: str) -> None:
    response = answer(request(name))
    assert response.status_code == 404 and response.mimetype == "application/json"
    assert json.loads(response.get_body())["error"]["code"] == "notFound"


def test_only_files_of_known_types_at_the_top_of_the_folder_are_served(tmp_path: Path) -> None:
    (tmp_path / INDEX).write_text("<p>{{api}}</p>")
    (tmp_path / "app.js").write_text("1")
    (tmp_path / "notes.txt").write_text("secret")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.js").write_text("2")
    assert set(load(tmp_path).files) == {INDEX, "app.js"}
