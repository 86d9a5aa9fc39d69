"""Every route, tried with every role and with none: the matrix of the issue, exactly.

The matrix is written out here from the issue (not imported), each route's group is
named here, and the app's routes must be exactly the ones listed: a route added
without a line here fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from consumers.web.roles import MATRIX, Group, Role
from tests.web.conftest import bearer, sign_in
from tests.web.seed import Seeded

U, A, H, AD = Role.UPSTREAM, Role.AUDITOR, Role.DSAR_HANDLER, Role.ADMIN
# The issue's table: route group -> the roles that may use it.
EXPECTED = {
    Group.DOCS: {U, A, H, AD},  # health and OpenAPI (health needs no token at all)
    Group.ACTS: {U, H, AD},
    Group.OVERSIGHT: {A, H, AD},
    Group.QUEUE: {A, H, AD},
    Group.VALUES: {H, AD},
    Group.OFFICE: {H, AD},
    Group.TOKENS: {AD},
}
S = "{subject}"
# (method, path, group, body): bodies that a permitted role gets past the guard with,
# without changing anything (they fail validation, or name nobody).
API: list[tuple[str, str, Group, Any]] = [
    ("GET", "/health", Group.PUBLIC, None),
    ("GET", "/openapi.json", Group.DOCS, None),
    ("GET", "/docs", Group.DOCS, None),
    ("POST", "/v1/acts", Group.ACTS, b""),
    ("POST", "/v1/subjects/lookup", Group.VALUES, {"email": "nobody@example.nl"}),
    ("POST", f"/v1/subjects/{S}/view", Group.VALUES, {}),
    ("POST", f"/v1/subjects/{S}/export", Group.VALUES, {}),
    ("GET", f"/v1/subjects/{S}/audit-trail", Group.OVERSIGHT, None),
    ("GET", "/v1/audit-trail", Group.OVERSIGHT, None),
    ("GET", "/v1/registers/records-of-processing", Group.OVERSIGHT, None),
    ("GET", "/v1/registers/disclosures", Group.OVERSIGHT, None),
    ("GET", "/v1/retention-schedule", Group.OVERSIGHT, None),
    ("GET", "/v1/access-log", Group.OVERSIGHT, None),
    ("GET", "/v1/access-log/verification", Group.OVERSIGHT, None),
    ("GET", "/v1/dsar-queue", Group.QUEUE, None),
    ("GET", f"/v1/subjects/{S}/erasure-plan", Group.OFFICE, None),
    ("POST", f"/v1/subjects/{S}/erasure", Group.OFFICE, {}),
    ("POST", f"/v1/subjects/{S}/acts", Group.OFFICE, {"type": "none"}),
    ("GET", "/v1/tokens", Group.TOKENS, None),
    ("POST", "/v1/tokens", Group.TOKENS, {}),
    ("DELETE", "/v1/tokens/nobody", Group.TOKENS, None),
]
PAGES: list[tuple[str, str, Group, Any]] = [
    ("GET", "/login", Group.PUBLIC, None),
    ("GET", "/", Group.DOCS, None),
    ("GET", "/find", Group.VALUES, None),
    ("POST", "/find", Group.VALUES, {}),
    ("GET", f"/subjects/{S}", Group.VALUES, None),
    ("POST", f"/subjects/{S}/view", Group.VALUES, {}),
    ("POST", f"/subjects/{S}/export", Group.VALUES, {}),
    ("GET", f"/subjects/{S}/erase", Group.OFFICE, None),
    ("POST", f"/subjects/{S}/erase", Group.OFFICE, {}),
    ("GET", f"/subjects/{S}/acts", Group.OFFICE, None),
    ("POST", f"/subjects/{S}/acts", Group.OFFICE, {"type": "none"}),
    ("GET", "/queue", Group.QUEUE, None),
    ("GET", "/audit", Group.OVERSIGHT, None),
    ("GET", "/registers", Group.OVERSIGHT, None),
    ("GET", "/retention", Group.OVERSIGHT, None),
    ("GET", "/access-log", Group.OVERSIGHT, None),
    ("GET", "/tokens", Group.TOKENS, None),
    ("POST", "/tokens", Group.TOKENS, {}),
    ("POST", "/tokens/nobody/revoke", Group.TOKENS, None),
    ("POST", "/logout", Group.DOCS, None),  # last of a role's pages: it signs out
]
# Tried apart (sign-in itself): POST /login, in test_web_sessions.
ELSEWHERE = {("POST", "/login")}
ROLES: list[Role | None] = [None, *Role]


def _template(path: str) -> str:
    return path.replace(S, "{subject_id}").replace("/nobody", "/{name}")


def test_the_matrix_is_the_issues() -> None:
    assert {group: set(roles) for group, roles in MATRIX.items()
            if group is not Group.PUBLIC} == EXPECTED


def _routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """Every (method, path) of the app, through included routers (FastAPI keeps them as
    included-router entries that hold the original router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield from ((method, route.path) for method in route.methods)
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


def test_every_route_of_the_app_is_listed_here(client: TestClient) -> None:
    app_routes = set(_routes(client.app.routes))  # type: ignore[attr-defined]
    assert len(app_routes) > 30
    listed = {(m, _template(p)) for m, p, _, _ in API + PAGES} | ELSEWHERE
    assert app_routes == listed


def _send(client: TestClient, method: str, path: str, body: Any, *,
          headers: dict[str, str], form: dict[str, str] | None = None) -> Any:
    if form is not None:
        return client.request(method, path, data={**form, **(body or {})}, headers=headers)
    if isinstance(body, bytes):
        return client.request(method, path, content=body, headers={
            **headers, "content-type": "application/x-ndjson"})
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: str(r or "none"))
def test_api_routes_follow_the_matrix(client: TestClient, seeded: Seeded,
                                      role: Role | None) -> None:
    client.cookies.clear()
    wrong = []
    for method, path, group, body in API:
        answer = _send(client, method, path.replace(S, seeded.subject_a), body,
                       headers=bearer(seeded, role))
        if group is Group.PUBLIC or (role is not None and role in EXPECTED[group]):
            ok = answer.status_code not in (401, 403) and answer.status_code < 500
        elif role is None and path == "/docs":
            ok = answer.status_code == 303 and answer.headers["location"] == "/login"
        elif role is None:
            ok = answer.status_code == 401 and answer.headers["content-type"].startswith(
                "application/problem+json")
        else:
            ok = answer.status_code == 403 and answer.json()["type"].endswith(":forbidden")
        if not ok:
            wrong.append((method, path, answer.status_code))
    assert wrong == []


