"""A throwaway PostgreSQL server from the distribution's packages, for tests and benches.

No Docker needed: ``initdb`` into a temporary directory, start on a free port on
127.0.0.1 with the unix socket inside that directory, stop and delete it afterwards.
PostgreSQL refuses to run as root, so under uid 0 every server command runs as the
``postgres`` system user (``runuser -u postgres --``) on a directory chowned to it.

The server process is a child of the caller (not daemonised by ``pg_ctl start``), so it
is reaped when it stops. Standard library only, importable by path (the top-level name
``docker`` is taken by the Docker SDK) and usable from a shell:

    python docker/postgres/server.py start --dir /tmp/pg   # prints the DSN
    python docker/postgres/server.py stop --dir /tmp/pg
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "install PostgreSQL's server packages (Debian/Ubuntu: `apt-get install -y postgresql`), "
    "or point LEDGER_TEST_POSTGRES_DSN at a server you run"
)
_START_TIMEOUT_S = 60
_STOP_TIMEOUT_S = 30
_SYSTEM_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server could not be started; the message says what is missing and what to do."""


@dataclass
class PostgresServer:
    base_dir: Path
    bin_dir: Path
    port: int
    run_as: str | None
    # Our own child (not daemonised by pg_ctl), so that we reap it when it stops.
    process: subprocess.Popen[bytes] | None = None
    # Derived from the fields above.
    data_dir: Path = field(init=False)
    log_file: Path = field(init=False)
    dsn: str = field(init=False)

    def __post_init__(self) -> None:
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    @classmethod
    def start(cls, base_dir: Path | None = None) -> PostgresServer:
        """initdb and start a server; ``PostgresUnavailable`` with the reason if it fails."""
        bin_dir = find_bin_dir()
        run_as = _system_user_if_root()
        base = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        base.mkdir(parents=True, exist_ok=True)
        server = cls(base, bin_dir, _free_port(), run_as)
        try:
            if run_as:
                entry = pwd.getpwnam(run_as)
                os.chown(base, entry.pw_uid, entry.pw_gid)
            server._run(
                "initdb",
                "-D",
                str(server.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            server._launch()
        except PostgresUnavailable:
            server.stop()
            raise
        (base / "dsn").write_text(server.dsn + "\n", encoding="ascii")
        return server

    @classmethod
    def attach(cls, base_dir: Path) -> PostgresServer:
        """The server started earlier in ``base_dir`` (for the command line's ``stop``)."""
        dsn = (base_dir / "dsn").read_text(encoding="ascii")
        port = int(dsn.split("port=")[1].split()[0])
        return cls(base_dir, find_bin_dir(), port, _system_user_if_root())

    def stop(self, *, remove: bool = True) -> None:
        """Fast shutdown, then SIGKILL if it does not go; remove the directory."""
        if (self.data_dir / "postmaster.pid").exists():
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(_STOP_TIMEOUT_S),
                    "stop",
                )
            except PostgresUnavailable:
                self._kill()
        if self.process is not None:
            try:
                self.process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _launch(self) -> None:
        # Durability is pointless for a throwaway server; speed is not.
        options = [
            "-p",
            str(self.port),
            "-k",
            str(self.base_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=100",
        ]
        with self.log_file.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    self._command("postgres", "-D", str(self.data_dir), *options),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.base_dir,
                    start_new_session=True,
                )
            except OSError as exc:
                raise PostgresUnavailable(f"postgres could not run: {exc}; {INSTALL_HINT}") from exc
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PostgresUnavailable(
                    f"postgres exited with code {self.process.returncode} while starting"
                    f"{self._log_tail()}"
                )
            ready = subprocess.run(
                [
                    str(self.bin_dir / "pg_isready"),
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-t",
                    "1",
                ],
                check=False,
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresUnavailable(
            f"postgres did not accept connections within {_START_TIMEOUT_S}s{self._log_tail()}"
        )

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return command

    def _run(self, program: str, *args: str) -> None:
        command = self._command(program, *args)
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=_START_TIMEOUT_S + 30,
                check=False,
                cwd=self.base_dir,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{program} could not run: {exc}; {INSTALL_HINT}") from exc
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{program} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\nserver log (last lines):\n" + "\n".join(lines[-20:])

    def _kill(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig in (signal.SIGQUIT, signal.SIGKILL):  # SIGQUIT: immediate shutdown
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.1)


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb, else initdb on PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: (
            int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin "
        f"or on PATH; {INSTALL_HINT}"
    )


def _system_user_if_root() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, and PostgreSQL refuses to run as root, but there is no "
            f"'{_SYSTEM_USER}' system user to run it as; the Debian package creates it: "
            f"{INSTALL_HINT}"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root but `runuser` (util-linux) is missing")
    return _SYSTEM_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, required=True, help="directory for the server")
    options = parser.parse_args(argv)
    try:
        if options.action == "start":
            print(PostgresServer.start(options.dir).dsn)
        else:
            PostgresServer.attach(options.dir).stop()
    except (PostgresUnavailable, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
