"""Errors as RFC 9457 problem documents (``application/problem+json``).

``type`` is a URN naming the kind of problem; ``title`` says it in words, ``detail``
says what was wrong with this request in words that name fields, ids and rules, never
a personal value. A refused act adds its ``rule`` (the ledger's refusal vocabulary).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:personal-data-ledger:problem:"
_TITLES = {
    400: "Bad request", 401: "Not signed in", 403: "Not allowed for this role",
    404: "Not found", 405: "Method not allowed", 409: "Conflict",
    413: "Request body too large", 415: "Unsupported media type",
    422: "Unprocessable request", 429: "Too many attempts",
    500: "Internal error", 502: "Backend unavailable", 503: "Unavailable",
}


class ProblemDocument(BaseModel):
    """RFC 9457; extension members: ``rule`` (a refused act's rule), ``errors``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    rule: str | None = None


class Problem(Exception):
    """Raised by a route; answered as a problem document (or an error page)."""

    def __init__(self, status: int, kind: str, detail: str, *, rule: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.rule = rule
        self.headers = headers or {}
        self.extra = extra

    @property
    def title(self) -> str:
        return _TITLES.get(self.status, "Error")

    def document(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": _TYPE_PREFIX + self.kind, "title": self.title,
                                "status": self.status, "detail": self.detail}
        if instance is not None:
            body["instance"] = instance
        if self.rule is not None:
            body["rule"] = self.rule
        body.update(self.extra)
        return body

    def response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(self.document(instance), status_code=self.status,
                            media_type=PROBLEM_MEDIA_TYPE, headers=self.headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route: each status (and any other) a problem."""
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}
    documented: dict[int | str, dict[str, Any]] = {
        status: {"description": _TITLES.get(status, "Error"), "content": content}
        for status in statuses}
    documented["default"] = {"description": "A problem (RFC 9457)", "content": content}
    return documented
