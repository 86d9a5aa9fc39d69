"""One refusal vocabulary: every refusal, from every entry point, as (rule, reason).

The rule is a kebab-case word a script can match on (``consent-required``,
``invalid-act``, ``unknown-subject``); the reason says what is wrong in words that name
fields, ids and codes, never a personal value. ``ledger record``, the Kafka intake
writer and every later entry point map errors through ``refusal_of``, so the same act
gets the same verdict whichever way it came in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.errors import (
    ActIdConflict,
    BrokerError,
    ConfigurationError,
    InvalidAct,
    KeyStoreError,
    LedgerError,
    PolicyViolation,
    UnknownSubject,
)

# What an unexpected exception is reported as: its message may quote input, so only its
# type is kept as the reason.
INTERNAL_ERROR_RULE = "internal-error"
_KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


@dataclass(frozen=True)
class Refusal:
    rule: str
    reason: str
    act_id: str | None = None  # when known: a schema-invalid act may still name its id


def refusal_of(error: BaseException) -> Refusal:
    """The rule and reason of ``error``; an unexpected error as ``internal-error``."""
    if isinstance(error, PolicyViolation):
        return Refusal(error.rule, error.detail)
    if isinstance(error, InvalidAct):
        return Refusal(error.rule, str(error), error.act_id)
    if isinstance(error, LedgerError):
        return Refusal(error.rule, str(error))
    return Refusal(INTERNAL_ERROR_RULE, type(error).__name__)


def is_refusal(error: BaseException) -> bool:
    """Would the act be refused the same way again? A policy rule, a malformed act, an
    unknown subject or an act id already recorded with other content: yes. A failing
    store, a lost broker, a bug: no, those are failures, not verdicts on the act."""
    return isinstance(error, PolicyViolation | InvalidAct | UnknownSubject | ActIdConflict)


def is_infrastructure_fault(error: BaseException) -> bool:
    """Is ``error`` a fault of what the ledger runs on (the broker, the key store, the
    settings) rather than of the act being handled? Such a fault says nothing about the
    act: the act is tried again once it clears, however often it recurs, and is never
    set aside for it. Any other failure (a bug, a version conflict, a tampered value) may
    be the act's own doing, and an act that keeps failing so is parked (the Kafka intake
    writer)."""
    return isinstance(error, BrokerError | KeyStoreError | ConfigurationError)


def is_rule_name(text: str) -> bool:
    return _KEBAB.fullmatch(text) is not None
