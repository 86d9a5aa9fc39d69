"""Plain-text tables for people; ``--json`` is for scripts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MAX_CELL = 48


def cell(value: object) -> str:
    if value is None or value in ("", []):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    text = " ".join(str(value).split())  # one line per row, whatever the value holds
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[cell(v) for v in row] for row in rows]
    if not cells:
        return "  (none)\n"
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def section(title: str, body: str) -> str:
    return f"\n{title}\n{body}"
