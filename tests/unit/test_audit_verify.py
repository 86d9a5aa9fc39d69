"""Verifying a shard as stored, the writers' signing cadence, an export's proofs, and the
embedded store's tree kept in the events' own transactions."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from eventsourcing.persistence import InfrastructureFactory, StoredEvent

from ledger.audit.checkpoint import Checkpoint, shard_origin, sign_checkpoint
from ledger.audit.evidence import check_export, subject_proofs
from ledger.audit.frontier import Frontier
from ledger.audit.signer import Cadence, CheckpointSigner
from ledger.audit.signing_keys import CheckpointSigningKey, TrustedKeys
from ledger.audit.verify import LeafRecord, ShardVerifier, StoredTree
from ledger.persistence.sqlite_audited import AuditedSQLiteApplicationRecorder, EmbeddedAuditLog

ORIGIN = shard_origin("acme", 0)
SUBJECT = str(uuid.UUID(int=7))


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> CheckpointSigningKey:
    return CheckpointSigningKey.generate(tmp_path_factory.mktemp("k") / "audit.key",
                                         "personal-data-ledger/acme")


def log(size: int = 30) -> list[LeafRecord]:
    return [LeafRecord(i, SUBJECT if i % 3 == 0 else str(uuid.UUID(int=100 + i)), i // 3 + 1,
                       "m:Event", b'{"ct": "%d"}' % i, where=f"notification id {i + 1}")
            for i in range(size)]


def signed_at(records: list[LeafRecord], key: CheckpointSigningKey, *sizes: int) -> list[str]:
    notes = []
    for size in sizes:
        frontier = Frontier.of(r.event_leaf(r.sequence or 0).leaf_hash()
                               for r in records[:size])
        notes.append(sign_checkpoint(Checkpoint(ORIGIN, size, frontier.root()), key).encode())
    return notes


def verified(records: list[LeafRecord], notes: list[str], keys: TrustedKeys, **kwargs):  # type: ignore[no-untyped-def]
    verifier = ShardVerifier(0, ORIGIN, notes, keys, **kwargs)
    for record in records:
        verifier.add(record)
    return verifier.finish()


def kinds(report) -> list[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    return [(str(p.kind), p.first) for p in report.problems]


def test_the_cadence_signs_by_count_by_time_and_at_close(key: CheckpointSigningKey) -> None:
    now = [1000.0]
    signer = CheckpointSigner(key, ORIGIN, Cadence(10, 5.0), clock=lambda: now[0])
    assert not signer.due(0, 0, None)  # an empty tree is never signed
    assert signer.due(1, 0, None)  # never signed: at once
    assert not signer.due(5, 3, 999.0)
    assert signer.due(13, 3, 999.0)  # ten unsigned
    now[0] = 1004.0
    assert signer.due(5, 3, 999.0)  # waited five seconds
    assert not signer.due(3, 3, 0.0)  # nothing unsigned, whatever the time
    assert signer.due(4, 3, 1003.9, closing=True)


def test_an_untouched_shard_verifies_and_its_problems_are_each_named(
    key: CheckpointSigningKey,
) -> None:
    keys = TrustedKeys().trust(key.verifier)
    records = [replace(r, recorded_leaf=r.event_leaf(r.sequence or 0).leaf_hash())
               for r in log()]
    notes = signed_at(records, key, 10, 20, 30)
    stored = StoredTree(Frontier.of(r.recorded_leaf or b"" for r in records), 30, exact=True)
    report = verified(records, notes, keys, stored=stored)
    assert (report.intact, report.checkpoints, report.latest_signed) == (True, 3, 30)

    changed = list(records)
    changed[13] = replace(changed[13], state=b'{"ct": "x"}')
    assert kinds(verified(changed, notes, keys, stored=stored)) == [("changed", 13)]

    unnumbered = [*records[:5], replace(records[2], sequence=None, where="offset 99"),
                  *records[5:]]
    report = verified(unnumbered, notes, keys, stored=stored)
    assert kinds(report) == [("inserted", None)]
    assert "offset 99 (after sequence 4)" in report.problems[0].detail

    tail_gone = verified(records[:27], signed_at(records, key, 10, 20), keys, stored=stored)
    assert kinds(tail_gone) == [("truncated", 27)], "the writer's frontier knows 30"

    beyond = StoredTree(stored.frontier, 25, exact=True)
    short = StoredTree(Frontier.of(r.recorded_leaf or b"" for r in records[:25]), 25,
                       exact=True)
    assert kinds(verified(records, notes[:2], keys, stored=short)) == [("inserted", 25)]
    assert verified(records, notes, keys, stored=beyond).intact


def test_checkpoints_forked_refused_or_set_aside(key: CheckpointSigningKey,
                                                 tmp_path: Path) -> None:
    records = log()
    other = CheckpointSigningKey.generate(tmp_path / "other.key", "personal-data-ledger/acme")
    rewritten = [replace(r, state=b"rewritten") if r.sequence and r.sequence >= 15 else r
                 for r in records]
    keys = TrustedKeys().trust(key.verifier).trust(other.verifier)
    notes = signed_at(records, key, 20) + signed_at(rewritten, other, 20)
    assert ("forked", None) in kinds(verified(records, notes, keys))

    retired = keys.retire(other.verifier.label)
    report = verified(records, signed_at(records, other, 10) + signed_at(records, key, 30),
                      retired)
    assert report.intact
    assert report.set_aside == ("the checkpoint at size 10: signed only by a retired key",)
    untrusted = verified(records, signed_at(records, other, 10), TrustedKeys().trust(
        key.verifier))
    assert kinds(untrusted) == [("bad-signature", None)]


def test_consistency_with_an_earlier_checkpoint(key: CheckpointSigningKey) -> None:
    keys = TrustedKeys().trust(key.verifier)
    records = log()
    earlier = Checkpoint(ORIGIN, 12, Frontier.of(
        r.event_leaf(r.sequence or 0).leaf_hash() for r in records[:12]).root())
    report = verified(records, [], keys, earlier=[earlier])
    assert [str(c.outcome) for c in report.consistency] == ["extends"]
    assert report.consistency[0].proof
    other = [replace(r, state=b"other") if r.sequence == 5 else r for r in records]
    forked = verified(other, [], keys, earlier=[earlier])
    assert kinds(forked) == [("forked", None)]
    truncated = verified(records[:10], [], keys, earlier=[earlier])
    assert kinds(truncated) == [("truncated", 10)]


def test_an_exports_proofs_verify_with_the_key_alone(key: CheckpointSigningKey) -> None:
    records = log()
    (note,) = signed_at(records, key, 27)
    proofs = subject_proofs(note, iter(records), SUBJECT)
    assert len(proofs["entries"]) == 9
    assert proofs["not_yet_signed"] == 1
    acts = [{"subject_id": SUBJECT, "version": v, "act_id": f"a{v}"} for v in range(1, 10)]
    export = {"subject": {"subject_id": SUBJECT}, "acts": acts, "log_proofs": proofs}
    keys = TrustedKeys().trust(key.verifier)
    assert check_export(export, keys).ok
    late = {**export, "acts": [*acts, {"subject_id": SUBJECT, "version": 10, "act_id": "a10"}]}
    assert check_export(late, keys).unproven, "an act after the checkpoint is not proven"
    assert not check_export(export, TrustedKeys()).ok

    altered = [replace(r, state=b"x") if r.sequence == 4 else r for r in records]
    unavailable = subject_proofs(note, iter(altered), SUBJECT)
    assert unavailable["entries"] == []
    assert "signed root" in unavailable["unavailable"]
    assert not check_export({**export, "log_proofs": unavailable}, keys).ok


def test_the_embedded_tree_is_one_tree_across_writers_and_signs_on_its_cadence(
    key: CheckpointSigningKey, tmp_path: Path,
) -> None:
    env = {"PERSISTENCE_MODULE": "ledger.persistence.sqlite_audited",
           "SQLITE_DBNAME": str(tmp_path / "events.sqlite")}
    first, second = (InfrastructureFactory.construct(env).application_recorder()
                     for _ in range(2))  # two processes on one file
    assert isinstance(first, AuditedSQLiteApplicationRecorder)
    assert isinstance(second, AuditedSQLiteApplicationRecorder)
    first.signer = CheckpointSigner(key, ORIGIN, Cadence(4, 3600.0))
    subject = uuid.uuid4()
    for version in range(1, 11):
        writer = first if version % 2 else second
        writer.insert_events([StoredEvent(subject, version, "m:Event", b"s%d" % version)])
    assert first.checkpoint_now() is not None  # at close: the unsigned rest
    assert first.checkpoint_now() is None  # nothing unsigned now
    with pytest.raises(Exception):  # noqa: B017,PT011 - the library's IntegrityError
        second.insert_events([StoredEvent(subject, 3, "m:Event", b"again")])

    audit = EmbeddedAuditLog(tmp_path / "events.sqlite")
    records = list(audit.records(0))
    assert [r.sequence for r in records] == list(range(10))
    notes = audit.checkpoints(0)
    stored = audit.stored_tree(0)
    audit.close()
    sizes = [int(n.split("\n")[1]) for n in notes]
    assert sizes[0] == 1
    assert sizes[-1] == 10
    verifier = ShardVerifier(0, ORIGIN, notes, TrustedKeys().trust(key.verifier),
                             stored=stored)
    for record in records:
        verifier.add(record)
    assert verifier.finish().intact
