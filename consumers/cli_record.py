"""`ledger record`: acts as JSON lines in, one verdict per line out, a summary at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO, Literal

import orjson

from ledger.application import LedgerApplication
from ledger.errors import DuplicateAct, InvalidAct, LedgerError, PolicyViolation
from ledger.intake.acts import apply_act, parse_act

Status = Literal["recorded", "duplicate", "rejected", "failed"]
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


def run_record(app: LedgerApplication, source: IO[bytes], *, as_json: bool,
               out: IO[str], err: IO[str]) -> int:
    counts = {"recorded": 0, "duplicate": 0, "rejected": 0, "failed": 0}
    show_progress = err.isatty()
    for verdict in record_lines(app, source):
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
                  f"failed {counts['failed']}\n")
    out.flush()
    if counts["failed"]:
        return 3
    return 1 if counts["rejected"] else 0


def open_source(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")
