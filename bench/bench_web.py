"""The web console's subject view over HTTP, beside the same read in process.

    python bench/bench_web.py [--subjects 20000] [--seconds 10] [--rate 200]
                              [--clients 32] [--json] [--dir DIR]

A fresh embedded ledger is filled with subjects (``bench_projections.subject_history``:
a typical history each, saved a thousand at a time) and its projections are rebuilt.
Then, with a DSAR handler's token:

- in process: ``LedgerReader.subject_view`` alone, and the whole path a request takes
  (token check, ``backend.reading()`` catch-up, the view, the access-log entry);
- over HTTP (`ledger web` on 127.0.0.1, `POST /v1/subjects/{id}/view` with a case and
  purpose, so every request writes its access-log entry): the saturation throughput
  with ``--clients`` concurrent keep-alive clients (closed loop), and the latency at a
  steady ``--rate`` requests per second (open loop: each request is sent at its
  scheduled time whether or not earlier ones are done, and its latency counts from
  then, so a stall is not hidden).

Every phase is bounded in time (``--seconds``) and in requests; traffic goes to the
loopback interface only. The client runs on the same two cores as the server, so the
HTTP figures include the client's own cost. Progress on stderr, results on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from uuid import UUID

_ROOT = Path(__file__).resolve().parents[1]
for _path in (_ROOT, _ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_projections import SAVE_CHUNK, percentile, progress, subject_history  # noqa: E402

from consumers.access.log_sqlite import SQLiteAccessLog  # noqa: E402
from consumers.composition import open_backend, open_ledger, open_token_store  # noqa: E402
from consumers.projection_runner import projector_for, rebuild  # noqa: E402
from consumers.services.consultations import Viewer, Why, open_view  # noqa: E402
from ledger.config import Settings  # noqa: E402
from projections.sqlite_store import SQLiteProjectionStore  # noqa: E402

HOST = "127.0.0.1"
MAX_REQUESTS = 200_000  # whatever --seconds says, no phase sends more
WHY = {"case_ref": "BENCH-1", "purpose": "subject-request"}


def setup(directory: Path, subjects: int) -> tuple[Settings, list[UUID], str]:
    settings = Settings().with_data_dir(directory / "ledger")
    started = time.perf_counter()
    rng = random.Random(subjects)
    ids: list[UUID] = []
    with open_ledger(settings) as app:
        for first in range(0, subjects, SAVE_CHUNK):
            chunk = [subject_history(app, n, rng)
                     for n in range(first, min(subjects, first + SAVE_CHUNK))]
            app.save(*chunk)
            ids.extend(s.id for s in chunk)
            progress(f"\r  generated {len(ids):,}/{subjects:,} subjects", end="")
        progress("")
        store = SQLiteProjectionStore(settings.projection_store_path)
        try:
            rebuild(app.recorder, projector_for(app), store)
        finally:
            store.close()
    tokens = open_token_store(settings)
    try:
        token, _ = tokens.create("bench-handler", "dsar-handler")
    finally:
        tokens.close()
    progress(f"  set up {subjects:,} subjects in {time.perf_counter() - started:.0f} s")
    return settings, ids, token


def stats(samples_ms: list[float], seconds: float) -> dict[str, float]:
    samples_ms.sort()
    return {"requests": len(samples_ms), "per_second": round(len(samples_ms) / seconds, 1),
            "p50_ms": round(percentile(samples_ms, 0.50), 3),
            "p99_ms": round(percentile(samples_ms, 0.99), 3),
            "max_ms": round(samples_ms[-1], 3)}


def in_process(settings: Settings, ids: list[UUID], token: str, samples: int
               ) -> dict[str, Any]:
    rng = random.Random(7)
    picks = rng.choices(ids, k=samples)
    viewer, why = Viewer("bench-handler", "dsar-handler", "api"), Why(**WHY)
    tokens = open_token_store(settings)
    log = SQLiteAccessLog(settings.data_dir / "access-log.sqlite")
    try:
        with open_backend(settings) as backend:
            with backend.reading() as reader:
                for subject_id in picks[:100]:
                    reader.subject_view(subject_id)
                times: list[float] = []
                started = time.perf_counter()
                for subject_id in picks:
                    begun = time.perf_counter_ns()
                    reader.subject_view(subject_id)
                    times.append((time.perf_counter_ns() - begun) / 1e6)
                view_only = stats(times, time.perf_counter() - started)
            times = []
            started = time.perf_counter()
            for subject_id in picks:
                begun = time.perf_counter_ns()
                assert tokens.verify(token) is not None
                with backend.reading() as reader:
                    open_view(reader, log, viewer, why, subject_id)
                times.append((time.perf_counter_ns() - begun) / 1e6)
            whole = stats(times, time.perf_counter() - started)
    finally:
        log.close()
        tokens.close()
    return {"view_only": view_only, "request_path_with_access_log": whole}


class Connection:
    """One keep-alive HTTP/1.1 connection: just enough client for this benchmark."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def view_request(token: str, subject_id: UUID) -> bytes:
    body = json.dumps(WHY).encode()
    return (f"POST /v1/subjects/{subject_id}/view HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def health_request() -> bytes:
    return f"GET /health HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


async def saturate(port: int, requests: list[bytes], clients: int, seconds: float
                   ) -> dict[str, Any]:
    """Closed loop: each client sends its next request when the last is answered."""
    deadline = time.perf_counter() + seconds
    times: list[float] = []
    failures = 0
    queue = iter(requests)

    async def client() -> None:
        nonlocal failures
        connection = await Connection.open(port)
        try:
            for request in queue:
                if time.perf_counter() > deadline:
                    return
                begun = time.perf_counter()
                if await connection.send(request) != 200:
                    failures += 1
                times.append((time.perf_counter() - begun) * 1e3)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {**stats(times, time.perf_counter() - started), "failures": failures,
            "clients": clients}


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float
                    ) -> dict[str, Any]:
    """Open loop: request i goes at start + i / rate, on any idle connection (a new one
    if none is idle); its latency counts from its scheduled moment."""
    count = min(len(requests), int(rate * seconds))
    idle: list[Connection] = []
    opened: list[Connection] = []
    times: list[float] = []
    failures = 0
    start = time.perf_counter() + 0.1

    async def one(i: int) -> None:
        nonlocal failures
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        connection = idle.pop() if idle else None
        if connection is None:
            connection = await Connection.open(port)
            opened.append(connection)
        if await connection.send(requests[i]) != 200:
            failures += 1
        times.append((time.perf_counter() - scheduled) * 1e3)
        idle.append(connection)

    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - start
    for connection in opened:
        connection.close()
    return {**stats(times, elapsed), "target_per_second": rate, "failures": failures,
            "connections": len(opened)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def over_http(settings: Settings, ids: list[UUID], token: str, args: argparse.Namespace
              ) -> dict[str, Any]:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "consumers.cli", "--data-dir", str(settings.data_dir), "web",
         "--host", HOST, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("ledger web did not start") from None
                time.sleep(0.2)
        rng = random.Random(11)
        views = [view_request(token, s) for s in rng.choices(ids, k=MAX_REQUESTS // 4)]
        asyncio.run(saturate(port, views[:500], 8, 5))  # warm up
        progress("  HTTP: saturation ...")
        saturation = asyncio.run(saturate(port, views, args.clients, args.seconds))
        progress("  HTTP: open loop ...")
        steady = asyncio.run(open_loop(port, views, args.rate, args.seconds))
        health = asyncio.run(saturate(port, [health_request()] * (MAX_REQUESTS // 4),
                                      args.clients, min(5.0, args.seconds)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"saturation": saturation, "open_loop": steady, "health_saturation": health}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per HTTP phase")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s")
    parser.add_argument("--clients", type=int, default=32, help="saturation clients")
    parser.add_argument("--samples", type=int, default=2000, help="in-process reads")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        settings, ids, token = setup(Path(directory), args.subjects)
        progress("  in process ...")
        local = in_process(settings, ids, token, args.samples)
        remote = over_http(settings, ids, token, args)
    result = {"subjects": args.subjects, "in_process": local, "http": remote}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.subjects:,} subjects")
    rows = [("in process: subject_view only", local["view_only"]),
            ("in process: request path (token, catch-up, view, access log)",
             local["request_path_with_access_log"]),
            (f"HTTP view, saturation, {args.clients} clients", remote["saturation"]),
            (f"HTTP view, open loop at {args.rate:g}/s", remote["open_loop"]),
            (f"HTTP GET /health, saturation, {args.clients} clients",
             remote["health_saturation"])]
    print(f"{'what':<62} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in rows:
        print(f"{name:<62} {row['per_second']:>8,.0f} {row['p50_ms']:>8.2f} "
              f"{row['p99_ms']:>8.2f} {row['max_ms']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
