"""`ledger web` on a Kafka ledger, with `ledger serve` beside it: acts sent over HTTP are
recorded by the shard writers, the view reads the shards' projections, the erasure goes
through the intake topic and comes back with what was shredded."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kafka_fixtures import free_port
from tests.kafka_ledger import ledger_env, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]
CANARY = "CANARY-WEB-KAFKA"


@pytest.fixture
def env(kafka_bootstrap: str, tmp_path: Path) -> dict[str, str]:
    return ledger_env(kafka_bootstrap, tmp_path / "data", partitions=2)


@pytest.fixture
def web(env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    assert run_cli(env, "topics", "ensure").returncode == 0
    tokens = {}
    for role, name in (("upstream", "crm-sync"), ("dsar-handler", "hanna")):
        made = run_cli(env, "tokens", "create", "--role", role, "--name", name)
        assert made.returncode == 0, made.stderr
        tokens[role] = made.stdout.strip()
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "consumers.cli", "serve"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "consumers.cli", "web", "--port", str(port), "--wait", "60",
         "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                assert server.poll() is None, server.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "ledger web did not start"
                time.sleep(0.3)
        yield base, tokens
    finally:
        server.terminate()
        server.wait(timeout=30)
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=60)


def _call(base: str, path: str, token: str, body: Any, content_type: str = "application/json"
          ) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="POST", headers={  # noqa: S310
        "Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_acts_views_and_an_erasure_through_the_console_on_kafka(
        web: tuple[str, dict[str, str]]) -> None:
    base, tokens = web
    subject = str(uuid.uuid4())
    act = {"act_id": f"crm-{uuid.uuid4().hex}", "type": "data-collected",
           "subject_id": subject, "actor": "crm", "occurred_at": "2025-03-03T09:00:00+00:00",
           "purpose": "contact", "source_system": "crm", "legal_basis": "legitimate-interest",
           "values": {"name": f"{CANARY} name", "business-email": "kafka-web@example.nl"}}
    status, answer = _call(base, "/v1/acts", tokens["upstream"], [act])
    assert status == 200, answer
    assert [v["status"] for v in answer["verdicts"]] == ["recorded"], answer
    why = {"case_ref": "K-1", "purpose": "subject-request"}
    status, found = _call(base, "/v1/subjects/lookup", tokens["dsar-handler"],
                          {"email": "kafka-web@example.nl"})
    assert (status, found) == (200, {"subject_id": subject})
    status, view = _call(base, f"/v1/subjects/{subject}/view", tokens["dsar-handler"], why)
    assert status == 200, view
    assert f"{CANARY} name" in json.dumps(view)
    status, erased = _call(base, f"/v1/subjects/{subject}/erasure", tokens["dsar-handler"],
                           {"request_ref": "K-E1"})
    assert status == 200, erased
    assert erased["status"] == "recorded"
    assert erased["shredded_scopes"]  # the scope names are the policy's
    status, view = _call(base, f"/v1/subjects/{subject}/view", tokens["dsar-handler"], why)
    assert status == 200
    assert CANARY not in json.dumps(view)
