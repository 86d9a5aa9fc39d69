"""Scale-out of `ledger serve --group`: two group-mode processes against one, on PostgreSQL.

The same scenario twice in one run, each time on fresh topics (named with a new uuid)
and a fresh PostgreSQL database: ``acts`` acts of the mixed workload
(``bench_kafka.acts``: one collection, then three uses per subject), keyed by subject
id and sent with kafka-python's default partitioner, wait on an intake topic of
``partitions`` partitions; then (a) ONE and (b) TWO `ledger serve --group --json`
processes are started as real subprocesses, each with a data directory of its own and
the shared stores (``LEDGER_POSTGRES_DSN``, one master key, one checkpoint signing key,
one set of trusted office keys, as instances on separate machines would have).

Measured, per scenario:

- ``wall_s``: from starting the processes until every act is recorded, taken from the
  processes' own ``--json`` batch lines (each printed after its batch committed and was
  projected) when their ``recorded`` counts add up to ``acts``, and confirmed on the
  broker: the intake group's committed offsets of every intake partition have reached
  its end offsets. Process start, group join and claiming shards are included. The
  processes are then stopped with SIGTERM (their shutdown is not in the wall time).
- ``first_assigned_s`` / ``first_recorded_s``: from the start to the first group
  assignment and to the first committed batch of any process.
- ``steady``: the part where every process records: from the moment the last process
  committed its first batch (the group's assignment is final then: the cooperative
  protocol hands a shard to its new owner only after the old one let it go) to the last
  commit, with the acts committed in between; the tail where one process has finished
  its shards and the other has not is in it (that is partition skew, not start-up).
- ``cpu_s`` / ``cpu_share`` per process: user+system CPU seconds from
  ``/proc/<pid>/stat`` at the moment every act was recorded, and as a fraction of the
  wall time (1.0 = one core busy all along); ``cpu_total_s`` until the process exited
  (``os.wait4``); the steady part's share as well. Beside them the CPU of the broker
  (the JVM this bench started), of PostgreSQL (the server and its backends), of this
  bench process, of the kernel's interrupt handlers (``irq_cores``: on loopback much of
  the network stack runs there, charged to no process) and the machine's busy cores
  (``/proc/stat``), whose remainder (``other_cores``) is whatever else ran on the
  machine meanwhile: read the figures with it in mind.

Before the first scenario the broker makes its internal topics (one transaction and
one group commit on a throwaway topic), so that one-off cost lands in neither.

    python bench/bench_scale_out.py [--acts 20000] [--partitions 4] [--batch-size 500]
                                    [--json]

Starts its own broker (``bench_kafka.broker``; LEDGER_BENCH_KAFKA_BOOTSTRAP names one
instead) and its own PostgreSQL from the distribution's packages, as the tests do
(docker/postgres/server.py; LEDGER_BENCH_POSTGRES_DSN names a server instead). The
broker's and PostgreSQL's CPU is reported only for the ones it started.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
from bench_kafka import broker, log, produce_acts
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from psycopg import sql
from psycopg.conninfo import make_conninfo
from repo_root import ROOT

from ledger.config import KafkaSettings
from ledger.kafka.admin import TopicSpec, ensure_topics, required_topic_specs
from ledger.kafka.intake_progress import INTAKE_GROUP
from tests.docker_modules import load_docker_module

WORKLOAD = "mixed"
SAMPLE_EVERY_S = 0.1
DONE_TIMEOUT_S = 900.0
STOP_TIMEOUT_S = 120.0
TICKS = os.sysconf("SC_CLK_TCK")


# -- the services ------------------------------------------------------------------------


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """The DSN of LEDGER_BENCH_POSTGRES_DSN, else of a throwaway server started as the
    tests start one (a child of this process, so its CPU is measured)."""
    external = os.environ.get("LEDGER_BENCH_POSTGRES_DSN")
    if external:
        yield external
        return
    # The tests' loader (no pytest needed): the top-level name ``docker`` is the SDK's.
    module = load_docker_module("ledger_test_postgres_server", "postgres/server.py")
    log("starting a local PostgreSQL ...")
    server = module.PostgresServer.start()
    try:
        yield str(server.dsn)
    finally:
        server.stop()


@contextlib.contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """The DSN of a new database on the server (dropped afterwards): the ledger's schemas
    have fixed names, so a fresh database is what makes them fresh."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


