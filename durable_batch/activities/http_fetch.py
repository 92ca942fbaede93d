"""Fetching a resource file's `httpUrl` into a task's folder, without letting a job reach the worker's own secrets.

A job names the URL and the worker fetches it, so the URL must not lead to what only the worker can reach and a
job must not: the link-local range (169.254.0.0/16 and fe80::/10, where cloud metadata and managed identity
endpoints answer, such as 169.254.169.254; IPv4 addresses written as IPv6 count as IPv4), Azure's host endpoint
168.63.129.16, and the unspecified and multicast addresses. Every name is resolved here, every address it
resolves to is checked (one bad address refuses the URL), and the connection goes to the checked address (the
TLS name is still the host's), so a name that resolves differently the second time cannot slip through. Each
redirect is checked the same way. Proxies from the environment are not used.

No library here: the maintained HTTP clients resolve names themselves, and the SSRF wrappers for them are not
maintained; this is the standard library's `http.client` with the socket chosen by us.
"""

from __future__ import annotations

import http.client
import ipaddress
import shutil
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BLOCKED_NETWORKS", "FetchError", "address_problem", "fetch_to_file", "shown_url"]

BLOCKED_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("168.63.129.16/32"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 60.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], list[str]]


class FetchError(Exception):
    """The URL may not be fetched, or fetching it failed: the task's problem, said in one line."""


def shown_url(url: str) -> str:
    """The URL without its query (it may hold a token), for messages."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def address_problem(address: str) -> str | None:
    """Why the worker must not connect to `address`, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return f"{ip} is an unspecified or multicast address"
    for network in BLOCKED_NETWORKS:
        if ip in network:
            return f"{ip} is in {network}, where the machine's metadata and identity endpoints answer"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host!r}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _connection(url: str, resolve: Resolver, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{shown_url(url)} is not an http:// or https:// URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise FetchError(f"{parts.hostname!r} resolves to no address")
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            raise FetchError(f"refusing to fetch {shown_url(url)}: {parts.hostname} resolves to {problem}")
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return kind(parts.hostname, port, addresses[0], timeout), target


def fetch_to_file(url: str, path: Path, *, resolve: Resolver = _resolve, timeout: float = TIMEOUT_SECONDS) -> int:
    """GET `url` into `path` (following up to `MAX_REDIRECTS` redirects, each checked); the bytes written.
    `FetchError` when the URL is refused or does not answer 200."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        connection, target = _connection(current, resolve, timeout)
        try:
            try:
                connection.request("GET", target, headers={"User-Agent": "durable-batch", "Accept": "*/*"})
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(f"cannot fetch {shown_url(current)}: {exc}") from exc
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise FetchError(f"{shown_url(current)} redirected without a Location")
                current = urllib.parse.urljoin(current, location)
                continue
            if response.status != 200:
                raise FetchError(f"{shown_url(current)} answered {response.status} {response.reason}")
            return _save(response, path, current)
        finally:
            connection.close()
    raise FetchError(f"{shown_url(url)} redirected more than {MAX_REDIRECTS} times")


def _save(response: Any, path: Path, url: str) -> int:
    try:
        with path.open("wb") as out:
            shutil.copyfileobj(response, out, 1024 * 1024)
            return out.tell()
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"cannot read {shown_url(url)}: {exc}") from exc
