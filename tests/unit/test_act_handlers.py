"""Each act type's handler passes exactly the fields its schema allows, under the names
its command takes: a misspelt or missing field would fail only when such an act came."""

from __future__ import annotations

import inspect

import pytest

from ledger.application import LedgerApplication
from ledger.crypto.office_signing import SIGNATURE_FIELD
from ledger.domain.subject import DataSubject
from ledger.intake.acts import HANDLERS, act_schema

# The fields of every act (act_id, type, subject_id, ...), and the office's signature,
# which apply_act checks before any handler runs.
NOT_PASSED = {*act_schema()["properties"], SIGNATURE_FIELD}
# Fields an act carries that its command does not take, each for a stated reason. An
# erasure carried out names the channel the request came by; the request, recorded
# first (erasure-requested), holds it already, and the act's digest covers it.
NOT_TAKEN = {"erasure-carried-out": {"channel"}}


def keyword_names(command: str) -> set[str]:
    """The keyword arguments ``LedgerApplication.command`` takes; for a command made from
    a subject's act (``_command``), those of that ``DataSubject`` method."""
    method = getattr(LedgerApplication, command)
    parameters = inspect.signature(method).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        parameters = inspect.signature(getattr(DataSubject, method.__name__)).parameters
    return {name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}


def test_every_act_type_of_the_schema_has_a_handler_and_no_other() -> None:
    assert set(HANDLERS) == set(act_schema()["$defs"])


@pytest.mark.parametrize("act_type", sorted(HANDLERS))
def test_the_handler_passes_the_schema_fields_as_the_command_names_them(
        act_type: str) -> None:
    handler = HANDLERS[act_type]
    branch = act_schema()["$defs"][act_type]
    fields = set(branch["properties"]) - NOT_PASSED - NOT_TAKEN.get(act_type, set())
    passed = {*handler.fields, *handler.optional}
    assert passed == fields
    assert set(handler.fields) <= set(branch["required"])  # only required ones by name
    assert set(handler.optional).isdisjoint(branch["required"])
    assert passed <= keyword_names(handler.command)


def test_a_handler_naming_a_command_the_application_lacks_is_refused_at_import() -> None:
    from ledger.intake import acts

    with pytest.raises(TypeError, match="no command"):
        acts._handler_for("collect_datta", "purpose")
