"""What an auditor verifies offline: an export's inclusion proofs, and consistency."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from uuid import UUID

import orjson
import pytest

from ledger.audit.checkpoint import Checkpoint, SignedCheckpoint, shard_origin, sign_checkpoint
from ledger.audit.errors import CheckpointRefused, LogForked, LogTampered, ProofFailed
from ledger.audit.leaves import EventLeaf
from ledger.audit.merkle import consistency_proof, tree_root
from ledger.audit.proofs import (
    Consistency,
    ExportProofs,
    check_consistency,
    evidence_for,
    verify_export,
)
from ledger.audit.signed_note import VerifierKey
from ledger.audit.signing_keys import CheckpointSigningKey, TrustedKeys
from ledger.audit.tree import MerkleTree

ORIGIN = shard_origin("acme", 0)
SUBJECT = str(UUID(int=10**6))
LOG = [EventLeaf(i, SUBJECT if i % 5 == 0 else str(UUID(int=i)), i // 5 + 1, "t:Event",
                 b'{"ct": "%d"}' % i) for i in range(50)]
HASHES = [e.leaf_hash() for e in LOG]


@pytest.fixture
def key(tmp_path: Path) -> CheckpointSigningKey:
    return CheckpointSigningKey.generate(tmp_path / "audit.key", "personal-data-ledger/acme")


def public_only(key: CheckpointSigningKey) -> TrustedKeys:
    """What the auditor has: the verifier key's text, nothing else."""
    return TrustedKeys().trust(VerifierKey.parse(key.verifier.encode()))


def signed_at(size: int, key: CheckpointSigningKey, hashes: list[bytes] = HASHES) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, tree_root(hashes[:size])), key).encode()


def export(key: CheckpointSigningKey) -> ExportProofs:
    """The subject's events (every fifth): those up to 30 against the checkpoint of size
    30, the rest against 50, as an export made over time would hold them."""
    checkpoints = (signed_at(30, key), signed_at(50, key))
    at_30, at_50 = MerkleTree(HASHES[:30]), MerkleTree(HASHES)
    entries = tuple(
        evidence_for(e.summary(), at_30, 0) if e.sequence < 30
        else evidence_for(e.summary(), at_50, 1)
        for e in LOG if e.originator_id == SUBJECT)
    return ExportProofs(checkpoints, entries)


def through_json(proofs: ExportProofs) -> ExportProofs:
    return ExportProofs.from_json(orjson.loads(orjson.dumps(proofs.to_json())))


def test_an_export_verifies_with_nothing_but_the_public_key(key: CheckpointSigningKey) -> None:
    proofs = through_json(export(key))
    result = verify_export(proofs, public_only(key))
    assert result.ok, result.failures
    assert [leaf.sequence for leaf in result.verified] == list(range(0, 50, 5))
    assert [c.size for c in result.checkpoints if c] == [30, 50]
    assert b'"ct"' not in orjson.dumps(proofs.to_json())  # digests only, no stored state


def test_an_altered_entry_is_named(key: CheckpointSigningKey) -> None:
    proofs = export(key)
    entries = list(proofs.entries)
    entries[2] = replace(entries[2], leaf=replace(entries[2].leaf, topic="t:Other"))
    entries[3] = replace(entries[3], leaf=replace(entries[3].leaf, sequence=16))
    flipped = bytes([entries[4].proof[0][0] ^ 1]) + entries[4].proof[0][1:]
    entries[4] = replace(entries[4], proof=(flipped, *entries[4].proof[1:]))
    entries[5] = replace(entries[5], checkpoint=7)
    result = verify_export(replace(proofs, entries=tuple(entries)), public_only(key))
    assert not result.ok
    assert result.failures == (
        f"{ORIGIN}: sequence 10: the proof does not lead to the root signed at size 30 "
        "(the event or its proof was altered)",
        f"{ORIGIN}: sequence 16: the proof does not lead to the root signed at size 30 "
        "(the event or its proof was altered)",
        f"{ORIGIN}: sequence 20: the proof does not lead to the root signed at size 30 "
        "(the event or its proof was altered)",
        "sequence 25: names checkpoint 7, which the export does not hold",
    )
    assert len(result.verified) == 6


