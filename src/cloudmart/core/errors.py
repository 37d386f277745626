"""RFC 9457 problem details: the one error shape every CloudMart service answers with.

Services raise `ProblemError` (or a subclass); `cloudmart.core.http` renders it as
`application/problem+json`. Extension members (e.g. `errors` for validation) ride along.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://cloudmart.dev/problems/"


class ProblemError(Exception):
    """An error with an HTTP status that is the client's to see."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type_ = type_ or "about:blank"
        self.headers = dict(headers or {})
        self.extensions = extensions

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type_, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class _Fixed(ProblemError):
    status_code = 500
    default_title = "Internal Server Error"
    slug = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str | None = None,
        type_: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(
            self.status_code,
            title or self.default_title,
            detail,
            type_=type_ or TYPE_BASE + self.slug,
            headers=headers,
            **extensions,
        )


class Unauthorized(_Fixed):
    status_code, default_title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="cloudmart"'})
        super().__init__(detail, **kw)


class Forbidden(_Fixed):
    status_code, default_title, slug = 403, "Forbidden", "forbidden"


class NotFound(_Fixed):
    status_code, default_title, slug = 404, "Not Found", "not-found"


class Conflict(_Fixed):
    status_code, default_title, slug = 409, "Conflict", "conflict"


class Unprocessable(_Fixed):
    status_code, default_title, slug = 422, "Unprocessable Content", "validation"


class ServiceUnavailable(_Fixed):
    status_code, default_title, slug = 503, "Service Unavailable", "unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, **kw)


def problem_response(
    problem: ProblemError, instance: str | None = None, request_id: str | None = None
) -> Response:
    body = problem.to_dict(instance)
    if request_id:
        body.setdefault("request_id", request_id)
    return Response(
        orjson.dumps(body), status_code=problem.status, headers=problem.headers, media_type=PROBLEM_JSON
    )
