"""Fixtures of the web console's tests: a seeded ledger, the app in process, sign-in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from consumers.web.app import create_app
from consumers.web.roles import Role
from tests.web.seed import Seeded, seed_ledger

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_ledger(tmp_path_factory.mktemp("web") / "data")


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded.settings), follow_redirects=False) as test_client:
        yield test_client


def bearer(seeded: Seeded, role: Role | None) -> dict[str, str]:
    return {} if role is None else {"Authorization": f"Bearer {seeded.tokens[role]}"}


def sign_in(client: TestClient, token: str) -> str:
    """Signs ``client`` in (its cookie jar keeps the session); the session's CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    nonce = LOGIN_CSRF.search(page.text)
    assert nonce is not None
    answer = client.post("/login", data={"token": token, "login_csrf": nonce.group(1)})
    assert answer.status_code == 303, answer.text
    home = client.get("/")
    found = CSRF.search(home.text)
    assert found is not None, home.text
    return found.group(1)


def data_dir_of(seeded: Seeded) -> Path:
    return seeded.settings.data_dir
