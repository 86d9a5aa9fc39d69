"""Sign-in, sessions, CSRF on the sign-in form, slowed failures, and security headers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from consumers.web.app import create_app
from consumers.web.context import WebConfig
from consumers.web.roles import Role
from consumers.web.sessions import Sessions
from consumers.web.throttle import FREE_FAILURES, LOCK_AFTER, SignInThrottle
from tests.web.conftest import LOGIN_CSRF, bearer, sign_in
from tests.web.seed import Seeded


def _login(client: TestClient, token: str) -> Any:
    client.cookies.clear()
    nonce = LOGIN_CSRF.search(client.get("/login").text)
    assert nonce is not None
    return client.post("/login", data={"token": token, "login_csrf": nonce.group(1)})


def test_the_session_cookie_is_httponly_and_strict(client: TestClient, seeded: Seeded) -> None:
    answer = _login(client, seeded.tokens[Role.AUDITOR])
    cookie = answer.headers["set-cookie"].lower()
    assert "ledger_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie  # plain HTTP here; see the TLS test


@pytest.fixture
def tls_client(seeded: Seeded) -> Iterator[TestClient]:
    app = create_app(seeded.settings, WebConfig(tls=True))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def test_under_tls_the_cookie_is_secure_and_hsts_is_sent(tls_client: TestClient,
                                                         seeded: Seeded) -> None:
    answer = _login(tls_client, seeded.tokens[Role.AUDITOR])
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("__host-ledger_session=")
    assert "secure" in cookie
    assert "path=/" in cookie
    assert "max-age=" in tls_client.get("/health").headers["strict-transport-security"]


def test_sign_in_without_the_forms_cookie_is_refused(client: TestClient,
                                                     seeded: Seeded) -> None:
    client.cookies.clear()
    answer = client.post("/login", data={"token": seeded.tokens[Role.ADMIN],
                                         "login_csrf": "forged"})
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers or "ledger_session" not in answer.headers[
        "set-cookie"]


def test_an_idle_session_ends(client: TestClient, seeded: Seeded) -> None:
    sign_in(client, seeded.tokens[Role.AUDITOR])
    sessions = client.app.state.web.sessions  # type: ignore[attr-defined]
    timeout = sessions.idle_timeout_s
    sessions.idle_timeout_s = -1.0
    try:
        answer = client.get("/queue")
    finally:
        sessions.idle_timeout_s = timeout
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")


def test_sessions_expire_by_their_own_clock() -> None:
    now = [0.0]
    sessions = Sessions(60.0, clock=lambda: now[0])
    session = sessions.open("hash")
    now[0] = 59.0
    assert sessions.get(session.id) is session  # used: the idle clock restarts
    now[0] = 118.0
    assert sessions.get(session.id) is session
    now[0] = 179.0
    assert sessions.get(session.id) is None


def test_revoking_a_token_ends_its_sessions(client: TestClient, seeded: Seeded) -> None:
    admin = bearer(seeded, Role.ADMIN)
    made = client.post("/v1/tokens", json={"name": "temp-auditor", "role": "auditor"},
                       headers=admin)
    assert made.status_code == 201
    sign_in(client, made.json()["token"])
    assert client.get("/queue").status_code == 200
    assert client.delete("/v1/tokens/temp-auditor", headers=admin).status_code == 200
    assert client.get("/queue").headers["location"] == "/login"
    again = client.post("/v1/tokens", json={"name": "temp-auditor", "role": "auditor"},
                        headers=admin)
    assert again.status_code == 409  # names are never reused
    own = client.delete(f"/v1/tokens/{'ada-admin'}", headers=admin)
    assert own.status_code == 409


def test_failed_sign_ins_are_slowed_then_refused(client: TestClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []

    async def no_sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("consumers.web.pages_login.asyncio.sleep", no_sleep)
    client.app.state.web.throttle = SignInThrottle()  # type: ignore[attr-defined]
    answers = [_login(client, "ldg_wrong").status_code for _ in range(LOCK_AFTER + 1)]
    assert answers == [401] * LOCK_AFTER + [429]
    assert delays[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert delays[FREE_FAILURES:] == sorted(delays[FREE_FAILURES:])
    assert delays[FREE_FAILURES] > 0
    client.app.state.web.throttle = SignInThrottle()  # type: ignore[attr-defined]


def test_security_headers_on_every_response(client: TestClient, seeded: Seeded) -> None:
    handler = bearer(seeded, Role.DSAR_HANDLER)
    view = client.post(f"/v1/subjects/{seeded.subject_a}/view",
                       json={"case_ref": "C-1", "purpose": "subject-request"}, headers=handler)
    sign_in(client, seeded.tokens[Role.DSAR_HANDLER])
    page = client.get("/find")
    for answer in (view, page, client.get("/health")):
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    assert "<script>" not in docs.text  # scripts only by src
    assert client.get("/static/console.css").headers["cache-control"].startswith("public")
