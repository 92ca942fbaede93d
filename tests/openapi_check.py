"""Every answer checked against the API's own OpenAPI document, with openapi-core.

`attach(session)` adds a response hook to a `requests.Session`: each answer to a request the document
describes (its path and method) is validated (status, content type, headers, body schema) and a mismatch is
recorded; `OpenApiChecker.assert_clean()` fails with them. Requests the document does not describe (devhost's
own routes, a method a route does not take) are counted apart, so a test can still see what it reached.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound

from durable_batch.api.openapi import document


@dataclass
class OpenApiChecker:
    # The library types a document as Mapping[Hashable, Any], which a dict[str, Any] is not (keys are invariant).
    openapi: OpenAPI = field(default_factory=lambda: OpenAPI.from_dict(cast(Mapping[Hashable, Any], document())))
    checked: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status) of every answer validated."""
    failures: list[str] = field(default_factory=list)

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = RequestsOpenAPIRequest(_one_segment_blob_name(response.request))
        try:
            self.openapi.validate_response(request, RequestsOpenAPIResponse(response))
        except (PathNotFound, OperationNotFound, ServerNotFound):
            return
        except Exception as exc:  # every other validation error is a mismatch worth reporting in full
            cause = getattr(exc, "__cause__", None)
            inner = getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None) or []
            detail = "; ".join(str(error.message) for error in inner) or repr(cause or exc)
            self.failures.append(
                f"{response.request.method} {response.request.path_url} -> {response.status_code}: {exc}: {detail}"
                f"\n  body: {response.text[:500]}"
            )
        self.checked.append((str(response.request.method), str(response.request.path_url), response.status_code))

    def assert_clean(self) -> None:
        assert not self.failures, "answers out of the OpenAPI document:\n" + "\n".join(self.failures)


def _one_segment_blob_name(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """The request with a file route's blob name as one path segment (`/`s as `%2F`): OpenAPI path parameters
    match one segment, while the route's `{*path}` takes the rest of the URL."""
    parts = urlsplit(str(request.url))
    head, marker, tail = parts.path.partition("/files/")
    container, slash, name = tail.partition("/")
    if not marker or not slash:
        return request
    copy = request.copy()
    path = f"{head}/files/{container}/{quote(unquote(name), safe='')}"
    copy.url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))
    return copy


def attach(session: requests.Session) -> OpenApiChecker:
    checker = OpenApiChecker()
    session.hooks["response"].append(checker)
    return checker
