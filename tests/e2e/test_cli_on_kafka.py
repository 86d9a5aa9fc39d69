"""The commands that act on a Kafka ledger, with `ledger serve` running beside them.

Erasure, retention and recording go through the intake topic to the shard's writer
(the only one allowed to append, and the one whose key cache must forget a key at
once). The tests run serve in the background, act through the command line, and read
the subject back on Kafka: erased values are gone, a bystander's are not (the positive
control), and what the writer refuses comes back as a refusal with its rule.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from kafka import KafkaProducer

from tests.kafka_ledger import collected_for_contact, ledger_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

CANARY = "CANARY-ERASE-KAFKA"


def collected(subject: str, tag: str) -> dict[str, Any]:
    return collected_for_contact(
        subject, {"name": f"{CANARY} {tag}", "business-email": f"{tag}@example.nl"})


@pytest.fixture
def env(kafka_bootstrap: str, tmp_path: Path) -> dict[str, str]:
    return ledger_env(kafka_bootstrap, tmp_path / "data", partitions=2)


@pytest.fixture
def serving(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    assert run_cli(env, "topics", "ensure").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "consumers.cli", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]


def view(env: dict[str, str], subject: str) -> str:
    shown = run_cli(env, "subject", "show", subject, "--json")
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_erase_by_email_goes_through_serve_and_leaves_the_bystander(
    env: dict[str, str], serving: subprocess.Popen[str], kafka_bootstrap: str,
) -> None:
    victim, bystander = str(uuid.uuid4()), str(uuid.uuid4())
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for subject, tag in ((victim, "victim"), (bystander, "bystander")):
        act = collected(subject, tag)
        producer.send(env["LEDGER_INTAKE_TOPIC"], key=subject.encode(),
                      value=orjson.dumps(act))
    producer.flush()
    producer.close()
    deadline = time.monotonic() + 60
    while CANARY not in run_cli(env, "subject", "show", victim, "--json").stdout:
        assert time.monotonic() < deadline, "serve did not record the acts"
        time.sleep(0.5)
    assert f"{CANARY} victim" in view(env, victim)

    erased = run_cli(env, "erase", "--email", "victim@example.nl", "--request", "R-1", "--json")
    assert erased.returncode == 0, erased.stdout + erased.stderr
    report = orjson.loads(erased.stdout)
    assert report["status"] == "recorded"
    assert report["subject_id"] == victim
    assert report["shredded_scopes"] == ["general-contact"]

    assert CANARY not in view(env, victim)
    assert f"{CANARY} bystander" in view(env, bystander), "positive control"
    # The lookup entry went with the scope that held the address.
    again = run_cli(env, "erase", "--email", "victim@example.nl", "--request", "R-2")
    assert again.returncode == 2  # a look-up that finds nobody: usage
    assert "no subject is indexed" in again.stderr


def test_an_erasure_the_writer_refuses_comes_back_with_its_rule(
    env: dict[str, str], serving: subprocess.Popen[str],
) -> None:
    unknown = str(uuid.uuid4())
    refused = run_cli(env, "erase", unknown, "--request", "R-9", "--json")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    report = orjson.loads(refused.stdout)
    assert report["status"] == "rejected"
    assert report["rule"]


def test_retention_enforcement_on_kafka_shreds_what_is_due_and_only_plans_the_future(
    env: dict[str, str], serving: subprocess.Popen[str], tmp_path: Path,
) -> None:
    """A contract that ended in 2025 (retention: contract end + 0 days) is shredded today
    through serve, signed by the office; fiscal records (kept until 2033, art. 17(3)(b))
    are only planned by a future `--now`, never shredded early."""
    subject = str(uuid.uuid4())
    act = {**collected(subject, "fiscal"), "purpose": "service-delivery",
           "legal_basis": "contract",
           "values": {"name": f"{CANARY} name", "invoice-details": f"{CANARY} invoice"}}
    ended = {"act_id": f"crm-{uuid.uuid4().hex}", "type": "contract-ended",
             "subject_id": subject, "actor": "crm", "occurred_at": "2025-06-01T09:00:00+00:00",
             "purpose": "service-delivery"}
    source = tmp_path / "acts.jsonl"
    source.write_bytes(orjson.dumps(act) + b"\n" + orjson.dumps(ended) + b"\n")
    recorded = run_cli(env, "record", str(source))  # waits for serve's answers
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr

    today = run_cli(env, "retention", "enforce", "--json")
    assert today.returncode == 0, today.stdout + today.stderr
    expired = orjson.loads(today.stdout)["expired"]
    assert [(e["subject_id"], e["scope"]) for e in expired] == [
        (subject, "general-service-delivery")]
    shown = view(env, subject)
    assert f"{CANARY} name" not in shown
    assert f"{CANARY} invoice" in shown  # kept by fiscal law

    future = run_cli(env, "retention", "enforce", "--now", "2033-01-01T00:00:00+00:00",
                     "--json")
    assert future.returncode == 0, future.stdout + future.stderr
    plan = orjson.loads(future.stdout)
    assert plan["dry_run"] is True
    assert plan["expired"] == []
    assert [(e["subject_id"], e["scope"]) for e in plan["planned"]] == [
        (subject, "fiscal-2025")]
    assert f"{CANARY} invoice" in view(env, subject), "nothing shredded before it is due"


def test_record_on_kafka_gives_one_verdict_per_line_from_the_writers(
    env: dict[str, str], serving: subprocess.Popen[str], tmp_path: Path,
) -> None:
    subject = str(uuid.uuid4())
    good = collected(subject, "recorded")
    refused = {**collected(subject, "refused"), "values": {"job-title": f"{CANARY} cfo"}}
    lines = [orjson.dumps(good), b'{"act_id": "x", "type": "data-collected"}',
             orjson.dumps(refused), orjson.dumps(good)]
    source = tmp_path / "acts.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = run_cli(env, "record", str(source), "--json")
    assert result.returncode == 1, result.stdout + result.stderr  # a line was rejected
    *verdicts, summary = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(v["line"], v["status"], v["rule"]) for v in verdicts] == [
        (1, "recorded", None),
        (2, "rejected", "invalid-act"),
        (3, "rejected", "category-not-in-purpose"),
        (4, "duplicate", "duplicate-act"),
    ]
    assert summary == {"summary": {"recorded": 1, "duplicate": 1, "rejected": 2,
                                   "failed": 0, "pending": 0}}
    assert CANARY not in result.stdout + result.stderr
    assert f"{CANARY} recorded" in view(env, subject)


def test_an_act_id_sent_again_with_other_values_is_rejected_by_the_writer_as_a_conflict(
    env: dict[str, str], serving: subprocess.Popen[str], tmp_path: Path,
) -> None:
    subject = str(uuid.uuid4())
    good = collected(subject, "first")
    other = {**good, "values": {"name": f"{CANARY} other"}}
    source = tmp_path / "acts.jsonl"
    source.write_bytes(orjson.dumps(good) + b"\n")
    first = run_cli(env, "record", str(source), "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    source.write_bytes(orjson.dumps(other) + b"\n")
    result = run_cli(env, "record", str(source), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = orjson.loads(result.stdout.splitlines()[0])
    assert (verdict["status"], verdict["rule"]) == ("rejected", "act-id-conflict")
    assert good["act_id"] in verdict["reason"]
    assert CANARY not in result.stdout + result.stderr
    shown = view(env, subject)
    assert f"{CANARY} first" in shown
    assert f"{CANARY} other" not in shown


def test_the_same_act_sent_again_in_a_later_run_is_answered_as_a_duplicate(
    env: dict[str, str], serving: subprocess.Popen[str], tmp_path: Path,
) -> None:
    """The writer drops a re-delivery without an answer record; the client tells it from
    the writer's committed progress, not from waiting (the old answer: pending, exit 6)."""
    subject = str(uuid.uuid4())
    source = tmp_path / "acts.jsonl"
    act = collected(subject, "once")
    source.write_bytes(orjson.dumps(act) + b"\n")
    first = run_cli(env, "record", str(source), "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_cli(env, "record", str(source), "--json", "--wait", "120")
    assert again.returncode == 0, again.stdout + again.stderr
    verdict, summary = (orjson.loads(line) for line in again.stdout.splitlines())
    assert (verdict["status"], verdict["rule"]) == ("duplicate", "duplicate-act")
    assert summary["summary"]["duplicate"] == 1
    assert CANARY not in again.stdout + again.stderr
    trail = run_cli(env, "audit", "trail", subject, "--json")
    assert trail.returncode == 0, trail.stdout + trail.stderr
    # Recorded once: the subject registered by the act, and its collection.
    assert [a["act_id"] for a in orjson.loads(trail.stdout)["trail"]] == [act["act_id"]] * 2


@pytest.mark.postgres
def test_on_kafka_with_postgres_keys_and_shard_projections_live_in_postgres(
    env: dict[str, str], postgres_dsn: str, tmp_path: Path,
) -> None:
    schemas = ("ledger_keys", "ledger_projections_shard_0", "ledger_projections_shard_1",
               "ledger_access")

    def drop() -> None:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    drop()
    with_pg = {**env, "LEDGER_POSTGRES_DSN": postgres_dsn}
    assert run_cli(with_pg, "topics", "ensure").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "consumers.cli", "serve"], env=with_pg,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        subjects = [str(uuid.uuid4()) for _ in range(6)]
        source = tmp_path / "acts.jsonl"
        source.write_bytes(b"\n".join(orjson.dumps(collected(s, f"pg{n}"))
                                      for n, s in enumerate(subjects)) + b"\n")
        recorded = run_cli(with_pg, "record", str(source), "--json")
        assert recorded.returncode == 0, recorded.stdout + recorded.stderr
        for n, subject in enumerate(subjects):
            assert f"{CANARY} pg{n}" in view(with_pg, subject)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    data_dir = Path(env["LEDGER_DATA_DIR"])
    # Keys, projections and the access log of who looked all live in PostgreSQL.
    stray = {path.name for path in data_dir.glob("*.sqlite")}
    assert not stray, "keys, projections and the access log belong in PostgreSQL"
    with psycopg.connect(postgres_dsn) as conn:
        found = {row[0] for row in conn.execute(
            "SELECT schema_name FROM information_schema.schemata")}
    assert set(schemas) <= found
    drop()


