"""A policy document with one fault put in, and what the loader says of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ledger.domain.policy import Policy
from ledger.errors import PolicyError


def refusal_of(data: dict[str, Any], mutate: Callable[[dict[str, Any]], object]) -> str:
    """The loader's message for ``data`` once ``mutate`` has changed it (it must refuse)."""
    mutate(data)
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping(data)
    return str(caught.value)
