"""Token stores (SQLite file and PostgreSQL), and `ledger tokens` as a user runs it:
a token is shown once, only its SHA-256 is kept, names are never reused."""

from __future__ import annotations

import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from consumers.web.roles import Role
from consumers.web.token_store_postgres import APPLICATION_NAME, PostgresTokenStore
from consumers.web.tokens import SQLiteTokenStore, TokenStore, token_hash
from ledger.errors import ConfigurationError
from tests.cli_helpers import ledger
from tests.postgres_fixtures import InFreshSchemas, terminate_backends


class TokenStoreContract(ABC):
    @abstractmethod
    def open_store(self) -> TokenStore: ...

    @pytest.fixture
    def store(self) -> Iterator[TokenStore]:
        opened = self.open_store()
        yield opened
        opened.close()

    def test_a_token_verifies_as_its_holder_until_revoked(self, store: TokenStore) -> None:
        token, info = store.create("crm-sync", "upstream")
        assert (info.name, info.role, info.revoked_at) == ("crm-sync", "upstream", None)
        principal = store.verify(token)
        assert principal is not None
        assert (principal.name, principal.role) == ("crm-sync", Role.UPSTREAM)
        assert store.principal_of_hash(token_hash(token)) == principal
        assert store.revoke("crm-sync") is True
        assert store.revoke("crm-sync") is False
        assert store.verify(token) is None
        assert [t.revoked_at is not None for t in store.list()] == [True]

    def test_names_roles_and_tokens_are_checked(self, store: TokenStore) -> None:
        token, _ = store.create("ada", "admin")
        with pytest.raises(ConfigurationError, match="never reused"):
            store.create("ada", "auditor")
        store.revoke("ada")
        with pytest.raises(ConfigurationError, match="never reused"):
            store.create("ada", "auditor")
        for name in ("Ada", "ada@example.nl", "a b", ""):
            with pytest.raises(ConfigurationError):
                store.create(name, "admin")
        with pytest.raises(ConfigurationError):
            store.create("eve", "superuser")
        assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert store.verify("not-a-token") is None


class TestSQLiteTokenStore(TokenStoreContract):
    @pytest.fixture(autouse=True)
    def _where(self, tmp_path: Path) -> None:
        self.path = tmp_path / "tokens.sqlite"

    def open_store(self) -> TokenStore:
        return SQLiteTokenStore(self.path)


@pytest.mark.postgres
class TestPostgresTokenStore(InFreshSchemas, TokenStoreContract):
    def open_store(self) -> TokenStore:
        return PostgresTokenStore(self.dsn, schema=self.schema)

    def test_a_dropped_connection_costs_no_later_sign_in(self, store: TokenStore) -> None:
        """A restarted server must not lock everyone out until the console restarts."""
        token, _ = store.create("crm-sync", "upstream")
        killed = terminate_backends(self.dsn, APPLICATION_NAME)
        assert killed >= 1, "positive control: the store's connection was killed"
        principal = store.verify(token)
        assert principal is not None
        assert principal.name == "crm-sync"


@pytest.mark.e2e
def test_ledger_tokens_create_list_revoke(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = ledger("tokens", "create", "--role", "auditor", "--name", "audrey", data_dir=data)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("ldg_")
    assert "only time" in made.stderr
    stored = data / "tokens.sqlite"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    raw = b"".join(p.read_bytes() for p in data.glob("tokens.sqlite*"))
    assert token.encode() not in raw  # only its hash is kept
    listed = orjson.loads(ledger("tokens", "list", "--json", data_dir=data).stdout)
    assert [(t["name"], t["role"], t["active"]) for t in listed] == [("audrey", "auditor", True)]
    assert token not in str(listed)
    assert ledger("tokens", "revoke", "audrey", data_dir=data).returncode == 0
    assert ledger("tokens", "revoke", "audrey", data_dir=data).returncode == 2
    again = ledger("tokens", "create", "--role", "admin", "--name", "audrey", data_dir=data)
    assert again.returncode == 2
    assert "never reused" in again.stderr
