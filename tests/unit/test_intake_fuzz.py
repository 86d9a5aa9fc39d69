"""Fuzzing the intake: whatever a line holds, it gets a verdict, never a value in it, and
every view still reads afterwards.

Lines are random JSON documents (unicode, control characters, lone surrogates, huge
numbers, deep nesting), the demo's valid acts, and mutations of them: fields replaced,
removed or added, strings given a trailing newline or control characters, dates at the
edges of the accepted range and of what a ``datetime`` holds, malformed identities,
keys given twice, bytes cut off or inserted. Canary strings are planted in personal
values and unsafe field names; the canary has a space and an "@", so it can never have
the form of an id, a reference or a name that a verdict may quote.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.composition import open_embedded
from consumers.demo import Scenario
from consumers.services.ports import Backend
from consumers.services.recording import record_lines
from ledger.config import Settings
from ledger.errors import UnknownSubject
from ledger.refusals import INTERNAL_ERROR_RULE, is_rule_name
from tests.unit import document_paths
from tests.unit.test_refusal_vocabulary import code_rules

CANARY = "CANARY 7f3a@example.nl"
CANARY_MARK = "7f3a"
VOCABULARY = set(code_rules())

EDGE_DATES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "2199-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "2025-06-30T23:59:60Z",
    "2024-02-29T12:00:00+23:59", "2025-02-29T12:00:00Z", "2025-03-03T09:00:00.999999Z",
    "2025-03-03T09:00:00-00:00", "2025-03-03T09:00:00Z\n", "2025-03-03", "२०२५-03-03T09:00:00Z",
]
SPECIAL_STRINGS = [
    CANARY, "", " ", "n/a", "not an email", "x" * 300, "contact", "service-delivery",
    "name", "business-email", "\x00", "\u2028", "\ud800", "crm\n", "crm\r\n", "ẞ",
    f"{CANARY}\n", "+31 20 555 0101", "a@b.nl",
]

text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF),
               max_size=12)
leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
          | text | st.sampled_from(SPECIAL_STRINGS + EDGE_DATES))
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(text | st.sampled_from([CANARY, "values", "act_id"]), inner,
                      max_size=3),
    max_leaves=8,
)


def dumps(document: Any) -> bytes:
    """JSON text as an upstream system might send it: stdlib ``json`` writes huge ints,
    NaN and lone surrogates, which orjson would not."""
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")


def planted(act: dict[str, Any]) -> dict[str, Any]:
    """The act with a canary in every personal value that is not an identity (whose
    form is checked: a canary there is refused, which the mutations try)."""
    act = copy.deepcopy(act)
    if isinstance(act.get("values"), dict):
        for category, value in act["values"].items():
            if category not in ("business-email", "business-phone"):
                act["values"][category] = f"{CANARY} {value}"
    return act


# One scenario for every example (hypothesis must draw from the same acts each time);
# each example records into a ledger of its own.
ACTS = [planted(step.act) for step in Scenario().steps() if step.act is not None]


def _mutate_once(draw: st.DrawFn, document: dict[str, Any], kind: str) -> None:
    if kind == "date":
        document["occurred_at"] = draw(st.sampled_from(EDGE_DATES))
    elif kind == "identity" and isinstance(document.get("values"), dict):
        category = draw(st.sampled_from(["business-email", "business-phone"]))
        document["values"][category] = draw(st.sampled_from(SPECIAL_STRINGS) | text)
    elif kind == "add":
        target = document
        if isinstance(document.get("values"), dict) and draw(st.booleans()):
            target = document["values"]
        key = draw(st.sampled_from([CANARY, "colour", "purpose", "values", "act_id"]) | text)
        target[key] = draw(json_values)
    elif found := document_paths.paths(document):
        path = draw(st.sampled_from(found))
        parent = document_paths.parent(document, path)
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "suffix" and isinstance(parent[path[-1]], str):
            parent[path[-1]] += draw(st.sampled_from(["\n", "\r", "\x00", "\t", " "]))
        else:
            parent[path[-1]] = draw(json_values)


def _mutate_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    at = draw(st.integers(0, len(raw)))
    cut = draw(st.sampled_from(["truncate", "insert", "duplicate"]))
    if cut == "truncate":
        return raw[:at]
    if cut == "insert":
        return raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    key = draw(st.sampled_from(["act_id", "purpose", CANARY, "type"]))
    return raw[:-1] + b"," + dumps(key) + b":" + dumps(draw(json_values)) + b"}"


@st.composite
def mutated(draw: st.DrawFn, act: dict[str, Any]) -> bytes:
    """``act`` changed one to three times, field by field; then perhaps its bytes."""
    document = copy.deepcopy(act)
    kinds = ["replace", "delete", "add", "date", "suffix", "identity"]
    for _ in range(draw(st.integers(1, 3))):
        _mutate_once(draw, document, draw(st.sampled_from(kinds)))
    raw = dumps(document)
    return _mutate_bytes(draw, raw) if draw(st.booleans()) else raw


def deep(depth: int) -> bytes:
    return b'{"act_id": "deep-1", "x": ' + b"[" * depth + b"]" * depth + b"}"


@contextmanager
def fresh_ledger() -> Iterator[Backend]:
    with tempfile.TemporaryDirectory() as data_dir, \
            open_embedded(Settings(data_dir=Path(data_dir))) as backend:
        yield backend


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_line_gets_a_verdict_without_a_value_and_every_view_still_reads(
        data: st.DataObject) -> None:
    prefix = data.draw(st.integers(0, len(ACTS)))
    lines = [orjson.dumps(act) for act in ACTS[:prefix]]  # valid acts, so subjects exist
    lines += data.draw(st.lists(
        st.sampled_from(ACTS).flatmap(mutated)
        | json_values.map(dumps)
        | st.sampled_from(ACTS).map(orjson.dumps)
        | st.sampled_from([1, 15, 17, 500, 1100]).map(deep),
        min_size=1, max_size=6))
    with fresh_ledger() as backend:
        check_verdicts_and_views(backend, lines)


def check_verdicts_and_views(backend: Backend, lines: list[bytes]) -> None:
    verdicts = list(record_lines(backend, lines, wait_s=0))

    assert [v.line for v in verdicts] == sorted(v.line for v in verdicts)
    assert len(verdicts) == sum(1 for line in lines if line.strip())
    for verdict in verdicts:
        assert verdict.status in ("recorded", "duplicate", "rejected"), verdict
        if verdict.status != "recorded":
            assert verdict.rule is not None, verdict
            assert is_rule_name(verdict.rule), verdict
            assert verdict.rule in VOCABULARY
            assert verdict.rule != INTERNAL_ERROR_RULE
        shown = f"{verdict.act_id} {verdict.rule} {verdict.reason}"
        assert CANARY_MARK not in shown, verdict
        assert "CANARY" not in shown, verdict

    subjects: set[UUID] = set()
    for verdict in verdicts:
        if verdict.status == "recorded":
            subjects.add(UUID(orjson.loads(lines[verdict.line - 1])["subject_id"]))
    subjects |= {UUID(act["subject_id"]) for act in ACTS}
    with backend.reading() as reader:
        for subject in subjects:
            try:
                reader.subject_view(subject)
                reader.export(subject)
            except UnknownSubject:
                continue  # never recorded: every act about it was refused
        reader.registers()
