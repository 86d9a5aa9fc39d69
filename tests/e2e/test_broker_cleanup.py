"""No broker JVM outlives the test run that started it, however that run ends.

Each test runs a child ``pytest`` whose only test uses the ``kafka_bootstrap`` fixture,
so the child starts its own local broker in a work directory this test chose, then
ends badly. Afterwards no java process may still mention that directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kafka_fixtures import BOOTSTRAP_VARIABLE, WORK_DIR_VARIABLE

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD_TEST = """
import time
from pathlib import Path

from kafka.admin import KafkaAdminClient


def test_uses_the_broker_then_ends_badly(kafka_bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    assert admin.describe_cluster()["brokers"]
    admin.close()
    Path("broker-was-reachable").write_text(kafka_bootstrap)
    if Path("hang").exists():
        time.sleep(600)
    raise AssertionError("failing on purpose")
"""


def java_processes_mentioning(text: str) -> list[int]:
    """Live java processes whose command line contains ``text`` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if Path(os.fsdecode(arguments[0])).name == "java" and any(
            text.encode() in argument for argument in arguments
        ):
            found.append(int(entry.name))
    return found


def child_pytest(directory: Path, work_dir: Path) -> subprocess.Popen[str]:
    (directory / "pytest.ini").write_text("[pytest]\n")  # the child's own rootdir
    (directory / "test_child.py").write_text(CHILD_TEST)
    env = {key: value for key, value in os.environ.items() if key != BOOTSTRAP_VARIABLE}
    env[WORK_DIR_VARIABLE] = str(work_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.kafka_fixtures",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_child.py",
        ],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_failing_run_stops_its_broker_before_it_exits(tmp_path: Path) -> None:
    work_dir = tmp_path / "broker"

    child = child_pytest(tmp_path, work_dir)
    output, _ = child.communicate(timeout=240)

    assert child.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "failing on purpose" in output
    assert (tmp_path / "broker-was-reachable").exists(), output
    server_log = (work_dir / "logs" / "server.log").read_text()
    assert "Kafka Server started" in server_log
    # SIGTERM: an orderly stop by the fixture, not the kernel's parent-death SIGKILL.
    assert "Terminating process due to signal SIGTERM" in server_log
    assert java_processes_mentioning(str(work_dir)) == [], log_tail(work_dir)


def test_a_killed_run_takes_its_broker_with_it(tmp_path: Path) -> None:
    work_dir = tmp_path / "broker"
    (tmp_path / "hang").touch()

    child = child_pytest(tmp_path, work_dir)
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "broker-was-reachable").exists():
            assert child.poll() is None, child.communicate()[0] + log_tail(work_dir)
            assert time.monotonic() < deadline, "the child's broker never became reachable"
            time.sleep(0.2)
        assert java_processes_mentioning(str(work_dir)) != [], log_tail(work_dir)

        # No finalizer, no atexit: only the kernel's parent-death signal can act now.
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()

    deadline = time.monotonic() + 15
    while java_processes_mentioning(str(work_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert java_processes_mentioning(str(work_dir)) == [], log_tail(work_dir)


def log_tail(work_dir: Path) -> str:
    """The end of the child's broker log, to explain a failure."""
    server_log = work_dir / "logs" / "server.log"
    if not server_log.exists():
        return f"(no broker log in {work_dir})"
    return "\n".join(server_log.read_text().splitlines()[-30:])
