"""A real single-node Apache Kafka broker (KRaft) from Maven-fetched jars, without Docker.

Tests and development need a genuine broker (transactions, read_committed, topic
configs) and this project never mocks Kafka. Where there is no Docker engine, this
module runs Apache's own broker jars (``docker/kafka/target/lib``, fetched by
``mvn -q -B -f docker/kafka/pom.xml dependency:copy-dependencies``) on Java 17.

As a library::

    with LocalKafkaBroker(Path("/tmp/kafka")) as broker:
        use(broker.bootstrap_servers)

As a command::

    python docker/kafka/broker.py run   --work-dir DIR   # foreground, Ctrl-C stops it
    python docker/kafka/broker.py start --work-dir DIR   # background, prints the address
    python docker/kafka/broker.py stop  --work-dir DIR

The work directory holds the rendered ``server.properties``, the data (``data/``), the
broker log (``logs/server.log``) and, for ``start``, the process record ``broker.json``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from string import Template
from types import TracebackType

KAFKA_DIR = Path(__file__).resolve().parent
DEFAULT_LIB_DIR = KAFKA_DIR / "target" / "lib"
SERVER_PROPERTIES_TEMPLATE = KAFKA_DIR / "server.properties.template"
LOG4J2_CONFIG = KAFKA_DIR / "log4j2.properties"
FETCH_JARS_COMMAND = "mvn -q -B -f docker/kafka/pom.xml dependency:copy-dependencies"
READY_LINE = "Kafka Server started"
_PORT_TAKEN = "Address already in use"
_RECORD_FILE = "broker.json"

DEFAULT_HEAP = "384m"
DEFAULT_START_TIMEOUT_S = 120.0
DEFAULT_STOP_TIMEOUT_S = 30.0
_LOG_TAIL_LINES = 40
_ERROR_LINES = 5
_PORT_ATTEMPTS = 3
# From <linux/prctl.h>: ask the kernel to signal this process when its parent dies.
_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The local broker could not be set up, started or stopped."""


class BrokerSetupError(BrokerError):
    """Something the broker needs (java, the jars) is missing; the message says the fix."""


class BrokerStartError(BrokerError):
    """The broker process ran but did not become ready; the message has its log's tail."""


