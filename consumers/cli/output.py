"""Writing results: JSON for scripts (``--json``), one line or one indented document."""

from __future__ import annotations

from typing import IO, Any

import orjson


def write_json(out: IO[str], document: object) -> None:
    """One indented JSON document (views, exports, registers)."""
    out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def write_json_line(out: IO[str], document: Any) -> None:
    """One JSON object on one line (reports and streamed verdicts)."""
    out.write(orjson.dumps(document).decode() + "\n")