@pytest.mark.parametrize("role", ROLES, ids=lambda r: str(r or "none"))
def test_pages_follow_the_matrix(client: TestClient, seeded: Seeded,
                                 role: Role | None) -> None:
    wrong = []
    for method, path, group, body in PAGES:
        client.cookies.clear()
        csrf = sign_in(client, seeded.tokens[role]) if role is not None else "none"
        form = {"csrf": csrf} if method == "POST" else None
        answer = _send(client, method, path.replace(S, seeded.subject_a), body, headers={},
                       form=form)
        if group is Group.PUBLIC or (role is not None and role in EXPECTED[group]):
            ok = answer.status_code not in (401, 403) and answer.status_code < 500 and (
                answer.headers.get("location") != "/login" or path == "/logout")
        elif role is None:
            ok = answer.status_code == 303 and answer.headers["location"] == "/login"
        else:
            ok = answer.status_code == 403 and "text/html" in answer.headers["content-type"]
        if not ok:
            wrong.append((method, path, answer.status_code))
    assert wrong == []


def test_a_session_cookie_does_not_open_the_api(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.tokens[Role.ADMIN])
    assert client.get("/v1/tokens").status_code == 401
    assert client.get("/tokens").status_code == 200


def test_a_page_form_without_the_csrf_token_is_refused(client: TestClient,
                                                       seeded: Seeded) -> None:
    sign_in(client, seeded.tokens[Role.ADMIN])
    answer = client.post("/tokens", data={"name": "sneaky", "role": "admin"})
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert "sneaky" not in client.get("/tokens").text


def test_health_needs_no_token_and_static_assets_are_public(client: TestClient) -> None:
    client.cookies.clear()
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/static/console.css").status_code == 200
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
