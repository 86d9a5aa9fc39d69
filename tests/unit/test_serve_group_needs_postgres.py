"""`ledger serve --group` refuses to start without the shared stores, and says why."""

from __future__ import annotations

import io

import pytest

from consumers.serve_group import serve_group
from ledger.config import KafkaSettings, Settings
from ledger.errors import ConfigurationError


def test_group_mode_without_postgres_is_refused_before_it_touches_kafka() -> None:
    settings = Settings(backend="kafka", kafka=KafkaSettings(bootstrap_servers="nowhere:1"))
    with pytest.raises(ConfigurationError) as refused:
        serve_group(settings, 100, io.StringIO(), io.StringIO(), as_json=False)
    assert "LEDGER_POSTGRES_DSN" in str(refused.value)
    assert "move between processes" in str(refused.value)
