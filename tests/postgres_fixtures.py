"""A real PostgreSQL server for the tests marked ``postgres``.

``LEDGER_TEST_POSTGRES_DSN`` names an existing server; without it a throwaway server
is started from the distribution's binaries (docker/postgres/server.py) once per
session and stopped at the end, whatever the tests did. If neither works the tests
fail with what to install: a backend that silently skips is a backend nobody tests.

Register with ``pytest_plugins = ["tests.postgres_fixtures"]`` in tests/conftest.py.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from contextlib import ExitStack
from uuid import uuid4

import pytest

from tests.docker_modules import load_docker_module, named_or_started

DSN_VARIABLE = "LEDGER_TEST_POSTGRES_DSN"


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server for this test session."""
    yield from named_or_started(DSN_VARIABLE, _start_server)


def _start_server(cleanup: ExitStack) -> str:
    server_module = load_docker_module("ledger_test_postgres_server", "postgres/server.py")
    try:
        server = server_module.PostgresServer.start()
    except server_module.PostgresUnavailable as exc:
        reason = str(exc)
    else:
        # atexit too: if the session dies before the finalizer, the server still goes.
        atexit.register(server.stop)
        cleanup.callback(atexit.unregister, server.stop)
        cleanup.callback(server.stop)
        return str(server.dsn)
    # Failed outside the except block: no chained traceback.
    pytest.fail(
        f"PostgreSQL is needed for tests marked 'postgres' and could not start: {reason}",
        pytrace=False,
    )


class InFreshSchemas:
    """For a test class: ``self.dsn``, the session's server, and ``self.schema``, a fresh
    name from ``postgres_schema`` (so dropped after the test), set before each test."""

    dsn: str
    schema: str

    @pytest.fixture(autouse=True)
    def _in_fresh_schemas(self, postgres_dsn: str, postgres_schema: str) -> None:
        self.dsn = postgres_dsn
        self.schema = postgres_schema


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema name; after the test, every schema named it or ``<it>_...`` is
    dropped with its contents, so a test may derive several schemas from it."""
    import psycopg
    from psycopg import sql

    schema = f"test_{uuid4().hex[:16]}"
    yield schema
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (schema, schema + "\\_%"),
        ).fetchall()
        for (name,) in names:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def terminate_backends(dsn: str, application_name: str) -> int:
    """Ends every server process serving connections named ``application_name`` (as a
    server restart would) and returns how many ended; each is waited for until it has
    exited (PostgreSQL 14's ``pg_terminate_backend`` timeout), not for a quiet period."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 30000)) "
            "FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,)).fetchone()
    return int(row[0]) if row else 0
