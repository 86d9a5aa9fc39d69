"""The privacy policy as data: purposes, categories, legal bases, retention, recipients.

A ``Policy`` is built from a plain mapping (the loader in ``ledger.policy`` reads it from
TOML) and validated as a whole: a malformed policy fails with a ``PolicyError`` whose
message gives the path to the bad entry, so a policy author can fix it without guessing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from ledger.domain.durations import Duration, parse_duration
from ledger.errors import PolicyError, PolicyViolation

LEGAL_BASES = frozenset(
    # GDPR art. 6(1) (a)-(f).
    {
        "consent",
        "contract",
        "legal-obligation",
        "vital-interests",
        "public-task",
        "legitimate-interest",
    }
)
RETENTION_TRIGGERS = frozenset(
    {
        "contract-ended",  # "totdat de termijn van de overeenkomst is verstreken"
        "purpose-fulfilled",  # "een redelijke termijn nadat het doeleinde is voltooid"
        "collected",  # a fixed period from collection (cookie policy)
        "fiscal-year-end",  # fiscal law counts from the end of the year of the record
    }
)
Role = Literal["controller", "processor"]
Requirement = Literal["required", "optional"]


@dataclass(frozen=True)
class Category:
    key: str
    label_nl: str
    label_en: str
    scope: str


@dataclass(frozen=True)
class RetentionScope:
    key: str
    description: str
    # Set when the law itself keeps data in this scope; erasure requests keep it then.
    trigger: str | None = None
    period: Duration | None = None
    legal_reason: str | None = None

    @property
    def is_statutory(self) -> bool:
        return self.period is not None


@dataclass(frozen=True)
class RetentionRule:
    trigger: str
    period: Duration


@dataclass(frozen=True)
class Purpose:
    key: str
    section: str
    title_nl: str
    description: str
    role: Role
    legal_bases: frozenset[str]
    categories: Mapping[str, Requirement]
    retention: RetentionRule
    recipient_kinds: frozenset[str]

    @property
    def requires_consent(self) -> bool:
        """Consent is the only basis listed, so without live consent nothing may happen."""
        return self.legal_bases == frozenset({"consent"})


@dataclass(frozen=True)
class SharingGround:
    key: str
    description: str
    requires_consent: bool


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from: date
    controller: str
    source: str
    scopes: Mapping[str, RetentionScope]
    categories: Mapping[str, Category]
    purposes: Mapping[str, Purpose]
    recipient_kinds: Mapping[str, str]
    sharing_grounds: Mapping[str, SharingGround]
    transfer_kinds: frozenset[str]

    def purpose(self, key: str) -> Purpose:
        try:
            return self.purposes[key]
        except KeyError:
            raise PolicyViolation(
                "unknown-purpose", f"unknown purpose {key!r} in policy {self.version}; "
                f"known: {', '.join(sorted(self.purposes))}"
            ) from None

    def scope_of(self, category: str) -> str:
        return self.categories[category].scope

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        return _PolicyReader(data).read()


class _PolicyReader:
    """Validates a policy document, collecting the path of the entry being read."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def read(self) -> Policy:
        data = _table(self.data, "policy")
        _only(data, "policy", {
            "version", "effective_from", "controller", "source", "retention_scopes",
            "categories", "purposes", "recipient_kinds", "sharing_grounds", "transfer_kinds",
        })
        version = _text(data, "version", "policy")
        effective = _text(data, "effective_from", "policy")
        try:
            effective_from = date.fromisoformat(effective)
        except ValueError:
            raise PolicyError(f"policy.effective_from: not an ISO date: {effective!r}") from None
        scopes = {
            key: self._scope(key, _table(raw, f"retention_scopes.{key}"))
            for key, raw in _table(data.get("retention_scopes"), "retention_scopes").items()
        }
        categories = {
            key: self._category(key, _table(raw, f"categories.{key}"), scopes)
            for key, raw in _table(data.get("categories"), "categories").items()
        }
        recipient_kinds = {
            key: _str_value(raw, f"recipient_kinds.{key}")
            for key, raw in _table(data.get("recipient_kinds"), "recipient_kinds").items()
        }
        grounds = {
            key: self._ground(key, _table(raw, f"sharing_grounds.{key}"))
            for key, raw in _table(data.get("sharing_grounds"), "sharing_grounds").items()
        }
        purposes = {
            key: self._purpose(key, _table(raw, f"purposes.{key}"), categories, recipient_kinds)
            for key, raw in _table(data.get("purposes"), "purposes").items()
        }
        for name, table in (("purposes", purposes), ("categories", categories),
                            ("retention_scopes", scopes)):
            if not table:
                raise PolicyError(f"policy.{name}: must not be empty")
        transfer_kinds = _str_list(data.get("transfer_kinds", []), "transfer_kinds")
        return Policy(
            version=version,
            effective_from=effective_from,
            controller=_text(data, "controller", "policy"),
            source=_text(data, "source", "policy"),
            scopes=scopes,
            categories=categories,
            purposes=purposes,
            recipient_kinds=recipient_kinds,
            sharing_grounds=grounds,
            transfer_kinds=frozenset(transfer_kinds),
        )

    def _scope(self, key: str, raw: Mapping[str, Any]) -> RetentionScope:
        path = f"retention_scopes.{key}"
        _only(raw, path, {"description", "trigger", "period", "legal_reason"})
        period_text = raw.get("period")
        trigger = raw.get("trigger")
        legal_reason = raw.get("legal_reason")
        if (period_text is None) != (trigger is None) or (
            period_text is not None and legal_reason is None
        ):
            raise PolicyError(
                f"{path}: a statutory scope needs trigger, period and legal_reason together"
            )
        if trigger is not None:
            _check_known(trigger, RETENTION_TRIGGERS, f"{path}.trigger", "retention trigger")
        return RetentionScope(
            key=key,
            description=_text(raw, "description", path),
            trigger=trigger,
            period=_duration(period_text, f"{path}.period") if period_text else None,
            legal_reason=legal_reason,
        )

    def _category(
        self, key: str, raw: Mapping[str, Any], scopes: Mapping[str, RetentionScope]
    ) -> Category:
        path = f"categories.{key}"
        _only(raw, path, {"label_nl", "label_en", "scope"})
        scope = _text(raw, "scope", path)
        _check_known(scope, scopes, f"{path}.scope", "retention scope")
        return Category(
            key=key,
            label_nl=_text(raw, "label_nl", path),
            label_en=_text(raw, "label_en", path),
            scope=scope,
        )

    def _ground(self, key: str, raw: Mapping[str, Any]) -> SharingGround:
        path = f"sharing_grounds.{key}"
        _only(raw, path, {"description", "requires_consent"})
        requires_consent = raw.get("requires_consent", False)
        if not isinstance(requires_consent, bool):
            raise PolicyError(f"{path}.requires_consent: must be true or false")
        return SharingGround(key, _text(raw, "description", path), requires_consent)

    def _purpose(
        self,
        key: str,
        raw: Mapping[str, Any],
        categories: Mapping[str, Category],
        recipient_kinds: Mapping[str, str],
    ) -> Purpose:
        path = f"purposes.{key}"
        _only(raw, path, {
            "section", "title_nl", "description", "role", "legal_bases", "categories",
            "retention", "recipient_kinds",
        })
        role = raw.get("role", "controller")
        if role not in ("controller", "processor"):
            raise PolicyError(f"{path}.role: must be 'controller' or 'processor', got {role!r}")
        bases = _str_list(raw.get("legal_bases"), f"{path}.legal_bases")
        for basis in bases:
            _check_known(basis, LEGAL_BASES, f"{path}.legal_bases", "legal basis")
        if not bases:
            raise PolicyError(f"{path}.legal_bases: at least one legal basis is required")
        wanted = _table(raw.get("categories"), f"{path}.categories")
        if not wanted:
            raise PolicyError(f"{path}.categories: at least one category is required")
        purpose_categories: dict[str, Requirement] = {}
        for category, requirement in wanted.items():
            if category not in categories:
                raise PolicyError(f"{path}.categories.{category}: unknown category")
            if requirement not in ("required", "optional"):
                raise PolicyError(
                    f"{path}.categories.{category}: must be 'required' or 'optional'"
                )
            purpose_categories[category] = requirement
        retention = _table(raw.get("retention"), f"{path}.retention")
        _only(retention, f"{path}.retention", {"trigger", "period"})
        trigger = _text(retention, "trigger", f"{path}.retention")
        _check_known(trigger, RETENTION_TRIGGERS, f"{path}.retention.trigger",
                     "retention trigger")
        kinds = _str_list(raw.get("recipient_kinds", []), f"{path}.recipient_kinds")
        for kind in kinds:
            _check_known(kind, recipient_kinds, f"{path}.recipient_kinds", "recipient kind")
        return Purpose(
            key=key,
            section=_text(raw, "section", path),
            title_nl=_text(raw, "title_nl", path),
            description=_text(raw, "description", path),
            role=role,
            legal_bases=frozenset(bases),
            categories=purpose_categories,
            retention=RetentionRule(
                trigger, _duration(retention.get("period"), f"{path}.retention.period")
            ),
            recipient_kinds=frozenset(kinds),
        )


def _check_known(value: object, known: Collection[str], path: str, what: str) -> None:
    if value not in known:
        raise PolicyError(f"{path}: unknown {what} {value!r}; known: {', '.join(sorted(known))}")


def _duration(value: object, path: str) -> Duration:
    if not isinstance(value, str):
        raise PolicyError(f"{path}: must be an ISO 8601 duration such as 'P90D'")
    try:
        return parse_duration(value)
    except ValueError as error:
        raise PolicyError(f"{path}: {error}") from None


def _table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PolicyError(f"{path}: must be a table")
    return value


def _only(raw: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise PolicyError(f"{path}: unknown key(s) {', '.join(unknown)}")


def _text(raw: Mapping[str, Any], key: str, path: str) -> str:
    return _str_value(raw.get(key), f"{path}.{key}")


def _str_value(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{path}: must be a non-empty string")
    return value


def _str_list(value: object, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{path}: must be a list of strings")
    return list(value)
