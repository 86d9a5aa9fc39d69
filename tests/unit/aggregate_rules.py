"""What the rule tests on the ``DataSubject`` aggregate alone (no store) share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.domain.subject import DataSubject
from ledger.errors import PolicyViolation
from ledger.policy import load_policy

POLICY = load_policy()
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def refused(rule: str, command: Callable[[], Any], s: DataSubject) -> None:
    """``command`` is refused under ``rule`` and leaves ``s`` as it was: no event, no version."""
    before = s.version
    with pytest.raises(PolicyViolation) as caught:
        command()
    assert caught.value.rule == rule
    assert s.version == before, "a refused act changed the version"
    assert not s.pending_events, "a refused act left an event"
