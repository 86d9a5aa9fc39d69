"""The README matches what the intake accepts and what each rule refuses (art. 5(2):
the controller must be able to show how acts are judged; its handbook must be right)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "ledger" / "intake" / "act-schema.json").read_text("utf-8"))
README = (ROOT / "README.md").read_text("utf-8")
OFFICE_ACTS = {"erasure-carried-out", "retention-expired", "legal-hold-released",
               "restriction-lifted"}


def accepted_types() -> set[str]:
    types: set[str] = set(SCHEMA["properties"]["type"]["enum"])
    return types


def intake_section() -> str:
    return README.split("### The intake format", 1)[1].split("\n### ", 1)[0]


def rules_section() -> str:
    return README.split("### Rules and refusals", 1)[1].split("\n### ", 1)[0]


def test_art_5_2_the_readme_lists_every_act_type_the_intake_accepts() -> None:
    listed = dict(re.findall(r"^\| `([a-z-]+)` \| (upstream|privacy office) \|",
                             intake_section(), flags=re.MULTILINE))
    assert set(listed) == accepted_types()
    assert {t for t, who in listed.items() if who == "privacy office"} == OFFICE_ACTS


def test_art_5_2_the_readme_names_the_acts_behind_every_refusal_of_an_act() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]+) \| [^|]+ \|$", rules_section(),
                      flags=re.MULTILINE)
    assert len(rows) >= 40
    known = accepted_types()
    for rule, acts in rows:
        named = set(re.findall(r"`([a-z-]+)`", acts))
        assert named <= known, (rule, named - known)
        assert named or acts.startswith("any"), rule
    by_rule = dict(rows)
    assert by_rule["legal-basis-not-allowed"] == "`data-collected`"
    assert set(re.findall(r"`([a-z-]+)`", by_rule["office-signature-required"])) == (
        OFFICE_ACTS)
