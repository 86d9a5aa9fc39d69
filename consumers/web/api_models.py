"""Request bodies of the ``/v1`` API, and the office-act body's schema from the intake's.

Identifiers have the intake's forms (no spaces, no '@'), so no personal value can pass
as a case reference or a request reference. Look-up values travel only in bodies.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from consumers.access.purposes import ACCESS_PURPOSES, CASE_REF_PATTERN
from consumers.services.office_acts import HANDLER_ACT_TYPES
from consumers.web.roles import Role
from consumers.web.tokens import NAME_PATTERN
from ledger.intake.acts import act_schema

REF_PATTERN = CASE_REF_PATTERN  # the intake's identifier form
CODE_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Why(Strict):
    """Why values are opened: recorded in the access log with who and when."""

    case_ref: str = Field(pattern=REF_PATTERN, description="the case (an identifier)")
    purpose: str = Field(json_schema_extra={"enum": list(ACCESS_PURPOSES)},
                         description="; ".join(f"{k}: {v}" for k, v in ACCESS_PURPOSES.items()))

    @field_validator("purpose")
    @classmethod
    def _known(cls, purpose: str) -> str:
        if purpose not in ACCESS_PURPOSES:
            raise ValueError(f"one of {', '.join(ACCESS_PURPOSES)}")
        return purpose


class ExportRequest(Why):
    format: Literal["json", "html"] = "json"


class Lookup(Strict):
    """Exactly one of ``email`` and ``phone``: a look-up value goes in a body, never a URL."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> Lookup:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give exactly one of email and phone")
        return self


class ErasureRequest(Strict):
    request_ref: str = Field(pattern=REF_PATTERN)
    channel: str = Field(default="email", pattern=CODE_PATTERN)


class TokenRequest(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    role: Literal["upstream", "auditor", "dsar-handler", "admin"]


assert {r.value for r in Role} == {"upstream", "auditor", "dsar-handler", "admin"}  # noqa: S101


def _portable(schema: Any) -> Any:
    """The intake schema's patterns end in ``$(?!\\n)`` (Python's ``$`` accepts a final
    newline); OpenAPI tools read ``$`` as the end, so the guard is left out there."""
    if isinstance(schema, dict):
        return {k: (re.sub(r"\(\?!\\n\)$", "", v) if k == "pattern" and isinstance(v, str)
                    else _portable(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_portable(v) for v in schema]
    return schema


@cache
def office_act_schema() -> dict[str, Any]:
    """One branch per act a DSAR handler records: the intake's fields for it, less the
    ones the server fills in (act id, subject, actor, moment, signature)."""
    definitions = act_schema()["$defs"]
    branches = []
    for act_type in HANDLER_ACT_TYPES:
        branch = definitions[act_type]
        properties = {k: v for k, v in branch["properties"].items()
                      if k != "office_signature"}
        branches.append({
            "type": "object", "title": act_type, "description": branch.get("description"),
            "required": ["type", *branch["required"]],
            "properties": {"type": {"type": "string", "enum": [act_type]}, **properties},
            "additionalProperties": False,
        })
    return {"oneOf": _portable(branches)}
