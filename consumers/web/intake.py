"""``POST /v1/acts``: acts from upstream systems over HTTP, with `ledger record`'s verdicts.

The body is JSON lines (``application/x-ndjson``) or one JSON array of acts
(``application/json``); each act goes through ``consumers.services.recording.
record_lines`` exactly as a line of `ledger record` does, so the rules, reasons and
line numbers are the same (an array's element n is line n). Two things differ, both
decided by the token rather than the body:

- the act's ``actor`` is the token's name, whatever the body says (the body still
  needs an ``actor`` of the schema's form, as every act does);
- an office act (``OFFICE_ACT_TYPES``: it destroys data or lifts a protection) from an
  upstream token is refused (``office-act-not-allowed``); from a DSAR handler or an
  admin it is signed with the office key this process holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any
from uuid import UUID

from consumers.projection_runner import Progress
from consumers.services.ports import Backend, Rebuilt
from consumers.services.recording import record_lines
from consumers.web.roles import SIGNING_ROLES
from consumers.web.tokens import Principal
from ledger.crypto.office_signing import OFFICE_ACT_TYPES, OfficeKey
from ledger.errors import InvalidAct
from ledger.intake.acts import IntakeAct, act_from_document
from ledger.outcomes import ActOutcome
from ledger.refusals import refusal_of
from projections.reader import LedgerReader

OFFICE_ACT_NOT_ALLOWED_RULE = "office-act-not-allowed"
_BLANKS = " \t\r\n"


class BodyNotActs(ValueError):
    """The body is neither JSON lines nor a JSON array (answered 400)."""


def body_lines(body: bytes, content_type: str) -> list[bytes]:
    """The acts of the body, one ``bytes`` each, as `ledger record` would read them."""
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media == "application/json":
        return _array_elements(body)
    if media in ("application/x-ndjson", "application/jsonl", "application/json-lines",
                 "text/plain", ""):
        return body.split(b"\n")
    raise BodyNotActs(f"send application/x-ndjson or application/json, not {media:.60}")


def _array_elements(body: bytes) -> list[bytes]:
    """The exact text of each element of a JSON array (so a key given twice in an act
    is still seen, as on a line); ``BodyNotActs`` if the body is no array."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyNotActs("the body is not UTF-8") from None
    decoder = json.JSONDecoder()
    index = _skip(text, 0)
    if index >= len(text) or text[index] != "[":
        raise BodyNotActs("an application/json body is one JSON array of acts")
    elements: list[bytes] = []
    index = _skip(text, index + 1)
    if index < len(text) and text[index] == "]":
        return elements
    while True:
        try:
            _, end = decoder.raw_decode(text, index)
        except (ValueError, RecursionError):
            raise BodyNotActs(f"element {len(elements) + 1} of the array is not valid "
                              "JSON") from None
        elements.append(text[index:end].encode("utf-8"))
        index = _skip(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip(text, index + 1)
            continue
        if index < len(text) and text[index] == "]" and _skip(text, index + 1) == len(text):
            return elements
        raise BodyNotActs("the JSON array is not closed properly")


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _BLANKS:
        index += 1
    return index


class ActsOfPrincipal:
    """The backend as the token's holder sends to it: actor replaced, office acts
    signed or refused by role. Everything else is the backend's own."""

    def __init__(self, backend: Backend, principal: Principal, office: OfficeKey) -> None:
        self.backend = backend
        self.principal = principal
        self.office = office
        self.name = backend.name

    def submit(self, acts: Iterable[IntakeAct], *, wait_s: float,
               with_events: bool = False) -> Iterator[ActOutcome]:
        prepared: list[IntakeAct | ActOutcome] = [self._prepare(act) for act in acts]
        sent = [item for item in prepared if isinstance(item, IntakeAct)]
        answers = iter(self.backend.submit(sent, wait_s=wait_s, with_events=with_events))
        for item in prepared:
            yield item if isinstance(item, ActOutcome) else next(answers)

    def _prepare(self, act: IntakeAct) -> IntakeAct | ActOutcome:
        document: dict[str, Any] = {**act.document, "actor": self.principal.name}
        if act.type in OFFICE_ACT_TYPES:
            if self.principal.role not in SIGNING_ROLES:
                return ActOutcome(act.context.act_id, "rejected",
                                  rule=OFFICE_ACT_NOT_ALLOWED_RULE,
                                  reason=f"act {act.context.act_id} ({act.type}) destroys "
                                  "data or lifts a protection: an upstream token may not "
                                  "send it")
            document = self.office.sign(document)
        try:
            return act_from_document(document)
        except InvalidAct as invalid:  # not expected: only the actor changed, to a valid one
            refusal = refusal_of(invalid)
            return ActOutcome(act.context.act_id, "rejected", rule=refusal.rule,
                              reason=refusal.reason)

    def find_subject(self, kind: str, value: str) -> UUID | None:
        return self.backend.find_subject(kind, value)

    def reading(self, progress: Progress | None = None
                ) -> AbstractContextManager[LedgerReader]:
        return self.backend.reading(progress)

    def rebuild(self, *, batch_size: int,
                progress_for: Callable[[int | None], Progress | None]) -> list[Rebuilt]:
        return self.backend.rebuild(batch_size=batch_size, progress_for=progress_for)

    def close(self) -> None:
        """The backend is closed by whoever opened it."""


def record_body(backend: Backend, principal: Principal, office: OfficeKey, body: bytes,
                content_type: str, *, wait_s: float) -> dict[str, Any]:
    """Every act's verdict and the summary, as `ledger record --json` gives them."""
    counts = {"recorded": 0, "duplicate": 0, "rejected": 0, "failed": 0, "pending": 0}
    verdicts = []
    for verdict in record_lines(ActsOfPrincipal(backend, principal, office),
                                body_lines(body, content_type), wait_s=wait_s):
        counts[verdict.status] += 1
        verdicts.append(asdict(verdict))
    return {"verdicts": verdicts, "summary": counts}