class LocalKafkaBroker:
    """One broker+controller JVM on loopback ports, owned by this Python process.

    ``die_with_parent`` (the default) makes the kernel kill the JVM when the Python
    process that started it dies, even by SIGKILL, so a crashed test run leaves no
    broker behind. The ``start`` command turns it off to leave the broker running.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        port: int = 0,
        controller_port: int = 0,
        lib_dir: Path = DEFAULT_LIB_DIR,
        java: str | None = None,
        heap: str = DEFAULT_HEAP,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
        die_with_parent: bool = True,
        extra_properties: Mapping[str, str] | None = None,
    ) -> None:
        self.work_dir = Path(work_dir).resolve()
        self.lib_dir = Path(lib_dir).resolve()
        # What the work directory holds.
        self.data_dir = self.work_dir / "data"
        self.logs_dir = self.work_dir / "logs"
        self.server_log = self.logs_dir / "server.log"
        self.jvm_output = self.logs_dir / "jvm.out"
        self.server_properties = self.work_dir / "server.properties"
        self.record_file = self.work_dir / _RECORD_FILE
        self._requested_port = port
        self._requested_controller_port = controller_port
        self._java = java
        self.heap = heap
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.die_with_parent = die_with_parent
        # Broker settings added to (and overriding) server.properties.template's, e.g.
        # shorter log clean-up intervals for a test that waits for files to go.
        self.extra_properties = dict(extra_properties or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None or not self.is_running():
            raise BrokerError("the broker is not running: call start() first")
        return f"127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> str:
        """Format storage if needed, start the JVM, wait until it serves; return its address."""
        if self.is_running():
            return self.bootstrap_servers
        java = self._find_java()
        self._check_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        ports_are_ours = self._requested_port == 0 and self._requested_controller_port == 0
        attempts = _PORT_ATTEMPTS if ports_are_ours else 1
        for attempt in range(1, attempts + 1):
            port, controller_port = self._choose_ports()
            self._render_server_properties(port, controller_port)
            self._format_storage(java)
            log_offset = self.server_log.stat().st_size if self.server_log.exists() else 0
            self._launch(java)
            self._port = port
            try:
                self._wait_until_ready(log_offset)
            except BrokerStartError:
                self.stop()
                # Free ports are picked then released before the JVM binds them, so
                # another process can take one in between: pick again in that case.
                if attempt < attempts and _log_contains(self.server_log, _PORT_TAKEN, log_offset):
                    continue
                raise
            except BaseException:  # e.g. Ctrl-C while waiting: never leave the JVM behind
                self.stop()
                raise
            break
        return self.bootstrap_servers

    def stop(self) -> None:
        """SIGTERM the broker's process group, then SIGKILL if it lingers. Safe to repeat."""
        process = self._process
        if process is None:
            return
        atexit.unregister(self.stop)
        try:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    _signal_group(process.pid, signal.SIGKILL)
                    process.wait(timeout=self.stop_timeout_s)
        finally:
            self._process = None
            self._port = None

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The broker's first errors, then the last lines of its log and of the JVM's output."""
        parts = []
        errors = _error_lines(self.server_log, _ERROR_LINES)
        if errors:
            parts.append(f"--- first errors in {self.server_log} ---\n{errors}")
        for path in (self.server_log, self.jvm_output):
            tail = _tail(path, lines)
            if tail:
                parts.append(f"--- last lines of {path} ---\n{tail}")
        return "\n".join(parts) if parts else f"(no log written in {self.logs_dir})"

    # -- steps -------------------------------------------------------------------------

    def _find_java(self) -> str:
        candidates = [self._java] if self._java else []
        java_home = os.environ.get("JAVA_HOME")
        if java_home:
            candidates.append(str(Path(java_home) / "bin" / "java"))
        candidates.append("java")
        for candidate in candidates:
            found = shutil.which(candidate)
            if found:
                return found
        raise BrokerSetupError(
            "java not found (looked at JAVA_HOME and PATH): "
            "install Java 17, e.g. `apt-get install openjdk-17-jre-headless`"
        )

    def _check_jars(self) -> None:
        fetch = f"run `{FETCH_JARS_COMMAND}` from the repository root"
        if not any(self.lib_dir.glob("kafka_2.13-*.jar")):
            raise BrokerSetupError(f"Kafka jars not found in {self.lib_dir}: {fetch}")
        if not any(self.lib_dir.glob("log4j-slf4j*-impl-*.jar")):
            # Without an SLF4J binding the broker logs nothing, so readiness is invisible.
            raise BrokerSetupError(f"no SLF4J logging binding in {self.lib_dir}: {fetch}")

    def _choose_ports(self) -> tuple[int, int]:
        port = self._requested_port or _free_loopback_port()
        controller_port = self._requested_controller_port or _free_loopback_port(exclude={port})
        return port, controller_port

    def _render_server_properties(self, port: int, controller_port: int) -> None:
        template = Template(SERVER_PROPERTIES_TEMPLATE.read_text(encoding="utf-8"))
        rendered = template.substitute(
            broker_port=port, controller_port=controller_port, log_dirs=self.data_dir
        )
        extra = "".join(f"{key}={value}\n" for key, value in self.extra_properties.items())
        if extra:
            rendered += "\n# Added by the caller (extra_properties).\n" + extra
        self.server_properties.write_text(rendered, encoding="utf-8")

    def _format_storage(self, java: str) -> None:
        # A formatted data directory keeps its cluster id; --ignore-formatted lets a
        # work directory be reused across restarts with its topics intact.
        command = self._java_command(
            java,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            _read_cluster_id(self.data_dir) or _new_cluster_id(),
            "-c",
            str(self.server_properties),
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            hint = (
                " Kafka 4 needs Java 17 or newer."
                if "UnsupportedClassVersionError" in output
                else ""
            )
            raise BrokerStartError(
                f"formatting Kafka storage in {self.data_dir} failed "
                f"(exit {result.returncode}).{hint}\n{output}"
            )

    def _launch(self, java: str) -> None:
        command = self._java_command(java, "kafka.Kafka", str(self.server_properties))
        parent_pid = os.getpid()
        die_with_parent = self.die_with_parent

        def prepare_child() -> None:
            if die_with_parent:
                _die_with_parent(parent_pid)

        with self.jvm_output.open("ab") as jvm_output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=jvm_output,
                stderr=subprocess.STDOUT,
                # Its own session and process group: a Ctrl-C at the terminal reaches
                # Python, which then stops the broker in order, and stop() can signal
                # the whole group.
                start_new_session=True,
                preexec_fn=prepare_child,  # noqa: PLW1509  # nothing else runs threads yet
                cwd=self.work_dir,
            )
        if die_with_parent:
            # A normal interpreter exit (even after an uncaught exception) stops it too.
            atexit.register(self.stop)

    def _wait_until_ready(self, log_offset: int) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while not _log_contains(self.server_log, READY_LINE, log_offset):
            process = self._process
            if process is None or process.poll() is not None:
                code = process.returncode if process is not None else None
                hint = (
                    f" Port {self._port} or the controller port is taken: choose another."
                    if _log_contains(self.server_log, _PORT_TAKEN, log_offset)
                    else ""
                )
                raise BrokerStartError(
                    f"the Kafka broker exited (code {code}) before it was ready.{hint}\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                raise BrokerStartError(
                    f"the Kafka broker did not log {READY_LINE!r} within "
                    f"{self.start_timeout_s:.0f} s.\n" + self.log_tail()
                )
            time.sleep(0.2)
        self._confirm_with_admin_client(deadline)

    def _confirm_with_admin_client(self, deadline: float) -> None:
        # The log line says the server started; an admin call proves a client can use it.
        # Imported here so `--help` and the setup checks work without the project's venv.
        try:
            from kafka.admin import KafkaAdminClient  # noqa: PLC0415
            from kafka.errors import KafkaError  # noqa: PLC0415
        except ImportError as error:
            raise BrokerSetupError(
                "kafka-python is not installed: run this with the project's virtualenv "
                "(.venv/bin/python), made by `make install-test`"
            ) from error

        remaining_ms = max(1000, int((deadline - time.monotonic()) * 1000))
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=f"127.0.0.1:{self._port}",
                client_id="local-broker-readiness",
                bootstrap_timeout_ms=remaining_ms,
                request_timeout_ms=remaining_ms,
            )
            try:
                cluster = admin.describe_cluster()
            finally:
                admin.close()
        except KafkaError as error:
            raise BrokerStartError(
                f"the Kafka broker logged {READY_LINE!r} but an admin client call "
                f"failed: {error!r}\n" + self.log_tail()
            ) from error
        if not cluster.get("brokers"):
            raise BrokerStartError(
                "the Kafka broker answered but reported no brokers.\n" + self.log_tail()
            )

    def _java_command(self, java: str, main_class: str, *args: str) -> list[str]:
        """``main_class`` of the Kafka jars, with ``args``, in a JVM set up for this broker."""
        return [java, *self._jvm_options(), "-cp", str(self.lib_dir / "*"), main_class, *args]

    def _jvm_options(self) -> list[str]:
        return [
            f"-Xmx{self.heap}",
            # Start-up speed matters more than peak throughput for a test broker on a
            # small machine: a simple collector and no perf-data files in /tmp.
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            # Kafka's own shutdown hook logs until the end; log4j's would race it.
            "-Dlog4j2.shutdownHookEnabled=false",
            f"-Dkafka.logs.dir={self.logs_dir}",
        ]


# -- helpers ---------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """In the forked child: have the kernel SIGKILL it when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died between fork and prctl; then nobody would signal us.
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _free_loopback_port(exclude: set[int] | None = None) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not exclude or port not in exclude:
            return port


