"""Roles, route groups, and which role may use which group: enforced for every route.

| route group | upstream | auditor | dsar-handler | admin |
|---|---|---|---|---|
| health, OpenAPI (``public``, ``docs``) | yes | yes | yes | yes |
| ``POST /v1/acts`` (``acts``) | yes | no | yes | yes |
| audit trail, registers, retention, access log (``oversight``) | no | yes | yes | yes |
| DSAR queue (``queue``) | no | yes | yes | yes |
| subject view and export with values (``values``) | no | no | yes | yes |
| office acts (``office``) | no | no | yes | yes |
| tokens (``tokens``) | no | no | no | yes |

``public`` routes (health, the sign-in page, static assets) need no token at all.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    UPSTREAM = "upstream"
    AUDITOR = "auditor"
    DSAR_HANDLER = "dsar-handler"
    ADMIN = "admin"


class Group(StrEnum):
    PUBLIC = "public"
    DOCS = "docs"
    ACTS = "acts"
    OVERSIGHT = "oversight"
    QUEUE = "queue"
    VALUES = "values"
    OFFICE = "office"
    TOKENS = "tokens"


_EVERYONE = frozenset(Role)
_STAFF = frozenset({Role.AUDITOR, Role.DSAR_HANDLER, Role.ADMIN})
_HANDLERS = frozenset({Role.DSAR_HANDLER, Role.ADMIN})

MATRIX: dict[Group, frozenset[Role]] = {
    Group.PUBLIC: _EVERYONE,
    Group.DOCS: _EVERYONE,
    Group.ACTS: frozenset({Role.UPSTREAM, Role.DSAR_HANDLER, Role.ADMIN}),
    Group.OVERSIGHT: _STAFF,
    Group.QUEUE: _STAFF,
    Group.VALUES: _HANDLERS,
    Group.OFFICE: _HANDLERS,
    Group.TOKENS: frozenset({Role.ADMIN}),
}
# Roles whose office acts the console signs with the office key it holds.
SIGNING_ROLES = _HANDLERS


def allowed(group: Group, role: Role | None) -> bool:
    if group is Group.PUBLIC:
        return True
    return role is not None and role in MATRIX[group]
