"""A real PostgreSQL server for the tests marked ``postgres``.

``LEDGER_TEST_POSTGRES_DSN`` names an existing server; without it a throwaway server
is started from the distribution's binaries (docker/postgres/server.py) once per
session and stopped at the end, whatever the tests did. If neither works the tests
fail with what to install: a backend that silently skips is a backend nobody tests.

Register with ``pytest_plugins = ["tests.postgres_fixtures"]`` in tests/conftest.py.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import pytest

DSN_VARIABLE = "LEDGER_TEST_POSTGRES_DSN"
_SERVER_MODULE = Path(__file__).resolve().parents[1] / "docker" / "postgres" / "server.py"


def load_server_module() -> ModuleType:
    """docker/postgres/server.py, by path: the name ``docker`` is the Docker SDK's."""
    name = "ledger_test_postgres_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _SERVER_MODULE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_SERVER_MODULE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server for this test session."""
    external = os.environ.get(DSN_VARIABLE)
    if external:
        yield external
        return
    server_module = load_server_module()
    reason: str | None = None
    try:
        server = server_module.PostgresServer.start()
    except server_module.PostgresUnavailable as exc:
        reason = str(exc)
    if reason is not None:  # failed outside the except block: no chained traceback
        pytest.fail(
            f"PostgreSQL is needed for tests marked 'postgres' and could not start: {reason}",
            pytrace=False,
        )
    # atexit too: if the session dies before the finalizer, the server still goes.
    atexit.register(server.stop)
    try:
        yield server.dsn
    finally:
        server.stop()
        atexit.unregister(server.stop)


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