def _new_cluster_id() -> str:
    """A UUID in URL-safe base64 without padding (22 characters), as Kafka writes them.

    Like Kafka's own ``Uuid.randomUuid`` it never starts with "-": one id in 64 would,
    and the storage tool's argument parser would then take it for an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _read_cluster_id(data_dir: Path) -> str | None:
    meta = data_dir / "meta.properties"
    if not meta.exists():
        return None
    for line in meta.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    return None


def _log_contains(path: Path, needle: str, offset: int) -> bool:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return needle.encode() in log.read()
    except FileNotFoundError:
        return False


def _error_lines(path: Path, limit: int) -> str:
    # The cause is usually the first ERROR; the tail is often shutdown noise after it.
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    found = [line for line in text.splitlines() if "] ERROR " in line or "] FATAL " in line]
    return "\n".join(found[:limit])


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _process_mentions(pid: int, text: str) -> bool:
    """Whether a live process's command line contains ``text`` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return text.encode() in cmdline


# -- command line ----------------------------------------------------------------------


def _write_record(broker: LocalKafkaBroker) -> None:
    record = {"pid": broker.pid, "bootstrap_servers": broker.bootstrap_servers}
    broker.record_file.write_text(json.dumps(record) + "\n", encoding="utf-8")


def stop_recorded_broker(work_dir: Path, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> bool:
    """Stop a broker left running by ``start``; False if none was running there."""
    work_dir = work_dir.resolve()
    record_file = work_dir / _RECORD_FILE
    if not record_file.exists():
        return False
    pid = int(json.loads(record_file.read_text(encoding="utf-8"))["pid"])
    stopped = False
    if _process_mentions(pid, str(work_dir)):
        stopped = True
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _process_mentions(pid, str(work_dir)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _process_mentions(pid, str(work_dir)):
            _signal_group(pid, signal.SIGKILL)
    record_file.unlink()
    return stopped


def _run(broker: LocalKafkaBroker) -> int:
    # SIGTERM (from a supervisor) should stop the broker as cleanly as Ctrl-C does, and
    # SIGINT must work even when a non-interactive shell started us with it ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with broker:
        print(broker.bootstrap_servers, flush=True)
        print(f"Kafka broker ready; log: {broker.server_log}; Ctrl-C stops it", file=sys.stderr)
        try:
            while broker.is_running():
                time.sleep(1)
        except KeyboardInterrupt:
            return 0
    print(f"the Kafka broker exited on its own.\n{broker.log_tail()}", file=sys.stderr)
    return 1


def _start(broker: LocalKafkaBroker) -> int:
    if stop_recorded_broker(broker.work_dir):
        print(f"stopped the broker already running in {broker.work_dir}", file=sys.stderr)
    broker.start()
    _write_record(broker)
    print(broker.bootstrap_servers, flush=True)
    print(
        f"Kafka broker running in the background (pid {broker.pid}); stop it with: "
        f"python docker/kafka/broker.py stop --work-dir {broker.work_dir}",
        file=sys.stderr,
    )
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="broker.py",
        description=(
            "Run a real single-node Apache Kafka broker (KRaft) on 127.0.0.1 from the jars in "
            f"docker/kafka/target/lib (fetch them with `{FETCH_JARS_COMMAND}`). "
            "Needs Java 17. The bootstrap address is printed on standard output."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    descriptions = {
        "run": "start the broker and keep it in the foreground until Ctrl-C or SIGTERM",
        "start": "start the broker in the background and return once it is ready",
        "stop": "stop a broker started in the background with `start`",
    }
    for name, help_text in descriptions.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "--work-dir",
            type=Path,
            required=True,
            help="directory for the broker's configuration, data and logs",
        )
        if name != "stop":
            command.add_argument(
                "--port",
                type=int,
                default=0,
                help="broker port on 127.0.0.1 (default: a free port; 9092 matches the "
                "ledger's default LEDGER_KAFKA_BOOTSTRAP)",
            )
            command.add_argument(
                "--timeout",
                type=float,
                default=DEFAULT_START_TIMEOUT_S,
                help="seconds to wait for the broker to become ready (default: %(default)s)",
            )
            command.add_argument(
                "--heap", default=DEFAULT_HEAP, help="JVM maximum heap (default: %(default)s)"
            )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.command == "stop":
        if stop_recorded_broker(args.work_dir):
            print(f"stopped the Kafka broker in {args.work_dir}", file=sys.stderr)
        else:
            print(f"no Kafka broker was running in {args.work_dir}", file=sys.stderr)
        return 0
    broker = LocalKafkaBroker(
        args.work_dir,
        port=args.port,
        heap=args.heap,
        start_timeout_s=args.timeout,
        die_with_parent=args.command == "run",
    )
    try:
        return _run(broker) if args.command == "run" else _start(broker)
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
