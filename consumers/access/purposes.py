"""Why someone may open a subject's values: a short list, and the case reference form.

The policy file has no field for these (checked against ``ledger/policy/`` when this was
written), so the list lives here; a purpose is a code, its description says it in words
for the forms and the subject's report.
"""

from __future__ import annotations

import re

from ledger.errors import ConfigurationError, check_form

ACCESS_PURPOSES: dict[str, str] = {
    "subject-request": "answering a request of the data subject (GDPR art. 15-22)",
    "complaint": "handling a complaint of the subject or the supervisory authority",
    "legal-obligation": "a legal obligation (a court order, a regulator's inquiry)",
    "legal-claim": "establishing, exercising or defending a legal claim",
    "data-quality": "checking or correcting the data held (rectification)",
}
# What the command line records when the operator gives no purpose or case: honest
# about not knowing, rather than claiming one of the purposes above.
OPERATOR_PURPOSE = "operator-cli"
OPERATOR_CASE = "operator-cli"
ALL_PURPOSES: dict[str, str] = {
    **ACCESS_PURPOSES,
    OPERATOR_PURPOSE: "read by an operator on the ledger's host, no purpose given",
}
# A case reference is an identifier, like the intake's references: no spaces, no '@',
# so it cannot be a personal value.
CASE_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
_CASE_REF = re.compile(CASE_REF_PATTERN.removesuffix("$"))


def check_case_ref(case_ref: str) -> str:
    return check_form(case_ref, _CASE_REF, "a case reference is 1 to 128 letters, digits "
                      "and ._:/- (no spaces, no '@'): an identifier, never a personal value")


def check_purpose(purpose: str) -> str:
    if purpose not in ALL_PURPOSES:
        raise ConfigurationError(f"the purpose must be one of {', '.join(ALL_PURPOSES)}")
    return purpose