def _same_verdict_acts() -> list[dict[str, Any]]:
    """One act per kind of refusal, and one recorded act for a control."""
    fresh, nobody = str(uuid.uuid4()), str(uuid.uuid4())
    return [
        {**collected(fresh, "ok"), "act_id": f"same-{uuid.uuid4().hex[:8]}"},
        {**collected(fresh, "consentless"), "purpose": "demo-request", "legal_basis": "consent",
         "source_system": "website"},
        {"act_id": f"same-{uuid.uuid4().hex[:8]}", "type": "data-processed",
         "subject_id": nobody, "actor": "crm", "occurred_at": "2025-03-04T09:00:00+00:00",
         "purpose": "contact", "operation": "use", "categories": ["name"]},
        {**collected(fresh, "job"), "values": {"job-title": f"{CANARY} cfo"}},
        {"act_id": f"same-{uuid.uuid4().hex[:8]}", "type": "consent-given",
         "subject_id": fresh, "actor": "crm", "occurred_at": "2025-03-04T09:00:00+00:00"},
        # Any upstream system could send this; only the office's signed one shreds.
        {"act_id": f"same-{uuid.uuid4().hex[:8]}", "type": "erasure-carried-out",
         "subject_id": fresh, "actor": "crm", "occurred_at": "2025-03-04T09:00:00+00:00",
         "request_ref": "DSAR-1", "channel": "email"},
    ]


