"""Route templates and the router, against ASP.NET's matching rules."""

from __future__ import annotations

import pytest

from devhost.errors import RouteTemplateError
from devhost.http.routes import Router, RouteTemplate, split_path

pytestmark = pytest.mark.unit


def match(template: str, path: str) -> dict[str, str] | None:
    return RouteTemplate(template).match(split_path(path))


def test_literal_routes_match_case_insensitively_and_ignore_a_trailing_slash() -> None:
    assert match("Products/List", "/products/LIST/") == {}
    assert match("products/list", "/products") is None
    assert match("products", "/products/list") is None


def test_parameters_keep_their_case_and_are_percent_decoded() -> None:
    assert match("orders/{orderId}", "/Orders/AbC%2F1%20x") == {"orderId": "AbC/1 x"}
    assert match("orders/{orderId}", "/orders/") is None


def test_optional_and_default_parameters() -> None:
    assert match("opt/{a}/{b?}", "/opt/1") == {"a": "1"}
    assert match("opt/{a}/{b?}", "/opt/1/2") == {"a": "1", "b": "2"}
    assert match("opt/{a}/{b?}", "/opt/1/2/3") is None
    assert match("page/{n=1}", "/page") == {"n": "1"}
    assert match("page/{n:int=1}", "/page/7") == {"n": "7"}


def test_catch_all_takes_the_rest_of_the_path() -> None:
    assert match("files/{*path}", "/files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert match("files/{*path}", "/files") == {}
    with pytest.raises(RouteTemplateError):
        RouteTemplate("files/{*path}/more")


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        ("int", ["0", "-12", "2147483647"], ["x", "1.5", "2147483648"]),
        ("long", ["9223372036854775807"], ["9223372036854775808", "a"]),
        ("alpha", ["abcXYZ"], ["abc1", "a-b"]),
        ("bool", ["true", "FALSE"], ["yes", "1"]),
        ("guid", ["6f1a4b3e-2d2c-4a4e-9f0e-0b1d2c3e4f5a", "6F1A4B3E2D2C4A4E9F0E0B1D2C3E4F5A"], ["6f1a", "zz"]),
        ("datetime", ["2024-01-31", "2024-01-31T10:00:00"], ["yesterday"]),
        ("double", ["1.5", "-2", "1e3"], ["nan", "1,5"]),
        ("minlength(3)", ["abc"], ["ab"]),
        ("maxlength(2)", ["ab"], ["abc"]),
        ("length(2,3)", ["ab", "abc"], ["a", "abcd"]),
        ("min(10)", ["10", "99"], ["9"]),
        ("max(10)", ["10", "-5"], ["11"]),
        ("range(1,3)", ["1", "3"], ["0", "4"]),
        ("regex(^[a-z]{{2}}\\d$)", ["ab1", "AB1"], ["abc1"]),
    ],
)
def test_constraints(constraint: str, good: list[str], bad: list[str]) -> None:
    template = RouteTemplate(f"x/{{value:{constraint}}}")
    for value in good:
        assert template.match(["x", value]) == {"value": value}, value
    for value in bad:
        assert template.match(["x", value]) is None, value


def test_several_constraints_must_all_hold() -> None:
    template = RouteTemplate("x/{v:int:min(5)}")
    assert template.match(["x", "7"]) == {"v": "7"}
    assert template.match(["x", "3"]) is None


def test_complex_segments() -> None:
    assert match("files/{name}.{ext}", "/files/report.final.pdf") == {"name": "report.final", "ext": "pdf"}
    assert match("files/{name}.{ext:alpha}", "/files/report.123") is None


@pytest.mark.parametrize(
    "template",
    ["a/{b", "a/b}", "a/{b:nosuch}", "a/{b}/{B}", "a/{b:int(3)}", "a/{b:min}", "{a}-{b?}"],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template)


def test_router_prefers_literals_then_constraints_and_reports_405() -> None:
    router: Router[str] = Router()
    router.add(None, "items/{slug}", "any")
    router.add(["GET"], "items/{id:int}", "int")
    router.add(["GET"], "items/special", "literal")
    router.add(["POST"], "orders/{id}", "post-order")

    def target(method: str, path: str) -> str | None:
        resolved = router.resolve(method, split_path(path))
        assert resolved is not None
        return resolved.target

    assert target("GET", "/items/special") == "literal"
    assert target("GET", "/items/12") == "int"
    assert target("GET", "/items/abc") == "any"
    assert target("DELETE", "/items/12") == "any"
    refused = router.resolve("GET", split_path("/orders/1"))
    assert refused is not None and refused.target is None and refused.allowed == {"POST"}
    assert router.resolve("GET", split_path("/nothing")) is None
