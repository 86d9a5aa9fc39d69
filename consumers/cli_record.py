"""`ledger record`: acts as JSON lines in, one verdict per line out, a summary at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any, Literal

import orjson

from consumers.kafka_office import submit_all_and_wait
from ledger.application import LedgerApplication
from ledger.config import Settings
from ledger.errors import DuplicateAct, InvalidAct, LedgerError, PolicyViolation
from ledger.intake.acts import apply_act, parse_act

Status = Literal["recorded", "duplicate", "rejected", "failed", "pending"]
PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class Verdict:
    line: int
    status: Status
    act_id: str | None
    type: str | None
    rule: str | None = None
    reason: str | None = None


def record_lines(app: LedgerApplication, lines: Iterable[bytes]) -> Iterator[Verdict]:
    """Applies each line on its own: a bad line is reported and the next one goes on."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        act = None
        try:
            act = parse_act(raw)
            apply_act(app, act)
        except DuplicateAct:
            yield Verdict(number, "duplicate", act.context.act_id if act else None,
                          act.type if act else None, "duplicate-act", "already recorded")
        except InvalidAct as error:
            yield Verdict(number, "rejected", None, None, "invalid-act", str(error))
        except PolicyViolation as error:
            yield Verdict(number, "rejected", act.context.act_id if act else None,
                          act.type if act else None, error.rule, error.detail)
        except LedgerError as error:
            yield Verdict(number, "rejected", act.context.act_id if act else None,
                          act.type if act else None, type(error).__name__, str(error))
        except Exception as error:  # noqa: BLE001 - one line's fault must not stop the rest
            # The message of an unexpected error may quote input: report its type only.
            yield Verdict(number, "failed", act.context.act_id if act else None,
                          act.type if act else None, "internal-error", type(error).__name__)
        else:
            yield Verdict(number, "recorded", act.context.act_id, act.type)


def send_lines(settings: Settings, lines: Iterable[bytes], *, wait_s: float
               ) -> Iterator[Verdict]:
    """On Kafka: checks each line here, sends the valid acts to the intake topic as an
    upstream system would, and reports what the shard writers made of them.

    A line that fails the schema is refused here and never sent. The writers answer
    with events or a rejection; a duplicate of an act already recorded gets neither,
    so it is reported as pending once ``wait_s`` has passed.
    """
    verdicts: dict[int, Verdict] = {}
    sent: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            act = parse_act(raw)
        except InvalidAct as error:
            verdicts[number] = Verdict(number, "rejected", None, None, "invalid-act", str(error))
            continue
        act_id = act.context.act_id
        if act_id in seen:
            verdicts[number] = Verdict(number, "duplicate", act_id, act.type, "duplicate-act",
                                       "the same act id appears earlier in this input")
            continue
        seen.add(act_id)
        sent.append((number, orjson.loads(raw)))
    outcomes = submit_all_and_wait(settings, [a for _, a in sent], wait_s=wait_s) if sent else []
    for (number, document), outcome in zip(sent, outcomes, strict=True):
        act_type = document["type"]
        if outcome.status == "recorded":
            verdicts[number] = Verdict(number, "recorded", outcome.act_id, act_type)
        elif outcome.status == "rejected":
            verdicts[number] = Verdict(number, "rejected", outcome.act_id, act_type,
                                       outcome.rule, outcome.reason)
        else:
            verdicts[number] = Verdict(
                number, "pending", outcome.act_id, act_type, "no-answer",
                f"sent; no answer within {wait_s:g} s (`ledger serve` not running, behind, "
                "or the act was recorded before)")
    yield from (verdicts[number] for number in sorted(verdicts))


def run_record(verdicts: Iterable[Verdict], *, as_json: bool, out: IO[str], err: IO[str]
               ) -> int:
    counts = {"recorded": 0, "duplicate": 0, "rejected": 0, "failed": 0, "pending": 0}
    show_progress = err.isatty()
    for verdict in verdicts:
        counts[verdict.status] += 1
        if as_json:
            out.write(orjson.dumps(asdict(verdict)).decode() + "\n")
        elif verdict.status not in ("recorded", "duplicate"):
            act = f" act {verdict.act_id}" if verdict.act_id else ""
            out.write(f"line {verdict.line}{act}: {verdict.status}: "
                      f"{verdict.rule}: {verdict.reason}\n")
        total = sum(counts.values())
        if show_progress and total % PROGRESS_EVERY == 0:
            err.write(f"\r{total} acts read ...")
    summary = {"summary": counts}
    if as_json:
        out.write(orjson.dumps(summary).decode() + "\n")
    else:
        err.write(f"{'' if not show_progress else chr(13)}recorded {counts['recorded']}, "
                  f"duplicate {counts['duplicate']}, rejected {counts['rejected']}, "
                  f"failed {counts['failed']}"
                  + (f", pending {counts['pending']}" if counts["pending"] else "") + "\n")
    out.flush()
    if counts["failed"] or counts["pending"]:
        return 3
    return 1 if counts["rejected"] else 0


def open_source(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")