def test_one_act_gets_the_same_rule_and_reason_from_every_entry_point(
    env: dict[str, str], serving: subprocess.Popen[str], tmp_path: Path,
) -> None:
    """`ledger record` embedded, `ledger record` on Kafka (answered by serve), and a plain
    upstream producer (answered on the rejected topic): one vocabulary."""
    acts = _same_verdict_acts()
    source = tmp_path / "acts.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(a) for a in acts) + b"\n")
    embedded_env = {**env, "LEDGER_BACKEND": "sqlite",
                    "LEDGER_DATA_DIR": str(tmp_path / "embedded")}

    def verdicts(run_env: dict[str, str]) -> list[tuple[Any, ...]]:
        result = run_cli(run_env, "record", str(source), "--json")
        assert result.returncode == 1, result.stdout + result.stderr
        assert CANARY not in result.stdout + result.stderr
        return [(v["line"], v["status"], v["act_id"], v["rule"], v["reason"])
                for v in map(orjson.loads, result.stdout.splitlines()[:-1])]

    embedded = verdicts(embedded_env)
    assert [(line, status, rule) for line, status, _, rule, _ in embedded] == [
        (1, "recorded", None), (2, "rejected", "consent-required"),
        (3, "rejected", "unknown-subject"), (4, "rejected", "category-not-in-purpose"),
        (5, "rejected", "invalid-act"), (6, "rejected", "office-signature-required")]
    assert embedded[4][2] == acts[4]["act_id"], "a schema-invalid act names its act id"
    assert verdicts(env) == embedded

    # An upstream system's own producer: the writer's answers on the rejected topic.
    from kafka import KafkaConsumer

    upstream = [{**a, "act_id": a["act_id"] + "-up"} for a in acts[1:]]
    producer = KafkaProducer(bootstrap_servers=env["LEDGER_KAFKA_BOOTSTRAP"])
    for act in upstream:
        producer.send(env["LEDGER_INTAKE_TOPIC"], key=act["subject_id"].encode(),
                      value=orjson.dumps(act))
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(env["LEDGER_REJECTED_TOPIC"],
                             bootstrap_servers=env["LEDGER_KAFKA_BOOTSTRAP"],
                             auto_offset_reset="earliest", isolation_level="read_committed",
                             consumer_timeout_ms=1000)
    answers: dict[str, tuple[str, str]] = {}
    deadline = time.monotonic() + 120
    try:
        while len(answers) < len(upstream) and time.monotonic() < deadline:
            for record in consumer:
                document = orjson.loads(record.value)
                if str(document["act_id"]).endswith("-up"):
                    answers[document["act_id"]] = (document["rule"], document["reason"])
    finally:
        consumer.close()
    # The reasons name each act's own id; the upstream copies carry "-up" in theirs.
    assert [answers.get(a["act_id"]) for a in upstream] == [
        (rule, reason.replace(act_id, f"{act_id}-up") if act_id else reason)
        for _, _, act_id, rule, reason in embedded[1:]]


def test_an_act_nobody_answers_is_pending_with_its_own_exit_code(
    env: dict[str, str],
) -> None:
    assert run_cli(env, "topics", "ensure").returncode == 0
    result = run_cli(env, "erase", str(uuid.uuid4()), "--request", "DSAR-9", "--wait", "1",
                     "--json")
    assert result.returncode == 6, result.stdout + result.stderr
    assert orjson.loads(result.stdout)["status"] == "pending"
