"""The privacy policy as data: purposes, categories, legal bases, retention, recipients.

A ``Policy`` is built from a plain mapping (the loader in ``ledger.policy`` reads it from
TOML) and validated as a whole: a malformed policy fails with a ``PolicyError`` whose
message gives the path to the bad entry, so a policy author can fix it without guessing.

Policy files have revisions. Revision 1 (no ``revision`` key) holds the rules the ledger
judges acts by; revision 2 adds what the registers and the access report must state
(art. 13, 15 and 30 GDPR): the controller's contact details, the data protection
officer, the supervisory authority, the jurisdiction's time zone, the categories of data
subjects, sources, third-country transfers, security measures, automated
decision-making and the grace period after a consent is withdrawn. A revision 2 file
must state every one of them; a revision 1 file reads with each "not stated".
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
# The revision that added the facts art. 13, 15 and 30 GDPR ask for; see ``Policy``.
STATEMENT_REVISION = 2
NO_PERIOD = Duration()
# The trigger whose scope is split per fiscal year ("fiscal-2025"): each year's records
# are kept for the law's period from the end of their own year, and go on their own date.
FISCAL_YEAR_END = "fiscal-year-end"
_YEAR = re.compile(r"[0-9]{4}")
# The longest retention scope name the key store and the intake schema take.
MAX_SCOPE_NAME = 64


@dataclass(frozen=True)
class Text:
    """A text for people, in Dutch (the statement's language) and English."""

    nl: str
    en: str


@dataclass(frozen=True)
class Category:
    key: str
    label_nl: str
    label_en: str
    scope: str
    # Art. 14(2)(f), 15(1)(g): where the data comes from, in words a person understands.
    source: Text | None = None


@dataclass(frozen=True)
class RetentionScope:
    key: str
    description: str
    # Set when the law itself keeps data in this scope; erasure requests keep it then.
    trigger: str | None = None
    period: Duration | None = None
    legal_reason: str | None = None
    label: Text | None = None  # what a person calls it (revision 2)
    legal_reason_nl: str | None = None

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
    # Revision 2: art. 30(1)(b)-(e). Empty in revision 1, which does not state them.
    title_en: str | None = None
    description_nl: str | None = None
    data_subjects: tuple[str, ...] = ()
    third_country_transfers: tuple[ThirdCountryTransfer, ...] = ()
    consent_withdrawal_grace: Duration | None = None  # None: the policy-wide period

    @property
    def requires_consent(self) -> bool:
        """Consent is the only basis listed, so without live consent nothing may happen."""
        return self.legal_bases == frozenset({"consent"})


@dataclass(frozen=True)
class SharingGround:
    key: str
    description: str
    requires_consent: bool
    description_en: str | None = None


@dataclass(frozen=True)
class ThirdCountryTransfer:
    """A transfer outside the EEA (art. 15(2), 30(1)(e)) and the safeguard it rests on."""

    country: str
    recipient_kind: str
    safeguard: str


@dataclass(frozen=True)
class ControllerDetails:
    """Art. 30(1)(a), 13(1)(a): who the controller is and how to reach it."""

    name: str
    contact: Text


@dataclass(frozen=True)
class DataProtectionOfficer:
    """Art. 30(1)(a), 13(1)(b): ``name`` None when the policy names no officer."""

    name: str | None
    contact: Text | None
    note: Text


@dataclass(frozen=True)
class SupervisoryAuthority:
    """Art. 13(2)(d), 15(1)(f): where a complaint may be lodged."""

    name: str
    postal_address: str
    website: str


@dataclass(frozen=True)
class AutomatedDecisions:
    """Art. 13(2)(f), 15(1)(h): whether decisions are made by automated means alone."""

    used: bool
    note: Text


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
    # Revision 2 and later; a revision 1 file leaves each at "not stated".
    revision: int = 1
    revises: str | None = None  # the version this revision follows
    # The zone statutory moments are counted in; revision 1 counted in UTC.
    jurisdiction_zone: str = "UTC"
    controller_details: ControllerDetails | None = None
    data_protection_officer: DataProtectionOfficer | None = None
    supervisory_authority: SupervisoryAuthority | None = None
    security_measures: tuple[Text, ...] = ()
    automated_decisions: AutomatedDecisions | None = None
    subject_kinds: Mapping[str, Text] = field(default_factory=dict)
    recipient_labels_en: Mapping[str, str] = field(default_factory=dict)
    source_systems: Mapping[str, Text] = field(default_factory=dict)
    # Art. 7(3), 17(1)(b): how long after a withdrawal the data it alone held may stay.
    consent_withdrawal_grace: Duration = NO_PERIOD

    @property
    def states_the_notice(self) -> bool:
        """Whether this revision states what art. 13, 15 and 30 ask for."""
        return self.revision >= STATEMENT_REVISION

    @property
    def zone(self) -> ZoneInfo:
        """The jurisdiction's time zone (``zoneinfo``; tzdata ships as a dependency)."""
        return ZoneInfo(self.jurisdiction_zone)

    def withdrawal_grace(self, purpose: str) -> Duration:
        """The grace period after consent for ``purpose`` is withdrawn (default none)."""
        spec = self.purposes.get(purpose)
        if spec is not None and spec.consent_withdrawal_grace is not None:
            return spec.consent_withdrawal_grace
        return self.consent_withdrawal_grace

    def purpose(self, key: str) -> Purpose:
        try:
            return self.purposes[key]
        except KeyError:
            raise PolicyViolation(
                "unknown-purpose", f"unknown purpose {key!r} in policy {self.version}; "
                f"known: {', '.join(sorted(self.purposes))}"
            ) from None

    def scope_of(self, category: str) -> str:
        """The policy's own scope of ``category`` (``general``, ``fiscal``): the base of
        the scope its values are kept under (``scope_for``)."""
        return self.categories[category].scope

    # -- retention scopes as the law divides data --------------------------------------
    #
    # A value is encrypted under the key of its scope, and a scope is shredded whole, so
    # a scope must hold only data whose retention ends together. The policy's scopes are
    # therefore split: a fiscal scope per fiscal year (``fiscal-2025``: that year's
    # invoices go on their own date, whatever later years hold), an ordinary scope per
    # purpose (``general-demo-request``: a purpose ends, its data goes, the others'
    # stays). Data recorded before the split keeps the policy's own scope name.

    def scope_for(self, category: str, purpose: str, moment: datetime) -> str:
        """The scope a value of ``category`` collected for ``purpose`` at ``moment`` is
        kept under: ``BASE-YEAR`` for a scope the law keeps per fiscal year (the year in
        the jurisdiction's zone), ``BASE-PURPOSE`` for one kept while its purpose runs."""
        base = self.categories[category].scope
        scope = self.scopes[base]
        if scope.trigger == FISCAL_YEAR_END:
            return f"{base}-{self.local(moment).year:04d}"
        if not scope.is_statutory:
            return f"{base}-{purpose}"
        return base

    def base_scope(self, name: str) -> RetentionScope | None:
        """The policy scope a scope name is (``general``) or was derived from
        (``general-demo-request``, ``fiscal-2025``); None for a name it does not know."""
        known = self.scopes.get(name)
        if known is not None:
            return known
        for key in sorted(self.scopes, key=len, reverse=True):
            if not name.startswith(f"{key}-"):
                continue
            suffix, scope = name[len(key) + 1:], self.scopes[key]
            if scope.trigger == FISCAL_YEAR_END and _YEAR.fullmatch(suffix):
                return scope
            if not scope.is_statutory and suffix in self.purposes:
                return scope
        return None

    def scope_year(self, name: str) -> int | None:
        """The fiscal year a per-year scope holds (2025 for ``fiscal-2025``)."""
        scope = self.base_scope(name)
        if scope is None or scope.key == name or scope.trigger != FISCAL_YEAR_END:
            return None
        return int(name[len(scope.key) + 1:])

    def scope_purpose(self, name: str) -> str | None:
        """The purpose a per-purpose scope holds (``demo-request`` for
        ``general-demo-request``)."""
        scope = self.base_scope(name)
        if scope is None or scope.key == name or scope.is_statutory:
            return None
        return name[len(scope.key) + 1:]

    def covers(self, named: str | None, scope: str) -> bool:
        """Whether a restriction or legal hold naming ``named`` (None: everything)
        reaches ``scope``: the same name, or the policy scope it was derived from."""
        if named is None or named == scope:
            return True
        base = self.base_scope(scope)
        return named in self.scopes and base is not None and base.key == named

    def knows_scope(self, name: str) -> bool:
        return self.base_scope(name) is not None

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the jurisdiction's zone (as it is, if that would overflow)."""
        try:
            return moment.astimezone(self.zone)
        except (OverflowError, ValueError):
            return moment.astimezone(UTC)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policy:
        return _PolicyReader(data).read()


class _PolicyReader:
    """Validates a policy document, collecting the path of the entry being read."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.states = False  # whether the file is of a revision that states the notice
        self.subject_kinds: Mapping[str, Text] = {}

    def read(self) -> Policy:
        data = _table(self.data, "policy")
        _only(data, "policy", {
            "version", "effective_from", "controller", "source", "retention_scopes",
            "categories", "purposes", "recipient_kinds", "sharing_grounds", "transfer_kinds",
            *_STATEMENT_KEYS,
        })
        revision = data.get("revision", 1)
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            raise PolicyError("policy.revision: must be a whole number, 1 or more")
        self.states = revision >= STATEMENT_REVISION
        if self.states:
            missing = sorted(k for k in _STATEMENT_KEYS - {"revises", "source_systems"}
                             if k not in data)
            if missing:
                raise PolicyError(f"policy: revision {revision} must state "
                                  f"{', '.join(missing)}")
        version = _text(data, "version", "policy")
        effective = _text(data, "effective_from", "policy")
        try:
            effective_from = date.fromisoformat(effective)
        except ValueError:
            raise PolicyError(f"policy.effective_from: not an ISO date: {effective!r}") from None
        scopes = {key: self._scope(key, raw)
                  for key, _, raw in _entries(data, "retention_scopes")}
        categories = {key: self._category(key, raw, scopes)
                      for key, _, raw in _entries(data, "categories")}
        kinds = {
            key: self._recipient_kind(raw, f"recipient_kinds.{key}")
            for key, raw in _table(data.get("recipient_kinds"), "recipient_kinds").items()
        }
        recipient_kinds = {key: nl for key, (nl, _) in kinds.items()}
        subject_kinds = _labels(data, "data_subject_kinds")
        self.subject_kinds = subject_kinds
        grounds = {key: self._ground(key, raw)
                   for key, _, raw in _entries(data, "sharing_grounds")}
        purposes = {key: self._purpose(key, raw, categories, recipient_kinds)
                    for key, _, raw in _entries(data, "purposes")}
        for name, table in (("purposes", purposes), ("categories", categories),
                            ("retention_scopes", scopes)):
            if not table:
                raise PolicyError(f"policy.{name}: must not be empty")
        _check_derived_scopes(scopes, purposes)
        transfer_kinds = _str_list(data.get("transfer_kinds", []), "transfer_kinds")
        zone = data.get("jurisdiction_zone", "UTC")
        _zone(zone, "policy.jurisdiction_zone")
        revises = data.get("revises")
        if revises is not None:
            _str_value(revises, "policy.revises")
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
            revision=revision,
            revises=revises,
            jurisdiction_zone=zone,
            controller_details=self._controller(data.get("controller_contact")),
            data_protection_officer=self._dpo(data.get("data_protection_officer")),
            supervisory_authority=self._authority(data.get("supervisory_authority")),
            security_measures=self._measures(data.get("security_measures")),
            automated_decisions=self._automated(data.get("automated_decision_making")),
            subject_kinds=subject_kinds,
            recipient_labels_en={key: en for key, (_, en) in kinds.items() if en},
            source_systems=_labels(data, "source_systems"),
            consent_withdrawal_grace=_duration(
                data.get("consent_withdrawal_grace_period", "P0D"),
                "policy.consent_withdrawal_grace_period"),
        )

    # -- revision 2: what the notices and registers state --------------------------------

    def _recipient_kind(self, raw: object, path: str) -> tuple[str, str | None]:
        if isinstance(raw, str) and not self.states:
            return _str_value(raw, path), None
        table = _table(raw, path)
        _only(table, path, {"nl", "en"})
        return _text(table, "nl", path), _text(table, "en", path)

    def _controller(self, raw: object) -> ControllerDetails | None:
        path = "controller_contact"
        table = _optional_table(raw, path, {"name", "contact_nl", "contact_en"})
        if table is None:
            return None
        return ControllerDetails(_text(table, "name", path), _text_pair(table, path, "contact"))

    def _dpo(self, raw: object) -> DataProtectionOfficer | None:
        path = "data_protection_officer"
        table = _optional_table(raw, path, {"named", "name", "contact_nl", "contact_en",
                                            "note_nl", "note_en"})
        if table is None:
            return None
        named = _bool(table, "named", path)
        note = _text_pair(table, path, "note")
        if not named:
            if "name" in table:
                raise PolicyError(f"{path}: an officer not named has no name")
            return DataProtectionOfficer(None, None, note)
        return DataProtectionOfficer(_text(table, "name", path),
                                     _text_pair(table, path, "contact"), note)

    def _authority(self, raw: object) -> SupervisoryAuthority | None:
        path = "supervisory_authority"
        fields = ("name", "postal_address", "website")
        table = _optional_table(raw, path, set(fields))
        if table is None:
            return None
        return SupervisoryAuthority(*(_text(table, key, path) for key in fields))

    def _measures(self, raw: object) -> tuple[Text, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list) or not raw:
            raise PolicyError("security_measures: must be a non-empty list of tables")
        return tuple(_text_pair(_table(m, f"security_measures[{n}]"),
                                f"security_measures[{n}]", "")
                     for n, m in enumerate(raw))

    def _automated(self, raw: object) -> AutomatedDecisions | None:
        path = "automated_decision_making"
        table = _optional_table(raw, path, {"used", "note_nl", "note_en"})
        if table is None:
            return None
        return AutomatedDecisions(_bool(table, "used", path), _text_pair(table, path, "note"))

    def _transfers(self, raw: object, path: str,
                   recipient_kinds: Mapping[str, str]) -> tuple[ThirdCountryTransfer, ...]:
        if not isinstance(raw, list):
            raise PolicyError(f"{path}: must be a list (empty: no transfers)")
        transfers = []
        for n, entry in enumerate(raw):
            where = f"{path}[{n}]"
            table = _table(entry, where)
            _only(table, where, {"country", "recipient_kind", "safeguard"})
            kind = _text(table, "recipient_kind", where)
            _check_known(kind, recipient_kinds, f"{where}.recipient_kind", "recipient kind")
            transfers.append(ThirdCountryTransfer(
                _text(table, "country", where), kind, _text(table, "safeguard", where)))
        return tuple(transfers)

    # -- revision 1 and later -------------------------------------------------------------

    def _scope(self, key: str, raw: Mapping[str, Any]) -> RetentionScope:
        path = f"retention_scopes.{key}"
        _only(raw, path, {"description", "trigger", "period", "legal_reason",
                          *(("label_nl", "label_en", "legal_reason_nl") if self.states else ())})
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
        if self.states and legal_reason is not None and "legal_reason_nl" not in raw:
            raise PolicyError(f"{path}.legal_reason_nl: must be a non-empty string")
        return RetentionScope(
            key=key,
            description=_text(raw, "description", path),
            trigger=trigger,
            period=_duration(period_text, f"{path}.period") if period_text else None,
            legal_reason=legal_reason,
            label=_text_pair(raw, path, "label") if self.states else None,
            legal_reason_nl=(_text(raw, "legal_reason_nl", path)
                             if self.states and legal_reason is not None else None),
        )

    def _category(
        self, key: str, raw: Mapping[str, Any], scopes: Mapping[str, RetentionScope]
    ) -> Category:
        path = f"categories.{key}"
        _only(raw, path, {"label_nl", "label_en", "scope",
                          *(("source_nl", "source_en") if self.states else ())})
        scope = _text(raw, "scope", path)
        _check_known(scope, scopes, f"{path}.scope", "retention scope")
        return Category(
            key=key,
            label_nl=_text(raw, "label_nl", path),
            label_en=_text(raw, "label_en", path),
            scope=scope,
            source=_text_pair(raw, path, "source") if self.states else None,
        )

    def _ground(self, key: str, raw: Mapping[str, Any]) -> SharingGround:
        path = f"sharing_grounds.{key}"
        _only(raw, path, {"description", "requires_consent",
                          *(("description_en",) if self.states else ())})
        requires_consent = _bool(raw, "requires_consent", path, default=False)
        return SharingGround(key, _text(raw, "description", path), requires_consent,
                             _text(raw, "description_en", path) if self.states else None)

    def _purpose(
        self,
        key: str,
        raw: Mapping[str, Any],
        categories: Mapping[str, Category],
        recipient_kinds: Mapping[str, str],
    ) -> Purpose:
        path = f"purposes.{key}"
        statement_keys = {"title_en", "description_nl", "data_subjects",
                          "third_country_transfers"}
        _only(raw, path, {
            "section", "title_nl", "description", "role", "legal_bases", "categories",
            "retention", "recipient_kinds", "consent_withdrawal_grace_period",
            *(statement_keys if self.states else ()),
        })
        subjects: list[str] = []
        if self.states:
            missing = sorted(statement_keys - set(raw))
            if missing:
                raise PolicyError(f"{path}: must state {', '.join(missing)}")
            subjects = _str_list(raw["data_subjects"], f"{path}.data_subjects")
            if not subjects:
                raise PolicyError(f"{path}.data_subjects: at least one kind is required")
            for kind in subjects:
                _check_known(kind, self.subject_kinds, f"{path}.data_subjects",
                             "data subject kind")
        grace = raw.get("consent_withdrawal_grace_period")
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
            title_en=_text(raw, "title_en", path) if self.states else None,
            description_nl=_text(raw, "description_nl", path) if self.states else None,
            data_subjects=tuple(subjects),
            third_country_transfers=(
                self._transfers(raw["third_country_transfers"],
                                f"{path}.third_country_transfers", recipient_kinds)
                if self.states else ()),
            consent_withdrawal_grace=(
                None if grace is None
                else _duration(grace, f"{path}.consent_withdrawal_grace_period")),
        )


# Keys revision 2 added at the top of the file; every one but ``revises`` and
# ``source_systems`` must be there from revision 2 on.
_STATEMENT_KEYS = frozenset({
    "revision", "revises", "jurisdiction_zone", "controller_contact",
    "data_protection_officer", "supervisory_authority", "security_measures",
    "automated_decision_making", "data_subject_kinds", "source_systems",
    "consent_withdrawal_grace_period",
})


def _check_derived_scopes(scopes: Mapping[str, RetentionScope],
                          purposes: Mapping[str, Purpose]) -> None:
    """The scope names ``Policy.scope_for`` derives fit the key store and the intake
    schema (64 characters), and none is the name of another scope of the policy."""
    for key, scope in sorted(scopes.items()):
        if scope.trigger == FISCAL_YEAR_END:
            suffixes = ["2000"]
        elif not scope.is_statutory:
            suffixes = sorted(purposes)
        else:
            continue
        for suffix in suffixes:
            name = f"{key}-{suffix}"
            if len(name) > MAX_SCOPE_NAME:
                raise PolicyError(f"retention_scopes.{key}: the scope {name!r} it gives "
                                  f"its data is longer than {MAX_SCOPE_NAME} characters")
            if name in scopes:
                raise PolicyError(f"retention_scopes.{name}: is also the name of a scope "
                                  f"derived from {key!r}; give it another name")


def _text_pair(raw: Mapping[str, Any], path: str, stem: str) -> Text:
    """``STEM_nl`` and ``STEM_en`` of ``raw`` (``nl`` and ``en`` for an empty stem)."""
    nl, en = (f"{stem}_{lang}" if stem else lang for lang in ("nl", "en"))
    return Text(_text(raw, nl, path), _text(raw, en, path))


def _zone(value: object, path: str) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{path}: must be an IANA time zone such as 'Europe/Amsterdam'")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"{path}: unknown time zone {value!r}") from None


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


def _entries(data: Mapping[str, Any], name: str,
             default: object = None) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """``(key, path, table)`` for each entry of the table ``name`` of ``data``."""
    for key, raw in _table(data.get(name, default), name).items():
        path = f"{name}.{key}"
        yield key, path, _table(raw, path)


def _labels(data: Mapping[str, Any], name: str) -> dict[str, Text]:
    """The optional table ``name`` of ``label_nl``/``label_en`` entries, by key."""
    return {key: _text_pair(raw, path, "label")
            for key, path, raw in _entries(data, name, default={})}


def _optional_table(raw: object, path: str, allowed: set[str]) -> Mapping[str, Any] | None:
    """``raw`` as a table of only ``allowed`` keys; None where it is not given."""
    if raw is None:
        return None
    table = _table(raw, path)
    _only(table, path, allowed)
    return table


def _bool(raw: Mapping[str, Any], key: str, path: str, default: object = None) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise PolicyError(f"{path}.{key}: must be true or false")
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
