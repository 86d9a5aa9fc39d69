"""The HTML report as a browser shows it: Debian's headless Chromium renders it, and
the tests read the rendered DOM's text and keep a screenshot.

Chromium is part of the test suite's install (``make chromium``, run by ``make test``):
a missing browser fails the tests that need it, it never skips them.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium is missing: run `make chromium` (Debian's chromium "
                "package), as `make test` does")


def _run(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False)


def rendered_text(page: Path, work: Path) -> str:
    """The text of ``page`` as Chromium rendered it (``--dump-dom``), whitespace folded."""
    result = _run("--dump-dom", page.resolve().as_uri(), profile=work / "profile-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<body" in result.stdout, "Chromium rendered no document"
    return text_of(result.stdout)


def screenshot(page: Path, target: Path, work: Path, *, height: int = 6000) -> Path:
    """A PNG of ``page`` as Chromium lays it out, 1280 pixels wide."""
    result = _run(f"--screenshot={target}", f"--window-size=1280,{height}",
                  page.resolve().as_uri(), profile=work / "profile-shot")
    assert result.returncode == 0, result.stderr[-2000:]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return target


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "title", "head"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title", "head"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())
