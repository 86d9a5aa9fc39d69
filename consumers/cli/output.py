"""Writing results: JSON for scripts (``--json``), one line or one indented document."""

from __future__ import annotations

import io
from typing import IO, Any

import orjson


def write_json(out: IO[str], document: object) -> None:
    """One indented JSON document (views, exports, registers)."""
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def write_json_line(out: IO[str], document: Any) -> None:
    """One JSON object on one line (reports and streamed verdicts)."""
    out.write(orjson.dumps(document).decode() + "\n")


def escape_controls(text: str) -> str:
    """``text`` with control and format characters shown as escapes (``\\x1b``), so a
    value or reference cannot move the cursor, recolour, retitle or reorder a terminal
    (ANSI escapes, bidi overrides); newlines and tabs stay as they are."""
    return text.translate(_ESCAPES)


def _escape_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in (*range(0x20), *range(0x7F, 0xA0)):
        if chr(code) not in "\n\t":
            table[code] = f"\\x{code:02x}"
    # Format characters that reorder or hide text (bidi controls, zero-width marks).
    for code in (0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029,
                 *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF):
        table[code] = f"\\u{code:04x}"
    return table


_ESCAPES = _escape_table()


class TerminalSafe(io.TextIOBase):
    """A text stream for people: everything written has its control characters
    escaped first. Machine output (``--json``) is written unwrapped."""

    def __init__(self, inner: IO[str]) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def writable(self) -> bool:
        return True
