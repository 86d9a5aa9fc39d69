"""One refusal vocabulary: every rule the code can give is kebab-case and documented.

The rules are found by reading the source (every ``PolicyViolation("rule", ...)``, every
error class's ``rule``, every ``rule=`` and ``"rule":`` given a literal, every
``*_RULE`` constant), so a rule added anywhere without a README entry fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ledger.errors import (
    ConflictingWrite,
    InvalidAct,
    KeyStoreError,
    PolicyViolation,
    UnknownSubject,
)
from ledger.refusals import INTERNAL_ERROR_RULE, is_refusal, is_rule_name, refusal_of

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "projections", "consumers")


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def rules_in(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            if getattr(node.func, "id", None) == "PolicyViolation" and node.args:
                found.add(_literal(node.args[0]) or "")
            found |= {_literal(k.value) or "" for k in node.keywords if k.arg == "rule"}
        elif isinstance(node, ast.ClassDef):
            found |= {_literal(k.value) or "" for k in node.keywords if k.arg == "rule"}
        elif isinstance(node, ast.Dict):
            found |= {_literal(v) or "" for k, v in zip(node.keys, node.values, strict=True)
                      if _literal(k) == "rule"}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = getattr(target, "id", "")
                if name == "rule" or name.endswith("_RULE"):
                    found.add(_literal(node.value) or "")
    return found - {""}


def code_rules() -> dict[str, list[str]]:
    where: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for rule in rules_in(path.read_text("utf-8")):
                where.setdefault(rule, []).append(str(path.relative_to(ROOT)))
    return where


def readme_rules() -> set[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    section = re.split(r"\n##+ ", text.split("### Rules and refusals", 1)[1], maxsplit=1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE))


def test_the_walker_finds_rules_of_every_kind() -> None:
    """Positive control: each way of naming a rule in the source is seen."""
    source = '''
PolicyViolation("consent-required", "x")
class E(LedgerError, rule="key-destroyed"):
    pass
class G(LedgerError):
    rule = "key-store-error"
class F(Exception):
    rule: str = "ledger-error"
Verdict(1, rule="no-answer")
held = {"rule": "legal-hold"}
NO_ANSWER_RULE = "no-answer-2"
'''
    assert rules_in(source) == {"consent-required", "key-destroyed", "key-store-error",
                                "ledger-error", "no-answer", "legal-hold", "no-answer-2"}


def test_the_code_gives_the_rules_it_is_known_to_give() -> None:
    found = code_rules()
    for rule in ("consent-required", "restricted", "invalid-act", "unknown-subject",
                 "unknown-purpose", "duplicate-act", "internal-error", "no-answer",
                 "legal-hold", "writer-fenced", "projection-failed"):
        assert rule in found, rule


def test_every_rule_is_kebab_case() -> None:
    bad = {rule: files for rule, files in code_rules().items() if not is_rule_name(rule)}
    assert bad == {}


def test_every_rule_the_code_gives_is_in_the_readme_table_and_nothing_else() -> None:
    documented, given = readme_rules(), set(code_rules())
    assert documented, "the README's rule table was not found"
    assert sorted(given - documented) == [], "rules missing from the README"
    assert sorted(documented - given) == [], "README rules no code gives"


@pytest.mark.parametrize(("error", "rule", "reason"), [
    (PolicyViolation("consent-required", "purpose 'x' needs live consent first"),
     "consent-required", "purpose 'x' needs live consent first"),
    (InvalidAct("must be of type string", field="values.name"), "invalid-act",
     "values.name: must be of type string"),
    (UnknownSubject("no data subject 1"), "unknown-subject", "no data subject 1"),
    (ConflictingWrite("a concurrent act"), "conflicting-write", "a concurrent act"),
])
def test_refusal_of_gives_the_rule_and_the_reason(error: Exception, rule: str,
                                                  reason: str) -> None:
    refusal = refusal_of(error)
    assert (refusal.rule, refusal.reason) == (rule, reason)


def test_an_unexpected_error_is_reported_by_its_type_never_its_message() -> None:
    refusal = refusal_of(ValueError("jan@example.nl is not a phone number"))
    assert (refusal.rule, refusal.reason) == (INTERNAL_ERROR_RULE, "ValueError")


def test_only_verdicts_on_the_act_are_refusals() -> None:
    assert is_refusal(PolicyViolation("restricted", "x"))
    assert is_refusal(InvalidAct("x"))
    assert is_refusal(UnknownSubject("x"))
    assert not is_refusal(KeyStoreError("the store is gone"))
    assert not is_refusal(ConflictingWrite("x"))
    assert not is_refusal(RuntimeError("x"))


def test_a_schema_invalid_act_names_its_act_id_when_it_has_the_form_of_one() -> None:
    from ledger.intake.acts import parse_act

    with pytest.raises(InvalidAct) as caught:
        parse_act(b'{"act_id": "crm-17", "type": "consent-given"}')
    assert refusal_of(caught.value).act_id == "crm-17"
    with pytest.raises(InvalidAct) as caught:
        parse_act(b'{"act_id": "jan@example.nl", "type": "consent-given"}')
    assert refusal_of(caught.value).act_id is None
