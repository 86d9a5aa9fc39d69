"""The compiled fast check and the thorough validator must give every act one verdict.

Intake accepts on the fast check alone, so a document it passes that the shipped
schema refuses would be let in unchecked. The corpus is the demo's acts (every kind
of act it tells) and mutations of them: values of other types and lengths, fields
removed and fields added, at any depth.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.demo import Scenario
from ledger.errors import InvalidAct
from ledger.intake.acts import (
    _error_order,
    _invalid,
    _validator,
    act_schema,
    explain_invalid,
    is_valid_act,
)
from tests.unit.document_paths import mutate

DEMO_ACTS = [step.act for step in Scenario().steps() if step.act is not None]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(["", "x" * 300, "contact", "2025-01-01"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)


def test_the_corpus_holds_valid_acts_of_many_types() -> None:
    assert all(is_valid_act(act) and _validator().is_valid(act) for act in DEMO_ACTS)
    assert len({act["type"] for act in DEMO_ACTS}) >= 8
    # A wrong verdict must be possible: an unknown type fails both.
    assert not is_valid_act({**DEMO_ACTS[0], "type": "made-up"})


@settings(max_examples=400, deadline=None)
@given(data=st.data(), act_index=st.integers(0, len(DEMO_ACTS) - 1),
       mutation=st.sampled_from(["replace", "delete", "add"]))
def test_fast_and_thorough_verdicts_agree(data: st.DataObject, act_index: int,
                                          mutation: str) -> None:
    document = copy.deepcopy(DEMO_ACTS[act_index])
    mutate(data, document, mutation, json_values, [*act_schema()["properties"], "colour"])
    assert is_valid_act(document) == _validator().is_valid(document)


def _whole_schema_reason(document: Any) -> str:
    """What the whole-schema validator said before refusals were explained per
    property: the reference the cheap explanation is held to."""
    errors = sorted(_validator().iter_errors(document), key=_error_order)
    return str(_invalid(errors[0]))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), act_index=st.integers(0, len(DEMO_ACTS) - 1),
       mutations=st.lists(st.sampled_from(["replace", "delete", "add"]), min_size=1,
                          max_size=3))
def test_the_cheap_explanation_names_what_the_whole_schema_names(
        data: st.DataObject, act_index: int, mutations: list[str]) -> None:
    document = copy.deepcopy(DEMO_ACTS[act_index])
    known = [*act_schema()["properties"], "colour", "purpose", "values"]
    for mutation in mutations:
        if not mutate(data, document, mutation, json_values, known):
            break
    if is_valid_act(document):
        return
    explained = explain_invalid(document)
    assert isinstance(explained, InvalidAct)
    assert str(explained) == _whole_schema_reason(document)
