"""What an audit finds wrong, as errors with a rule each.

Messages name the shard (the checkpoint's origin), tree sizes, sequence numbers and key
ids, never an event's content: an audit report is handed to people who may not see it.
"""

from __future__ import annotations

from ledger.errors import LedgerError


class AuditError(LedgerError, rule="audit-failure"):
    """The root of everything tamper evidence reports; also a corrupt stored frontier."""


class FrontierInvalid(AuditError):
    """A stored tree frontier does not decode (wrong length, version or size)."""


class CheckpointMalformed(AuditError, rule="checkpoint-malformed"):
    """A checkpoint or signed note does not follow the C2SP format."""


class CheckpointRefused(AuditError, rule="checkpoint-refused"):
    """A checkpoint is not signed by a trusted key (a bad signature, an unknown or
    retired key) or is not the checkpoint of the log it is used for."""


class ProofFailed(AuditError, rule="proof-failed"):
    """An inclusion proof does not lead from a leaf to its checkpoint's root."""


class LogTampered(AuditError, rule="log-tampered"):
    """Recomputing a shard's tree from its stored events does not give the signed roots:
    an event changed, missing, inserted or reordered, or the log truncated."""


class LogForked(AuditError, rule="log-forked"):
    """Today's log does not extend a checkpoint signed earlier: history was rewritten."""
