"""Recording acts from JSON lines: one verdict per line, in line order.

Each line is checked against the intake schema here (a line that fails is refused with
its rule and reason and never sent); the valid acts go to the backend, which records
them in process or through `ledger serve`, and answers each one. A bad line never stops
the lines after it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from consumers.services.ports import Backend
from ledger.crypto.office_signing import OFFICE_ACT_TYPES, OfficeKey
from ledger.errors import ActIdConflict, DuplicateAct
from ledger.intake.acts import IntakeAct, act_from_document, oversized_act, parse_act
from ledger.intake.lines import OversizedLine
from ledger.outcomes import ActOutcome, Status
from ledger.refusals import is_refusal, refusal_of

# An act sent to `ledger serve` that was not answered within the wait.
NO_ANSWER_RULE = "no-answer"


@dataclass(frozen=True)
class Verdict:
    """What became of one input line (``line``, counted from 1), as `ledger record --json`
    prints it: the act's id and type when the line got that far, and the rule and reason
    of every status but "recorded"."""

    line: int
    status: Status
    act_id: str | None
    type: str | None
    rule: str | None = None
    reason: str | None = None


def record_lines(backend: Backend, lines: Iterable[bytes | OversizedLine], *, wait_s: float,
                 office: OfficeKey | None = None) -> Iterator[Verdict]:
    """The verdict of each non-blank line, in order, as soon as the backend gives it.
    Read lines with ``ledger.intake.lines.bounded_lines``: a line too long to be an act
    comes as an ``OversizedLine`` and is refused by its number.

    With the ``office`` key (`ledger record --office`), acts that destroy data or lift a
    protection are signed before they go: the office's own file of acts.
    """
    refused: deque[Verdict] = deque()  # lines refused here, not yet reported
    sent: deque[tuple[int, IntakeAct]] = deque()  # acts given to the backend, in order

    def valid_acts() -> Iterator[IntakeAct]:
        # act id -> the line that sent it and a hash of its content (held in memory for
        # this run only, never stored), to tell a repeat from another act under the id.
        seen: dict[str, tuple[int, bytes]] = {}
        for number, raw in enumerate(lines, start=1):
            if not isinstance(raw, OversizedLine) and not raw.strip():
                continue
            try:
                if isinstance(raw, OversizedLine):
                    raise oversized_act()
                act = parse_act(raw)
            except Exception as error:  # noqa: BLE001 - one line's fault must not stop the rest
                refusal = refusal_of(error)
                status: Status = "rejected" if is_refusal(error) else "failed"
                refused.append(Verdict(number, status, refusal.act_id, None,
                                       refusal.rule, refusal.reason))
                continue
            if office is not None and act.type in OFFICE_ACT_TYPES:
                act = act_from_document(office.sign(act.document))
            act_id = act.context.act_id
            content = hashlib.blake2b(act.context.content or b"", digest_size=16).digest()
            if act_id in seen:
                # Sent again, an asynchronous backend would never answer it.
                first_line, first_content = seen[act_id]
                if first_content == content:
                    refused.append(Verdict(
                        number, "duplicate", act_id, act.type, rule=DuplicateAct.rule,
                        reason="the same act id appears earlier in this input"))
                else:
                    refused.append(Verdict(
                        number, "rejected", act_id, act.type, rule=ActIdConflict.rule,
                        reason=f"act {act_id} appears earlier in this input (line "
                               f"{first_line}) with other content; an act id means one "
                               "act: send another act under a new id"))
                continue
            seen[act_id] = (number, content)
            sent.append((number, act))
            yield act

    for outcome in backend.submit(valid_acts(), wait_s=wait_s):
        number, act = sent.popleft()
        while refused and refused[0].line < number:
            yield refused.popleft()
        yield _verdict(number, act, outcome, wait_s)
    yield from refused


def _verdict(number: int, act: IntakeAct, outcome: ActOutcome, wait_s: float) -> Verdict:
    if outcome.status == "recorded":
        return Verdict(number, "recorded", outcome.act_id, act.type)
    if outcome.status == "pending":
        return Verdict(number, "pending", outcome.act_id, act.type, NO_ANSWER_RULE,
                       f"sent; no answer within {wait_s:g} s (`ledger serve` is not running or "
                       "is behind; it records the act when it gets to it)")
    return Verdict(number, outcome.status, outcome.act_id, act.type, outcome.rule,
                   outcome.reason)
