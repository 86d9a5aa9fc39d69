"""One root exception type for everything the ledger raises on purpose.

Messages carry ids, rule names, field names and counts, never a personal value:
an exception text ends up in logs, on the rejected topic and in terminals.
Third-party errors are translated with ``raise ... from`` at the adapter edge.

Every class names its ``rule``, a kebab-case word that verdicts, the rejected topic and
exit reports carry (``ledger.refusals`` maps an error to its rule and reason); a
``PolicyViolation`` names the policy rule it broke instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from types import TracebackType
from uuid import UUID


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""

    rule: str = "ledger-error"

    def __init_subclass__(cls, *, rule: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if rule is not None:
            cls.rule = rule


class ConfigurationError(LedgerError, rule="configuration-error"):
    """Settings are missing or contradictory; the message says which setting."""


def check_form(text: str, form: re.Pattern[str], explanation: str) -> str:
    """``text`` if ``form`` matches all of it; else a ConfigurationError with the
    ``explanation`` of the form (never the text: it may be a personal value)."""
    if not form.fullmatch(text):
        raise ConfigurationError(explanation)
    return text


class translated:
    """Turns an error of the ``caught`` types (a driver's, the file system's) into
    ``into("MESSAGE (ErrorType)")``, with the original as its cause: the message names
    the error's type only, since a driver's own message may quote a value.

    A class, not a generator: the key store enters one per statement."""

    __slots__ = ("_caught", "_into", "_message")

    def __init__(self, caught: type[BaseException] | tuple[type[BaseException], ...],
                 into: Callable[[str], Exception], message: str) -> None:
        self._caught, self._into, self._message = caught, into, message

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if error is not None and isinstance(error, self._caught):
            raise self._into(f"{self._message} ({type(error).__name__})") from error


class PolicyError(LedgerError, rule="policy-error"):
    """A policy document is malformed; the message gives the path to the bad entry."""


class PolicyViolation(LedgerError):
    """An act breaks a rule of the policy in force; nothing of it is recorded."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule  # the instance names the policy's rule
        self.detail = detail


class InvalidAct(LedgerError, rule="invalid-act"):
    """An incoming act is not well formed (bad JSON, wrong type, unknown field...)."""

    def __init__(self, reason: str, field: str | None = None, *,
                 act_id: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field
        self.act_id = act_id  # when the document's act_id could be read, for the verdict


class InvalidValue(InvalidAct, rule="invalid-value"):
    """A value of the right type but not of its category's form (a business phone
    "n/a"); the reason names the category, never the value."""


class DuplicateAct(LedgerError, rule="duplicate-act"):
    """This act id was already recorded for the subject: a re-delivery, recorded once."""


class ActIdConflict(LedgerError, rule="act-id-conflict"):
    """This act id was already recorded for the subject with other content (other
    values, another type): an act id means one act, so the second is never recorded.
    The message names the act id and where the first one was recorded, never a value."""


class UnknownSubject(LedgerError, rule="unknown-subject"):
    """No data subject with this id has been recorded (or none is found by a look-up)."""


class KeyStoreError(LedgerError, rule="key-store-error"):
    """The key store failed; the message names the key or subject id only."""


class KeyDestroyed(KeyStoreError, rule="key-destroyed"):
    """A key id is behind the erasure fence: it was shredded and cannot come back."""


class KeyMissing(KeyStoreError, rule="key-missing"):
    """Values are sealed under keys the key store does not hold and the erasure fence
    does not list: the keys were lost, not erased. An integrity failure, never "erased".

    The message names the key ids (random UUIDs, nothing personal) and how many; the
    cure is to restore the key store backup that matches the event store.
    """

    SHOWN = 20  # ids named in the message; the count is always complete

    def __init__(self, key_ids: Iterable[UUID], subject_id: UUID | None = None) -> None:
        self.key_ids = tuple(sorted(set(key_ids), key=str))
        self.subject_id = subject_id
        count = len(self.key_ids)
        shown = ", ".join(str(key_id) for key_id in self.key_ids[:self.SHOWN])
        more = f" and {count - self.SHOWN} more" if count > self.SHOWN else ""
        whose = f" of subject {subject_id}" if subject_id is not None else ""
        super().__init__(
            f"{count} data key{'s' if count != 1 else ''}{whose} missing from the key "
            f"store and not in its erasure fence: lost, not erased ({shown}{more}); "
            "restore the key store backup that matches the event store"
        )


class KeyStoreMismatch(KeyStoreError, rule="key-store-mismatch"):
    """The key store is missing, empty or another ledger's (or the event store is
    missing next to a key store that holds keys): the two stores were bound to each
    other at creation and are not each other's now. Refused before anything is written;
    the message says what to restore."""


class BrokerError(LedgerError, rule="broker-error"):
    """Kafka could not be reached or refused an operation."""


class TopicConfigurationMismatch(BrokerError, rule="topic-configuration-mismatch"):
    """An existing topic's configuration contradicts what the ledger requires."""


class MasterKeyMismatch(KeyStoreError, rule="master-key-mismatch"):
    """The master key given is not the one the key store's data keys are wrapped with."""


class TamperedCiphertext(LedgerError, rule="tampered-ciphertext"):
    """A ciphertext failed authentication: altered, or moved to another subject/event/field."""


class ConflictingWrite(LedgerError, rule="conflicting-write"):
    """Another writer recorded an act for the same subject first; retry the act."""
