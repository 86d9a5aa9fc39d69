"""Looks for personal values where they must not be: raw file bytes and decoded records.

A raw scan reads whole files (free pages and all) for the UTF-8 bytes of each canary;
a decoded scan looks through what a reader would get after decoding and decrypting.
Each test pairs a scan with a positive control so a blind scanner cannot pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def store_files(*databases: Path) -> list[Path]:
    """Each SQLite database with whichever of its side files exist."""
    found = []
    for database in databases:
        for suffix in SQLITE_SIDE_FILES:
            candidate = database.with_name(database.name + suffix)
            if candidate.exists():
                found.append(candidate)
    return found


def raw_hits(paths: Iterable[Path], needles: Iterable[bytes]) -> dict[bytes, list[str]]:
    """For each needle, the files whose bytes contain it (also as UTF-16, as SQLite can)."""
    contents = {str(p): p.read_bytes() for p in paths}
    hits: dict[bytes, list[str]] = {}
    for needle in needles:
        forms = {needle}
        with contextlib.suppress(UnicodeDecodeError):
            forms.add(needle.decode("utf-8").encode("utf-16-le"))
        hits[needle] = sorted(name for name, data in contents.items()
                              if any(form in data for form in forms))
    return hits


def text_hits(texts: Iterable[str], canaries: Iterable[str]) -> dict[str, int]:
    corpus = list(texts)
    return {canary: sum(canary in text for text in corpus) for canary in canaries}
