"""What a refused line costs beside an accepted act, on the embedded backend.

    python bench/bench_intake.py [--lines 2000] [--accepted 1000] [--json]

Every kind of line goes through ``record_lines`` (the path of ``ledger record``: read,
parse, schema check, policy, store) on a fresh embedded ledger in a temporary directory.
Accepted acts each collect for a new subject (a new key and identity binding: the most
expensive act). Refused lines are of several kinds: broken JSON, schema refusals (wrong
type, unknown field, missing field, a form not allowed, an unknown act type, duplicate
keys), an oversized line, a malformed value (``invalid-value``) and policy refusals
(an unknown purpose, a category the purpose does not list, an unknown subject), which
load or create a subject before they are refused. Each kind is reported as lines per
second, microseconds per line and its ratio to accepted acts per second; the
``parse_us`` column is ``parse_act`` alone (what the intake gate costs before the
backend). No assertions: the numbers are what this machine did.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

# Runnable as a plain script from a checkout, without installing the package.
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import orjson  # noqa: E402

from consumers.composition import open_embedded  # noqa: E402
from consumers.services.recording import record_lines  # noqa: E402
from ledger.config import Settings  # noqa: E402
from ledger.errors import LedgerError  # noqa: E402
from ledger.intake.acts import MAX_ACT_BYTES, parse_act  # noqa: E402


def collected(n: int, **overrides: Any) -> dict[str, Any]:
    act: dict[str, Any] = {
        "act_id": f"bench-{n}", "type": "data-collected", "subject_id": str(uuid4()),
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00+01:00", "purpose": "contact",
        "legal_basis": "legitimate-interest", "source_system": "website",
        "values": {"name": "Kees Bakker", "business-email": f"kees{n}@bakker-ict.nl",
                   "message-content": "Werkt jullie SaaS ook met SSO?"},
    }
    act.update(overrides)
    return act


def line(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


KINDS: dict[str, Callable[[int], bytes]] = {
    "accepted": lambda n: line(collected(n)),
    "not-json": lambda n: line(collected(n))[:-7],
    "wrong-type": lambda n: line(collected(n, values={"name": 42})),
    "unknown-field": lambda n: line(collected(n, shoe_size=44)),
    "missing-field": lambda n: line({k: v for k, v in collected(n).items()
                                     if k != "source_system"}),
    "bad-form": lambda n: line(collected(n, actor="CRM System")),
    "trailing-newline": lambda n: line(collected(n, act_id=f"bench-{n}\n")),
    "unknown-type": lambda n: line(collected(n, type="data-sold")),
    "duplicate-key": lambda n: line(collected(n))[:-1] + b',"purpose":"contact"}',
    "oversized": lambda n: b'{"pad": "' + b"x" * MAX_ACT_BYTES + b'"}',
    "invalid-value": lambda n: line(collected(n, values={"business-phone": "n/a"})),
    "policy:unknown-purpose": lambda n: line(collected(n, purpose="newsletter")),
    "policy:category-not-in-purpose": lambda n: line(collected(
        n, values={"job-title": "Directeur"})),
    "unknown-subject": lambda n: line({
        "act_id": f"bench-{n}", "type": "data-processed", "subject_id": str(uuid4()),
        "actor": "crm", "occurred_at": "2025-03-03T09:00:00Z", "purpose": "contact",
        "operation": "use", "categories": ["name"]}),
}


def time_record(kind: str, count: int, data_dir: Path) -> dict[str, Any]:
    lines = [KINDS[kind](n) for n in range(count)]
    for raw in lines[:20]:  # steady state: compiled checks are built on first use
        with contextlib.suppress(LedgerError):
            parse_act(raw)
    settings = Settings(data_dir=data_dir)
    with open_embedded(settings) as backend:
        started = time.perf_counter()
        verdicts = list(record_lines(backend, lines, wait_s=0))
        elapsed = time.perf_counter() - started
    rules = sorted({v.rule or v.status for v in verdicts})
    started = time.perf_counter()
    for raw in lines:
        with contextlib.suppress(LedgerError):
            parse_act(raw)
    parsing = time.perf_counter() - started
    return {"kind": kind, "lines": count, "verdicts": rules,
            "lines_per_s": count / elapsed, "us_per_line": elapsed / count * 1e6,
            "parse_us": parsing / count * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000, help="refused lines per kind")
    parser.add_argument("--accepted", type=int, default=1000, help="accepted acts")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, kind in enumerate(KINDS):
            count = args.accepted if kind == "accepted" else args.lines
            if kind == "oversized":
                count = max(1, count // 10)  # 256 KiB each
            results.append(time_record(kind, count, Path(tmp) / str(index)))
            print(f"{kind}: done", file=sys.stderr, flush=True)
    accepted = results[0]["lines_per_s"]
    for result in results:
        result["ratio_to_accepted"] = result["lines_per_s"] / accepted
    if args.json:
        print(json.dumps({"results": results}, indent=2))
        return 0
    print(f"{'kind':32} {'lines/s':>10} {'us/line':>9} {'parse us':>9} {'x accepted':>10}"
          "  verdict")
    for r in results:
        print(f"{r['kind']:32} {r['lines_per_s']:>10,.0f} {r['us_per_line']:>9.1f} "
              f"{r['parse_us']:>9.1f} {r['ratio_to_accepted']:>10.1f}  "
              f"{', '.join(r['verdicts'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
