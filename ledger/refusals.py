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

from ledger.errors import InvalidAct, LedgerError, PolicyViolation, UnknownSubject

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
    """Would the act be refused the same way again? A policy rule, a malformed act or
    an unknown subject: yes. A failing store, a lost broker, a bug: no, those are
    failures, not verdicts on the act."""
    return isinstance(error, PolicyViolation | InvalidAct | UnknownSubject)


def is_rule_name(text: str) -> bool:
    return _KEBAB.fullmatch(text) is not None
