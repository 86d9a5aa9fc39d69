"""One root exception type for everything the ledger raises on purpose.

Messages carry ids, rule names, field names and counts, never a personal value:
an exception text ends up in logs, on the rejected topic and in terminals.
Third-party errors are translated with ``raise ... from`` at the adapter edge.

Every class names its ``rule``, a kebab-case word that verdicts, the rejected topic and
exit reports carry (``ledger.refusals`` maps an error to its rule and reason); a
``PolicyViolation`` names the policy rule it broke instead.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""

    rule: str = "ledger-error"


class ConfigurationError(LedgerError):
    """Settings are missing or contradictory; the message says which setting."""

    rule = "configuration-error"


class PolicyError(LedgerError):
    """A policy document is malformed; the message gives the path to the bad entry."""

    rule = "policy-error"


class PolicyViolation(LedgerError):
    """An act breaks a rule of the policy in force; nothing of it is recorded."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule  # the instance names the policy's rule
        self.detail = detail


class InvalidAct(LedgerError):
    """An incoming act is not well formed (bad JSON, wrong type, unknown field...)."""

    rule = "invalid-act"

    def __init__(self, reason: str, field: str | None = None, *,
                 act_id: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field
        self.act_id = act_id  # when the document's act_id could be read, for the verdict


class DuplicateAct(LedgerError):
    """This act id was already recorded for the subject: a re-delivery, recorded once."""

    rule = "duplicate-act"


class UnknownSubject(LedgerError):
    """No data subject with this id has been recorded (or none is found by a look-up)."""

    rule = "unknown-subject"


class KeyStoreError(LedgerError):
    """The key store failed; the message names the key or subject id only."""

    rule = "key-store-error"


class KeyDestroyed(KeyStoreError):
    """A key id is behind the erasure fence: it was shredded and cannot come back."""

    rule = "key-destroyed"


class BrokerError(LedgerError):
    """Kafka could not be reached or refused an operation."""

    rule = "broker-error"


class TopicConfigurationMismatch(BrokerError):
    """An existing topic's configuration contradicts what the ledger requires."""

    rule = "topic-configuration-mismatch"


class MasterKeyMismatch(KeyStoreError):
    """The master key given is not the one the key store's data keys are wrapped with."""

    rule = "master-key-mismatch"


class TamperedCiphertext(LedgerError):
    """A ciphertext failed authentication: altered, or moved to another subject/event/field."""

    rule = "tampered-ciphertext"


class ConflictingWrite(LedgerError):
    """Another writer recorded an act for the same subject first; retry the act."""

    rule = "conflicting-write"