def test_an_export_whose_checkpoint_was_altered_or_signed_by_another_key_fails(
        key: CheckpointSigningKey, tmp_path: Path) -> None:
    proofs = export(key)
    altered = proofs.checkpoints[1].replace("\n50\n", "\n49\n")
    result = verify_export(replace(proofs, checkpoints=(proofs.checkpoints[0], altered)),
                           public_only(key))
    assert not result.ok
    assert result.failures[0].startswith("checkpoint 1: ")
    assert "does not verify" in result.failures[0]
    assert "sequence 30: its checkpoint 1 was refused" in result.failures
    other = CheckpointSigningKey.generate(tmp_path / "other.key", "personal-data-ledger/acme")
    refused = verify_export(proofs, public_only(other))
    assert len(refused.failures) == 2 + len(proofs.entries)
    assert "no trusted key signed it" in refused.failures[0]


def test_an_empty_or_malformed_export_does_not_verify(key: CheckpointSigningKey) -> None:
    empty = verify_export(ExportProofs((signed_at(30, key),), ()), public_only(key))
    assert not empty.ok
    assert empty.failures == ("the export lists no events to verify",)
    document = export(key).to_json()
    for broken in ({**document, "format": "v0"}, {**document, "entries": {}},
                   {**document, "entries": [{"leaf": {}, "proof": [], "checkpoint": 0}]},
                   {**document, "entries": [{"leaf": [], "proof": [], "checkpoint": 0}]},
                   {**document, "checkpoints": [1]}, []):
        with pytest.raises(ProofFailed, match="malformed"):
            ExportProofs.from_json(broken)


def test_a_proof_is_only_made_for_the_leaf_the_tree_holds() -> None:
    forged = replace(LOG[3].summary(), topic="t:Forged")
    with pytest.raises(ProofFailed, match="sequence 3"):
        evidence_for(forged, MerkleTree(HASHES), 0)
    with pytest.raises(ProofFailed, match="sequence 3"):
        evidence_for(LOG[3].summary(), MerkleTree(HASHES[:3]), 0)


def opened(note: str, key: CheckpointSigningKey) -> Checkpoint:
    return SignedCheckpoint.parse(note).verify(public_only(key))


def test_today_s_log_extends_last_quarter_s_checkpoint(key: CheckpointSigningKey) -> None:
    old, new = opened(signed_at(30, key), key), opened(signed_at(50, key), key)
    verdict = check_consistency(old, new, consistency_proof(30, HASHES))
    assert verdict.outcome is Consistency.EXTENDS
    verdict.raise_unless_extends()
    assert verdict.describe() == f"{ORIGIN}: size 50 extends the checkpoint of size 30"
    empty = Checkpoint(ORIGIN, 0, tree_root([]))
    assert check_consistency(empty, new, []).outcome is Consistency.EXTENDS


def test_a_rewritten_history_is_reported_as_a_fork(key: CheckpointSigningKey) -> None:
    """A copy of the log rewritten from sequence 20 on, and signed anew (the key's
    holder did it): it cannot prove it extends the checkpoint taken before."""
    rewritten = HASHES[:20] + [replace(e, state=b"rewritten").leaf_hash() for e in LOG[20:]]
    old = opened(signed_at(30, key), key)
    new = opened(signed_at(50, key, rewritten), key)
    verdict = check_consistency(old, new, consistency_proof(30, rewritten))
    assert verdict.outcome is Consistency.FORKED
    with pytest.raises(LogForked, match=r"does not extend the checkpoint of size 30") as caught:
        verdict.raise_unless_extends()
    assert caught.value.rule == "log-forked"
    # the honest proof of the original log does not help the rewritten one either
    honest = consistency_proof(30, HASHES)
    assert check_consistency(old, new, honest).outcome is Consistency.FORKED


def test_a_shrunk_log_and_checkpoints_of_other_logs(key: CheckpointSigningKey) -> None:
    old, new = opened(signed_at(50, key), key), opened(signed_at(30, key), key)
    verdict = check_consistency(old, new, [])
    assert verdict.outcome is Consistency.TRUNCATED
    with pytest.raises(LogTampered, match="shrank from the signed size 50 to 30"):
        verdict.raise_unless_extends()
    other = replace(new, origin=shard_origin("acme", 1))
    with pytest.raises(CheckpointRefused, match="different logs"):
        check_consistency(old, other, [])