# -- CPU from /proc -------------------------------------------------------------------------


def process_table() -> dict[int, tuple[int, float]]:
    """Every live process: its parent and the CPU seconds it and its reaped children
    used (utime + stime + cutime + cstime), so a tree's sum counts exited members too."""
    table: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(b")") + 2:].split()
        ticks = sum(int(value) for value in fields[11:15])
        table[int(entry.name)] = (int(fields[1]), ticks / TICKS)
    return table


def tree_cpu(table: dict[int, tuple[int, float]], root: int) -> float:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            total += table[pid][1]
            todo.extend(children.get(pid, ()))
    return total


def children_running(program: bytes) -> list[int]:
    """This process's children whose command line names ``program``: the broker
    (``java``) ``bench_kafka.broker`` started, the PostgreSQL server (``postgres``,
    perhaps under ``runuser``) ``postgres`` started."""
    found = []
    for pid, (ppid, _) in process_table().items():
        if ppid != os.getpid():
            continue
        with contextlib.suppress(OSError):
            if program in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def machine_busy_s() -> tuple[float, float]:
    """CPU seconds all cores spent busy since boot (/proc/stat; idle and iowait not), and
    of those the interrupt handlers' (irq, softirq: on loopback, much of the network
    stack's work, which no process is charged with)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS, (values[5] + values[6]) / TICKS


def self_cpu_s() -> float:
    times = os.times()
    return times.user + times.system  # this process only, not its children


@dataclass
class Sample:
    at: float
    serve: list[float]
    broker: float | None
    postgres: float | None
    bench: float
    machine: float
    irq: float


class Sampler:
    """CPU of every watched process, every ``SAMPLE_EVERY_S`` and on demand."""

    def __init__(self, broker: Sequence[int], postgres: Sequence[int]) -> None:
        self.serve_pids: list[int] = []
        self.broker = list(broker)
        self.postgres = list(postgres)
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> Sample:
        table = process_table()
        taken = Sample(
            time.monotonic(), [tree_cpu(table, pid) for pid in self.serve_pids],
            sum(tree_cpu(table, pid) for pid in self.broker) if self.broker else None,
            sum(tree_cpu(table, pid) for pid in self.postgres) if self.postgres else None,
            self_cpu_s(), *machine_busy_s())
        with self._lock:
            self.samples.append(taken)
        return taken

    def baseline(self, processes: int) -> Sample:
        """The counters just before ``processes`` serve processes start (at 0 CPU)."""
        taken = self.sample()
        taken.serve = [0.0] * processes
        return taken

    def watch(self, serve_pids: Sequence[int]) -> None:
        self.serve_pids = list(serve_pids)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.sample()

    def at(self, moment: float) -> Sample:
        """The CPU counters at ``moment``, interpolated between the samples around it."""
        with self._lock:
            samples = sorted(self.samples, key=lambda s: s.at)
        before = [s for s in samples if s.at <= moment]
        after = [s for s in samples if s.at >= moment]
        if not before:
            return after[0]
        if not after:
            return before[-1]
        a, b = before[-1], after[0]
        if b.at == a.at:
            return a
        w = (moment - a.at) / (b.at - a.at)

        def mix(x: float | None, y: float | None) -> float | None:
            return None if x is None or y is None else x + (y - x) * w

        return Sample(moment, [x + (y - x) * w for x, y in zip(a.serve, b.serve, strict=True)],
                      mix(a.broker, b.broker), mix(a.postgres, b.postgres),
                      a.bench + (b.bench - a.bench) * w, a.machine + (b.machine - a.machine) * w,
                      a.irq + (b.irq - a.irq) * w)


# -- the serve processes --------------------------------------------------------------------


@dataclass
class Instance:
    """A `ledger serve --group --json` process and its stdout lines, time-stamped."""

    process: subprocess.Popen[str]
    stderr_path: Path
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    rusage_cpu_s: float | None = None
    changed: threading.Event | None = None

    def read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            if text.startswith("{"):
                self.lines.append((time.monotonic(), orjson.loads(text)))
                if self.changed is not None:
                    self.changed.set()

    def batches(self) -> list[tuple[float, dict[str, Any]]]:
        return [(at, line) for at, line in list(self.lines) if "shard" in line]

    def recorded(self) -> int:
        return sum(line["recorded"] for _, line in self.batches())

    def rejected(self) -> int:
        return sum(line["rejected"] + line["parked"] for _, line in self.batches())

    def serving(self) -> list[int]:
        changes = [line["serving"] for _, line in list(self.lines) if "serving" in line]
        return changes[-1] if changes else []

    def stderr_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.stderr_path.read_text(errors="replace")[-3000:]
        return ""


def start_instance(env: dict[str, str], data_dir: Path, batch_size: int,
                   changed: threading.Event) -> Instance:
    data_dir.mkdir(mode=0o700, parents=True)
    stderr_path = data_dir.parent / f"{data_dir.name}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "consumers.cli", "serve", "--group", "--json",
             "--batch-size", str(batch_size)],
            env={**env, "LEDGER_DATA_DIR": str(data_dir)}, cwd=ROOT,
            stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
    instance = Instance(process, stderr_path, changed=changed)
    threading.Thread(target=instance.read, daemon=True).start()
    return instance


def stop_instances(instances: Sequence[Instance]) -> None:
    """SIGTERM (the batch in flight commits first), then SIGKILL after the timeout;
    reaped with ``os.wait4`` for the CPU each used in all."""
    for instance in instances:
        if instance.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                instance.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for instance in instances:
        process = instance.process
        if process.returncode is not None:
            continue
        while True:
            try:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                instance.rusage_cpu_s = usage.ru_utime + usage.ru_stime
                break
            if time.monotonic() > deadline:
                process.kill()
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                instance.rusage_cpu_s = usage.ru_utime + usage.ru_stime
                break
            time.sleep(0.05)


def kill_instances(instances: Sequence[Instance]) -> None:
    """After a failure: nothing of ours is left running."""
    for instance in instances:
        if instance.process.poll() is None:
            instance.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                instance.process.wait(timeout=30)


# -- the scenario ---------------------------------------------------------------------------


def cli(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "consumers.cli", *args], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise SystemExit(f"ledger {' '.join(args)} failed: {result.stderr[-2000:]}")


def shared_env(bootstrap: str, dsn: str, kafka: KafkaSettings, keys: Path) -> dict[str, str]:
    """What every instance shares: the topics, PostgreSQL, the master key, the checkpoint
    signing key and the trusted office keys (made here, once; an instance's own data
    directory is set per process)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env = {
        **inherited,
        "LEDGER_BACKEND": "kafka", "LEDGER_KAFKA_BOOTSTRAP": bootstrap,
        "LEDGER_LEDGER_TOPIC": kafka.ledger_topic, "LEDGER_INTAKE_TOPIC": kafka.intake_topic,
        "LEDGER_REJECTED_TOPIC": kafka.rejected_topic,
        "LEDGER_PARKED_TOPIC": kafka.parked_topic,
        "LEDGER_PARTITIONS": str(kafka.partitions),
        "LEDGER_POSTGRES_DSN": dsn,
        "LEDGER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LEDGER_AUDIT_KEY_FILE": str(keys / "audit.key"),
        "LEDGER_AUDIT_PUBLIC_KEYS": str(keys / "audit-public-keys"),
        "LEDGER_OFFICE_PUBLIC_KEYS": str(keys / "office-public-keys"),
        "LEDGER_DATA_DIR": str(keys),
    }
    cli(env, "audit", "keygen")
    cli({**env, "LEDGER_OFFICE_KEY_FILE": str(keys / "office.key")}, "keys", "office-keygen")
    return env


