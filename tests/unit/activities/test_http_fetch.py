"""The SSRF rules of `httpUrl` resource files: which addresses are refused, checked before any connection."""

from __future__ import annotations

from pathlib import Path

import pytest

from durable_batch.activities.http_fetch import FetchError, address_problem, fetch_to_file, shown_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "::ffff:169.254.169.254",
        "168.63.129.16",
        "0.0.0.0",
        "::",
        "224.0.0.1",
    ],
)
def test_metadata_link_local_and_special_addresses_are_refused(address: str) -> None:
    assert address_problem(address) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "20.38.1.1", "2001:db8::1", "::1"])
def test_other_addresses_are_allowed(address: str) -> None:
    assert address_problem(address) is None


def test_a_name_with_any_refused_address_is_refused_before_connecting(tmp_path: Path) -> None:
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["20.38.1.1", "169.254.169.254"]

    with pytest.raises(FetchError, match=r"refusing to fetch https://files\.example/x: files\.example resolves to"):
        fetch_to_file("https://files.example/x?sig=secret", tmp_path / "x", resolve=resolve)
    assert asked == [("files.example", 443)]
    assert not (tmp_path / "x").exists()


def test_shown_urls_leave_the_query_out() -> None:
    assert shown_url("https://a.example/p/q.txt?sv=1&sig=abc") == "https://a.example/p/q.txt"
