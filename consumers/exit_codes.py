"""The exit codes of every `ledger` command, in one place.

A script can tell a refusal (1) from a mistake in the call (2), a crash (3), a writer
replaced by a newer one (4), a store or log that does not verify (5) and an act still
waiting for `ledger serve` (6). Each command's ``--help`` lists the ones it returns.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    REFUSED = 1
    USAGE = 2
    FAILED = 3
    FENCED = 4
    INTEGRITY = 5
    PENDING = 6


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.REFUSED: "refused or rejected (each with its rule and reason)",
    ExitCode.USAGE: "usage or configuration error (nothing was done)",
    ExitCode.FAILED: "an unexpected failure (see stderr); what was committed stays",
    ExitCode.FENCED: "a newer `ledger serve` took over the shard",
    ExitCode.INTEGRITY: "a store or log does not verify, or a key is missing",
    ExitCode.PENDING: "sent, but `ledger serve` did not answer within --wait",
}


def describe(codes: tuple[ExitCode, ...]) -> str:
    """The exit-code paragraph of a command's ``--help``."""
    return "exit codes: " + "; ".join(f"{int(code)} {MEANINGS[code]}" for code in codes)

# What any command can return: done, a mistake in the call, a failure, and stores that
# do not verify (a lost key, a key store that is not the event store's).
COMMON = (ExitCode.OK, ExitCode.USAGE, ExitCode.FAILED, ExitCode.INTEGRITY)
