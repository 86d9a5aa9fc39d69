"""The domain at the centre imports nothing infrastructural (cosmicpython's rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import ledger.domain

FORBIDDEN = ("kafka", "orjson", "sqlite3", "psycopg", "eventsourcing.sqlite",
             "eventsourcing.postgres", "cryptography", "jsonschema", "testcontainers",
             "ledger.crypto", "ledger.kafka", "ledger.persistence", "ledger.intake",
             "ledger.application", "consumers", "projections")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def domain_files() -> list[Path]:
    return sorted(Path(ledger.domain.__file__).parent.glob("*.py"))


def test_domain_imports_no_infrastructure() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in domain_files()
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert offenders == set()


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    # Positive control: the scan must notice an import when there is one.
    sample = tmp_path / "leaky.py"
    sample.write_text("import orjson\nfrom kafka import KafkaProducer\n")
    assert {"orjson", "kafka"} <= imported_modules(sample)
    assert len(domain_files()) >= 6