class Offsets:
    """The intake group's committed offsets against the intake topic's end offsets."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        # Assigned, never subscribed: it reads the group's offsets without joining it.
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=INTAKE_GROUP,
                                      enable_auto_commit=False)

    def ends(self) -> dict[TopicPartition, int]:
        return dict(self.consumer.end_offsets(self.partitions))

    def all_committed(self) -> bool:
        ends = self.ends()
        return all((self.consumer.committed(p) or -1) >= ends[p] for p in self.partitions)

    def close(self) -> None:
        self.consumer.close()


def wait_until_recorded(instances: Sequence[Instance], offsets: Offsets, acts: int,
                        changed: threading.Event) -> float:
    """When every act was recorded: the batch line that made the counts add up to
    ``acts`` (confirmed on the broker), else the broker check that found it (each second,
    in case the counts never add up). Never a fixed sleep; fails if a process exits."""
    started = time.monotonic()
    checked_at = started
    while True:
        changed.wait(timeout=0.25)
        changed.clear()
        for n, instance in enumerate(instances):
            if instance.process.poll() is not None:
                raise SystemExit(f"instance {n} exited with {instance.process.returncode} "
                                 f"before every act was recorded:\n{instance.stderr_tail()}")
            if instance.rejected():
                raise SystemExit(f"instance {n} rejected or parked bench acts")
        if sum(instance.recorded() for instance in instances) >= acts and \
                offsets.all_committed():
            return max(at for instance in instances for at, _ in instance.batches())
        now = time.monotonic()
        if now - checked_at >= 1.0:
            checked_at = now
            if offsets.all_committed():
                return time.monotonic()
        if now - started > DONE_TIMEOUT_S:
            raise SystemExit(f"not every act was recorded within {DONE_TIMEOUT_S:.0f} s")


def scenario(bootstrap: str, admin_dsn: str, acts: int, partitions: int, processes: int, *,
             batch_size: int, broker: Sequence[int], postgres: Sequence[int]
             ) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:12]
    kafka = KafkaSettings(bootstrap_servers=bootstrap, ledger_topic=f"bench-ledger-{tag}",
                          intake_topic=f"bench-intake-{tag}",
                          rejected_topic=f"bench-rejected-{tag}",
                          parked_topic=f"bench-parked-{tag}", partitions=partitions)
    with fresh_database(admin_dsn) as dsn, tempfile.TemporaryDirectory() as work:
        ensure_topics(bootstrap, required_topic_specs(kafka))
        log(f"{processes} process(es): producing {acts} acts to {partitions} intake "
            "partitions ...")
        produce_acts(bootstrap, kafka.intake_topic, acts, WORKLOAD)
        keys = Path(work) / "shared"
        keys.mkdir(mode=0o700)
        env = shared_env(bootstrap, dsn, kafka, keys)
        offsets = Offsets(bootstrap, kafka.intake_topic, partitions)
        per_partition = [offsets.ends()[p] for p in offsets.partitions]
        if sum(per_partition) != acts:
            raise SystemExit(f"the intake topic holds {sum(per_partition)} acts, not {acts}")

        changed = threading.Event()
        instances: list[Instance] = []
        sampler: Sampler | None = None
        try:
            log(f"{processes} process(es): starting `ledger serve --group` ...")
            sampler = Sampler(broker, postgres)
            first = sampler.baseline(processes)
            instances = [start_instance(env, Path(work) / f"instance-{n}", batch_size, changed)
                         for n in range(processes)]
            sampler.watch([i.process.pid for i in instances])
            done_at = wait_until_recorded(instances, offsets, acts, changed)
            sampler.sample()
            sampler.stop()
            stop_instances(instances)
        finally:
            if sampler is not None:
                sampler.stop()
            kill_instances(instances)
            offsets.close()
        for n, instance in enumerate(instances):
            if instance.process.returncode != 0:
                log(f"instance {n} exited with {instance.process.returncode} after the "
                    f"run:\n{instance.stderr_tail()}")
    return summarise(instances, sampler, first=first, done_at=done_at, acts=acts,
                     per_partition=per_partition)


def summarise(instances: Sequence[Instance], sampler: Sampler, *, first: Sample,
              done_at: float, acts: int, per_partition: list[int]) -> dict[str, Any]:
    started = first.at
    wall = done_at - started
    done = sampler.at(done_at)
    batches = sorted((at, n, line) for n, instance in enumerate(instances)
                     for at, line in instance.batches())
    firsts = [min(at for at, _ in instance.batches()) for instance in instances
              if instance.batches()]
    assigned = [at for instance in instances for at, line in instance.lines
                if line.get("assigned")]

    def cores(key: str, a: Sample, b: Sample, seconds: float) -> float | None:
        x, y = getattr(a, key), getattr(b, key)
        return None if x is None or y is None else round((y - x) / seconds, 3)

    def shares(a: Sample, b: Sample, seconds: float) -> dict[str, Any]:
        serve = [(y - x) / seconds for x, y in zip(a.serve, b.serve, strict=True)]
        machine, irq = (b.machine - a.machine) / seconds, (b.irq - a.irq) / seconds
        known = [sum(serve), (b.bench - a.bench) / seconds, irq]
        known += [c for c in (cores("broker", a, b, seconds), cores("postgres", a, b, seconds))
                  if c is not None]
        return {"cpu_share": [round(s, 3) for s in serve],
                "broker_cores": cores("broker", a, b, seconds),
                "postgres_cores": cores("postgres", a, b, seconds),
                "bench_cores": cores("bench", a, b, seconds),
                "irq_cores": round(irq, 3),
                "machine_busy_cores": round(machine, 3),
                "other_cores": round(machine - sum(known), 3)}

    result: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "acts_per_s": round(acts / wall),
        "cpu_s": [round(y - x, 2) for x, y in zip(first.serve, done.serve, strict=True)],
        **shares(first, done, wall),
        "cpu_total_s": [None if i.rusage_cpu_s is None else round(i.rusage_cpu_s, 2)
                        for i in instances],
        "first_assigned_s": round(min(assigned) - started, 3) if assigned else None,
        "first_recorded_s": round(min(firsts) - started, 3) if firsts else None,
        "recorded": [instance.recorded() for instance in instances],
        "shards": [instance.serving() for instance in instances],
        # Each process's assignment changes (assigned, revoked, lost), as it printed them.
        "group_changes": [[{"at_s": round(at - started, 3), **line}
                           for at, line in instance.lines if "serving" in line]
                          for instance in instances],
        "batches": len(batches),
        "acts_per_partition": per_partition,
        "exit_codes": [instance.process.returncode for instance in instances],
    }
    if len(firsts) == len(instances):
        steady_from = max(firsts)
        steady_acts = sum(line["recorded"] for at, _, line in batches if at > steady_from)
        seconds = done_at - steady_from
        if seconds > 0 and steady_acts:
            result["steady"] = {
                "from_s": round(steady_from - started, 3), "seconds": round(seconds, 3),
                "acts": steady_acts, "acts_per_s": round(steady_acts / seconds),
                **shares(sampler.at(steady_from), done, seconds)}
    return result


def warm_broker(bootstrap: str) -> None:
    """A transaction and a group offset commit on a throwaway topic, so the broker's
    internal topics (``__transaction_state``, ``__consumer_offsets``, made on first use)
    exist before the first scenario: that one-off cost belongs to neither of them."""
    topic = f"bench-warm-{uuid.uuid4().hex[:12]}"
    ensure_topics(bootstrap, [TopicSpec(topic, 1, 1)])
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic)
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, b"warm")
    producer.commit_transaction()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=topic,
                             enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.commit({partition: OffsetAndMetadata(1, "", -1)})
    consumer.close()


def measure_scale_out(bootstrap: str, dsn: str, acts: int, partitions: int, *,
                      batch_size: int = 500) -> dict[str, Any]:
    """One `ledger serve --group` process against two on the broker at ``bootstrap`` and
    the PostgreSQL server at ``dsn`` (a fresh database is made there per scenario). The
    CPU of the broker and of PostgreSQL is measured if they are children of this process
    (started by ``bench_kafka.broker`` and ``postgres``), else reported as None."""
    broker, server = children_running(b"java"), children_running(b"postgres")
    warm_broker(bootstrap)
    one = scenario(bootstrap, dsn, acts, partitions, 1, batch_size=batch_size,
                   broker=broker, postgres=server)
    two = scenario(bootstrap, dsn, acts, partitions, 2, batch_size=batch_size,
                   broker=broker, postgres=server)
    result: dict[str, Any] = {
        "acts": acts, "partitions": partitions, "workload": WORKLOAD,
        "batch_size": batch_size, "one": one, "two": two,
        "scale_out_2x": round(two["acts_per_s"] / one["acts_per_s"], 3),
        "cores": os.cpu_count(),
    }
    if "steady" in one and "steady" in two:
        result["steady_scale_out_2x"] = round(
            two["steady"]["acts_per_s"] / one["steady"]["acts_per_s"], 3)
    return result


def run(acts: int, partitions: int, batch_size: int) -> dict[str, Any]:
    with broker() as bootstrap, postgres() as dsn:
        return measure_scale_out(bootstrap, dsn, acts, partitions, batch_size=batch_size)


def describe(name: str, part: dict[str, Any], out: IO[str]) -> None:
    shares = ", ".join(f"{s:.2f}" for s in part["cpu_share"])
    out.write(f"{name}: {part['acts_per_s']:,} acts/s ({part['wall_s']:.2f} s wall; first "
              f"act recorded after {part['first_recorded_s']} s); CPU {part['cpu_s']} s "
              f"= {shares} of a core each; broker {part['broker_cores']}, PostgreSQL "
              f"{part['postgres_cores']}, interrupts {part['irq_cores']}, anything else "
              f"{part['other_cores']}; machine busy {part['machine_busy_cores']} cores\n")
    steady = part.get("steady")
    if steady:
        shares = ", ".join(f"{s:.2f}" for s in steady["cpu_share"])
        out.write(f"  steady ({steady['acts']:,} acts in {steady['seconds']:.2f} s): "
                  f"{steady['acts_per_s']:,} acts/s; CPU {shares} of a core each; broker "
                  f"{steady['broker_cores']}, PostgreSQL {steady['postgres_cores']}, "
                  f"interrupts {steady['irq_cores']}, anything else {steady['other_cores']}; "
                  f"machine busy {steady['machine_busy_cores']} cores\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--acts", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500,
                        help="acts per transaction (`ledger serve`'s default)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.acts, args.partitions, args.batch_size)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['acts']:,} acts ({result['workload']}) on {result['partitions']} intake "
          f"partitions, {result['cores']} cores")
    describe("one process", result["one"], sys.stdout)
    describe("two processes", result["two"], sys.stdout)
    print(f"scale_out_2x: {result['scale_out_2x']}"
          + (f" (steady part: {result['steady_scale_out_2x']})"
             if "steady_scale_out_2x" in result else ""))


if __name__ == "__main__":
    main()
