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


ROOT = Path(ledger.domain.__file__).resolve().parents[2]
# The Kafka consumers themselves; every other Kafka call goes through ledger/kafka.
KAFKA_CONSUMERS = {"consumers/intake_writer.py"}


def _imports_of(package: str) -> dict[str, set[str]]:
    return {str(path.relative_to(ROOT)): imported_modules(path)
            for path in sorted((ROOT / package).rglob("*.py"))}


def test_kafka_is_touched_only_in_ledger_kafka_and_the_kafka_consumers() -> None:
    touching = {
        path for package in ("ledger", "projections", "consumers")
        for path, names in _imports_of(package).items()
        if any(name == "kafka" or name.startswith("kafka.") for name in names)
    }
    assert touching, "positive control: some module does use kafka-python"
    assert {p for p in touching
            if not p.startswith("ledger/kafka/") and p not in KAFKA_CONSUMERS} == set()


def test_the_backend_is_chosen_in_the_composition_root_alone() -> None:
    """No ``settings.backend == "kafka"`` branch outside consumers/composition.py."""
    choosing = {
        path for package in ("ledger", "projections", "consumers")
        for path in (str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*.py"))
        if ".backend ==" in (ROOT / path).read_text("utf-8")
    }
    assert choosing == {"consumers/composition.py"}


def test_the_use_cases_know_no_command_line() -> None:
    offenders = {path: names for path, names in _imports_of("consumers/services").items()
                 if "argparse" in names or any(n.startswith("consumers.cli") for n in names)}
    assert offenders == {}
