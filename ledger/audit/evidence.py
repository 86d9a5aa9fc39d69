"""A subject's events with inclusion proofs against a signed checkpoint: what a DSAR
export carries so that an auditor can check, offline and with nothing but the export
and a verifier key, that each listed act is in the signed log, unaltered.

``subject_proofs`` reads the shard's stored events in order up to the checkpoint's size
(their leaves make the tree the proofs are cut from), keeps the subject's leaf
summaries (metadata and the SHA-256 of the stored state, never the ciphertext or a
value) and proves each. What it does not prove, and says: that no act of the subject is
missing (only ``ledger audit verify`` over the whole log shows that), and anything
recorded after the checkpoint (``not_yet_signed``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.audit.checkpoint import SignedCheckpoint
from ledger.audit.errors import AuditError, ProofFailed
from ledger.audit.leaves import LeafSummary
from ledger.audit.proofs import ExportProofs, ExportVerification, evidence_for, verify_export
from ledger.audit.signing_keys import TrustedKeys
from ledger.audit.tree import MerkleTree
from ledger.audit.verify import LeafRecord

HOW_TO_VERIFY = (
    "ledger audit verify-export FILE --public-key KEY: each entry's inclusion proof "
    "(RFC 9162) leads from the event's leaf to the root of the signed checkpoint; it "
    "proves the listed events are in the signed log, unaltered, not that none is missing")


def subject_proofs(note: str | None, records: Iterable[LeafRecord],
                   subject_id: str) -> dict[str, Any]:
    """The ``log_proofs`` member of an export: ExportProofs JSON, with
    ``not_yet_signed`` (the subject's events after the checkpoint) and, when no proof
    can be given, ``unavailable`` saying why (the export itself is never withheld)."""
    if note is None:
        return _unavailable("no signed checkpoint yet: the ledger signs one every few "
                            "seconds while it records, and when it closes",
                            _count(records, subject_id, 0))
    try:
        checkpoint = SignedCheckpoint.parse(note).checkpoint
    except AuditError as error:
        return _unavailable(f"the latest checkpoint is malformed ({error})", 0)
    leaves: list[bytes] = []
    summaries: list[LeafSummary] = []
    later = 0
    for record in records:
        if record.sequence is None:
            continue  # not a leaf (an event the ledger never appended): not in any tree
        if len(leaves) >= checkpoint.size:
            later += record.originator_id == subject_id
            continue
        if record.sequence != len(leaves):
            return _unavailable(
                f"the stored log is out of order at sequence {record.sequence} (expected "
                f"{len(leaves)}): run `ledger audit verify`", 0)
        leaf = record.event_leaf(record.sequence)
        leaves.append(leaf.leaf_hash())
        if record.originator_id == subject_id:
            summaries.append(leaf.summary())
    if len(leaves) < checkpoint.size:
        return _unavailable(f"the stored log holds {len(leaves)} events, fewer than the "
                            f"{checkpoint.size} its checkpoint signed: run `ledger audit "
                            "verify`", 0)
    tree = MerkleTree(leaves)
    if not hmac.compare_digest(tree.root(), checkpoint.root):
        return _unavailable("the stored events do not give the signed root: run `ledger "
                            "audit verify`", 0)
    proofs = ExportProofs((note,), tuple(evidence_for(s, tree, 0) for s in summaries))
    return {**proofs.to_json(), "not_yet_signed": later, "how_to_verify": HOW_TO_VERIFY}


def _count(records: Iterable[LeafRecord], subject_id: str, start: int) -> int:
    return start + sum(1 for r in records if r.originator_id == subject_id)


def _unavailable(reason: str, later: int) -> dict[str, Any]:
    return {**ExportProofs((), ()).to_json(), "not_yet_signed": later,
            "unavailable": reason, "how_to_verify": HOW_TO_VERIFY}


@dataclass(frozen=True)
class ExportCheck:
    """``ledger audit verify-export``: the export's proofs, and its acts held to them."""

    subject_id: str | None
    verification: ExportVerification
    unproven: tuple[str, ...]  # acts the export lists that no verified proof covers
    foreign: tuple[str, ...]  # proven events that are not the subject's

    @property
    def failures(self) -> tuple[str, ...]:
        return (*self.verification.failures, *self.unproven, *self.foreign)

    @property
    def ok(self) -> bool:
        return not self.failures and bool(self.verification.verified)

    def to_json(self) -> dict[str, Any]:
        checkpoints = [None if c is None else {"origin": c.origin, "size": c.size,
                                               "root": c.root.hex()}
                       for c in self.verification.checkpoints]
        return {"ok": self.ok, "subject_id": self.subject_id, "checkpoints": checkpoints,
                "verified": [leaf.to_json() for leaf in self.verification.verified],
                "failures": list(self.failures)}


def check_export(document: Any, keys: TrustedKeys) -> ExportCheck:
    """Checks an export's ``log_proofs`` with ``keys`` alone, and that every act the
    export lists (by subject and version) is among the verified events. Raises
    ``ProofFailed`` when the export carries no proofs at all."""
    if not isinstance(document, dict) or not isinstance(document.get("log_proofs"), dict):
        raise ProofFailed("the file is not an export with log proofs (`ledger dsar export` "
                          "writes them under 'log_proofs')")
    proofs_document = document["log_proofs"]
    verification = verify_export(ExportProofs.from_json(proofs_document), keys)
    if proofs_document.get("unavailable"):
        verification = ExportVerification(
            verification.checkpoints, verification.verified,
            (*verification.failures, f"the export says: {proofs_document['unavailable']}"))
    subject = document.get("subject")
    subject_id = subject.get("subject_id") if isinstance(subject, dict) else None
    proven = {(leaf.originator_id, leaf.originator_version): leaf
              for leaf in verification.verified}
    unproven = []
    for act in document.get("acts") or []:
        if not isinstance(act, dict) or act.get("subject_id") is None:
            continue
        key = (str(act["subject_id"]), act.get("version"))
        leaf = proven.get(key)  # type: ignore[arg-type]
        if leaf is None:
            unproven.append(f"act {act.get('act_id')} (version {act.get('version')}): no "
                            "verified proof covers it (recorded after the checkpoint?)")
    foreign = [f"sequence {leaf.sequence}: an event of another subject"
               for leaf in verification.verified
               if subject_id is not None and leaf.originator_id != str(subject_id)]
    return ExportCheck(None if subject_id is None else str(subject_id), verification,
                       tuple(unproven), tuple(foreign))

