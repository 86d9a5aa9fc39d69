"""The ledger application: one command per act, each recorded whole or not at all.

Runs unchanged on any eventsourcing persistence module (``eventsourcing.sqlite`` is the
embedded default). Personal values are encrypted by the mapper under per-subject keys
from the key store; erasure destroys keys first and records the fact second, so a crash
in between leaves a retryable request, never a false record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    LRUCache,
    ProcessingEvent,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import EventStore, IntegrityError, Mapper, Recording, Transcoder
from eventsourcing.utils import get_topic

from ledger.crypto.act_digest import act_digest, same_digest
from ledger.crypto.office_signing import OfficeKeyring
from ledger.domain.acts import ActContext, ActDigest
from ledger.domain.events import SubjectEvent
from ledger.domain.policy import Policy
from ledger.domain.policy_register import POLICY_REGISTER_ID, PolicyRegister
from ledger.domain.retention import ErasurePlan, held_scopes, retention_due
from ledger.domain.state import RecordedAct
from ledger.domain.subject import DataSubject
from ledger.errors import (
    ActIdConflict,
    ConflictingWrite,
    DuplicateAct,
    KeyMissing,
    PolicyViolation,
    UnknownSubject,
)
from ledger.persistence.encrypting_mapper import EncryptingMapper
from ledger.persistence.event_store import KeyBatchingEventStore
from ledger.persistence.transcoder import ledger_transcoder
from ledger.time_gate import DEFAULT_MAX_FUTURE_SKEW, TimeGate, utc_now

if TYPE_CHECKING:
    from ledger.crypto.keys import KeyStore


# Categories whose values identify a person, indexed (as keyed hashes) for DSAR look-ups.
IDENTITY_CATEGORIES = {"business-email": "email", "business-phone": "phone"}
# How many subjects a shard's sole writer keeps live in memory (``sole_writer``).
LIVE_AGGREGATES = 20_000
P = ParamSpec("P")


def _command(
    act_on: Callable[Concatenate[DataSubject, Policy, ActContext, P], None], *,
    may_register: bool = False,
) -> Callable[Concatenate[LedgerApplication, UUID, ActContext, P], None]:
    """The application command for the subject's act ``act_on``: the same keyword
    arguments, run on the subject by ``LedgerApplication._act`` under the policy."""

    def command(app: LedgerApplication, subject_id: UUID, act: ActContext, /,
                *args: P.args, **kwargs: P.kwargs) -> None:
        app._act(subject_id, act, lambda s, a: act_on(s, app.policy, a, *args, **kwargs),
                 may_register=may_register)

    command.__name__ = act_on.__name__
    command.__doc__ = act_on.__doc__
    return command


class LedgerApplication(Application[UUID]):
    name = "PersonalDataLedger"

    def __init__(
        self,
        policy: Policy,
        env: Mapping[str, str] | None = None,
        key_store: KeyStore | None = None,
        office_keyring: OfficeKeyring | None = None,
        *,
        max_future_skew: timedelta = DEFAULT_MAX_FUTURE_SKEW,
        clock: Callable[[], datetime] = utc_now,
        sole_writer: bool = False,
    ) -> None:
        self.policy = policy
        self.key_store = key_store
        # Every act passes it before anything is loaded, destroyed or saved.
        self.time_gate = TimeGate(max_future_skew, clock)
        # Whose signature makes an act that destroys data acceptable; nobody's if unset.
        self.office_keyring = office_keyring or OfficeKeyring({})
        settings = dict(env) if env is not None else None
        if sole_writer:
            # The only writer of its aggregates (a Kafka shard's, fenced by its
            # transactional id) keeps them live instead of replaying each per act: no
            # copy handed out, nothing to fast-forward, since nobody else appends. A
            # command that fails drops what it touched (``_live``), and a failed batch
            # drops them all (``forget_live_aggregates``): no stale state survives.
            settings = {**(settings or {}),
                        self.AGGREGATE_CACHE_MAXSIZE: str(LIVE_AGGREGATES),
                        self.AGGREGATE_CACHE_FASTFORWARD: "n",
                        self.DEEPCOPY_FROM_AGGREGATE_CACHE: "n"}
        super().__init__(settings)

    # -- infrastructure hooks ----------------------------------------------------------

    def construct_transcoder(self) -> Transcoder:
        return ledger_transcoder()

    def construct_mapper(self) -> Mapper[UUID]:
        transcoder = self.construct_transcoder()
        if self.key_store is None:
            return Mapper(transcoder=transcoder)
        return EncryptingMapper(transcoder=transcoder, key_store=self.key_store)

    def construct_event_store(self) -> EventStore[UUID]:
        if isinstance(self.mapper, EncryptingMapper):
            return KeyBatchingEventStore(mapper=self.mapper, recorder=self.recorder)
        return super().construct_event_store()

    # -- reading -----------------------------------------------------------------------

    def subject(self, subject_id: UUID) -> DataSubject:
        try:
            subject: DataSubject = self.repository.get(subject_id)
        except AggregateNotFoundError:
            raise UnknownSubject(f"no data subject {subject_id}") from None
        return subject

    def forget_live_aggregates(self) -> None:
        """Drops every live aggregate (a sole writer's batch failed: they may hold its
        unrecorded changes); the next act reads its subject from the log again."""
        cache = self.repository.cache
        if isinstance(cache, LRUCache):
            self.repository.cache = LRUCache(maxsize=cache.maxsize)

    @contextmanager
    def _live(self, aggregate_id: UUID) -> Iterator[None]:
        """A command on a live aggregate: if it fails, the aggregate may hold changes
        (or pending events) that were never saved, so it is dropped from memory."""
        try:
            yield
        except BaseException:
            if self.repository.cache is not None:
                with suppress(KeyError):
                    self.repository.cache.get(aggregate_id, evict=True)
            raise

    def history(self, subject_id: UUID) -> list[SubjectEvent]:
        events = [e for e in self.events.get(subject_id) if isinstance(e, SubjectEvent)]
        if not events:
            raise UnknownSubject(f"no data subject {subject_id}")
        return events

    def find_subject(self, kind: str, value: str) -> UUID | None:
        """The subject an email address or phone number belongs to, via the keyed index."""
        if self.key_store is None:
            return None
        return self.key_store.lookup_identity(kind, value)

    def subject_ids(self, event_types: Sequence[type[SubjectEvent]] = ()) -> list[UUID]:
        """Ids of subjects with events of these types (all subjects when none given)."""
        topics = [get_topic(t) for t in event_types]
        seen: dict[UUID, None] = {}
        start = 1
        while True:
            page = self.recorder.select_notifications(start, limit=1000, topics=topics)
            for notification in page:
                if notification.originator_id != POLICY_REGISTER_ID:
                    seen.setdefault(UUID(str(notification.originator_id)), None)
            if len(page) < 1000:
                return list(seen)
            start = page[-1].id + 1

    # -- policy ------------------------------------------------------------------------

    def publish_policy(
        self, policy: Policy, document: str, actor: str, occurred_at: datetime
    ) -> bool:
        """Records ``policy`` as in force (an act itself); False if it already was."""
        with self._live(POLICY_REGISTER_ID):
            try:
                register: PolicyRegister = self.repository.get(POLICY_REGISTER_ID)
            except AggregateNotFoundError:
                register = PolicyRegister.open()
            published = register.publish(policy, document, actor, occurred_at)
            if published:
                self._save(register)
                self.policy = policy
            return published

    def published_policy_versions(self) -> dict[str, str]:
        try:
            register: PolicyRegister = self.repository.get(POLICY_REGISTER_ID)
        except AggregateNotFoundError:
            return {}
        return dict(register.versions)

    # -- acts --------------------------------------------------------------------------

    def collect_data(
        self, subject_id: UUID, act: ActContext, *, purpose: str, values: Mapping[str, str],
        source_system: str, legal_basis: str, controller: str | None = None,
    ) -> None:
        def collect(subject: DataSubject, recorded: ActContext) -> None:
            subject.collect(
                self.policy, recorded, purpose=purpose, values=values,
                source_system=source_system, legal_basis=legal_basis, controller=controller,
            )
            # Bound only once the act passed the rules; binding is idempotent, so a failed
            # save leaves at most a lookup to a subject that has no events yet.
            self._bind_identities(subject_id, {
                c: (v, self.policy.scope_for(c, purpose, recorded.occurred_at))
                for c, v in values.items()})

        self._act(subject_id, act, collect, may_register=True)

    record_processing = _command(DataSubject.process)
    record_sharing = _command(DataSubject.share)
    # Consent may come before any data (a cookie banner, a demo form's checkbox).
    give_consent = _command(DataSubject.give_consent, may_register=True)
    withdraw_consent = _command(DataSubject.withdraw_consent)
    object_to_processing = _command(DataSubject.object)
    restrict_processing = _command(DataSubject.restrict)
    lift_restriction = _command(DataSubject.lift_restriction)
    rectify_data = _command(DataSubject.rectify)
    forward_request = _command(DataSubject.forward_request)
    request_access = _command(DataSubject.request_access)
    fulfil_access = _command(DataSubject.fulfil_access)
    extend_request_deadline = _command(DataSubject.extend_request_deadline)
    request_erasure = _command(DataSubject.request_erasure)
    end_contract = _command(DataSubject.end_contract)
    fulfil_purpose = _command(DataSubject.fulfil_purpose)
    place_legal_hold = _command(DataSubject.place_legal_hold)
    release_legal_hold = _command(DataSubject.release_legal_hold)
    transfer_controller = _command(DataSubject.transfer_controller)

    # The two acts that destroy keys: each checks all it can before the first key goes.

    def carry_out_erasure(
        self, subject_id: UUID, act: ActContext, *, request_ref: str
    ) -> ErasurePlan:
        """Destroys what may go now, keeps what the law keeps, and records both.

        The request is checked first, then the keys are destroyed, then the events are
        saved: a failure before the save leaves the request open and the retry finds the
        same plan (the fence supplies the ids of keys already destroyed). The key of the
        act digests goes too unless the plan keeps its scope, even when nothing is held
        under it: no digest of an act outlives the erasure of the act's values.
        """
        self.time_gate.check(act)
        with self._live(subject_id):
            subject = self.subject(subject_id)
            self._check_act_id(subject, act)
            subject.check_erasure_request(request_ref)  # nothing is destroyed for a bad ref
            # What the law keeps is judged at the act's moment or the wall clock's, whichever
            # is earlier: an act dated ahead cannot make fiscal records due today.
            plan = subject.erasure_plan(self.policy, self._destruction_moment(act))
            digest_scope = self._digest_scope()
            shreds_digests = digest_scope is not None and not any(
                self._in_family(kept, digest_scope) for kept in plan.keep)
            self._shred_and_save(
                subject, act, sorted(plan.shred), digest_scope if shreds_digests else None,
                lambda recorded, destroyed: subject.complete_erasure(
                    self.policy, recorded, request_ref=request_ref, plan=plan,
                    destroyed_key_ids=destroyed,
                ))
            return plan

    def expire_retention(self, subject_id: UUID, act: ActContext, *, scope: str) -> None:
        self.time_gate.check(act)
        with self._live(subject_id):
            subject = self.subject(subject_id)
            self._check_act_id(subject, act)
            due_at = retention_due(self.policy, subject.state).get(scope)
            if due_at is None:
                raise PolicyViolation("retention-not-due", f"scope {scope!r} has no due date yet")
            # Before any key is destroyed, and against the wall clock too: nothing is shredded
            # before its due date, whatever date the act claims.
            subject.check_expiry(self.policy, scope, due_at, self._destruction_moment(act))
            # The digest key goes with its own scope, and with the last scope of its family
            # (``general`` and the per-purpose scopes derived from it) held besides it: no
            # digest outlives the values it covers.
            digest_scope = self._digest_scope()
            shreds_digests = digest_scope is not None and (digest_scope == scope or not any(
                self._in_family(held, digest_scope)
                for held in held_scopes(subject.state) - {scope}))
            self._shred_and_save(
                subject, act, [scope], digest_scope if shreds_digests else None,
                lambda recorded, destroyed: subject.expire_retention(
                    self.policy, recorded, scope=scope, due_at=due_at, destroyed_key_ids=destroyed
                ))

    def _shred_and_save(
        self, subject: DataSubject, act: ActContext, scopes: Sequence[str],
        shredded_digest_scope: str | None,
        record: Callable[[ActContext, list[str]], None],
    ) -> None:
        """Destroys the keys of ``scopes`` (and the digest key when its scope is given,
        whether or not among them), then has ``record`` note the act, and saves. An act
        that shreds the digest key is recorded without a digest (it would be behind the
        fence at once); its id alone identifies it, as after any shred."""
        subject_id = subject.id
        shreds_digests = shredded_digest_scope is not None
        recorded = act if shreds_digests else self._digested(subject_id, act)
        destroyed = self._destroy_keys(subject_id, scopes)
        if shreds_digests and shredded_digest_scope not in scopes:
            self._destroy_digest_key(subject_id)
        record(recorded, destroyed)
        self._rebind_held_identities(subject)
        self._save(subject)

    # -- plumbing ----------------------------------------------------------------------

    def _act(
        self, subject_id: UUID, act: ActContext,
        command: Callable[[DataSubject, ActContext], None], *, may_register: bool = False,
    ) -> None:
        """Runs ``command`` on the subject with the act as it is recorded (its digest
        made), and saves; a re-delivery or another act under a recorded id stops first."""
        self.time_gate.check(act)
        with self._live(subject_id):
            try:
                subject = self.subject(subject_id)
            except UnknownSubject:
                if not may_register:
                    raise
                act = self._digested(subject_id, act)
                subject = DataSubject.register(subject_id, self.policy, act)
            else:
                self._check_act_id(subject, act)
                act = self._digested(subject_id, act)
            command(subject, act)
            self._save(subject)

    # -- one act per act id ----------------------------------------------------------

    def _digest_scope(self) -> str | None:
        """The retention scope whose key makes the act digests: the first one (by name)
        the law does not keep, which an erasure shreds (``general`` in the seed policy).
        None when every scope is statutory: the act id alone identifies an act then."""
        erasable = sorted(k for k, scope in self.policy.scopes.items() if not scope.is_statutory)
        return erasable[0] if erasable else None

    def _in_family(self, scope: str, digest_scope: str) -> bool:
        base = self.policy.base_scope(scope)
        return base is not None and base.key == digest_scope

    def _digested(self, subject_id: UUID, act: ActContext) -> ActContext:
        """``act`` with the keyed digest of its content (HMAC-SHA256 under the subject's
        key of the digest scope), as its events record it; unchanged without content."""
        scope = self._digest_scope()
        if act.content is None or self.key_store is None or scope is None:
            return act
        key = self.key_store.data_key(subject_id, scope)
        return replace(act, digest=ActDigest(act_digest(key, act.content), key.key_id.hex))

    def _check_act_id(self, subject: DataSubject, act: ActContext) -> None:
        """``DuplicateAct`` when the act id is recorded with the same content (or can
        only be compared by id), ``ActIdConflict`` when with other content."""
        recorded = subject.state.act_ids.get(act.act_id)
        if recorded is None:
            return
        if self._same_content(subject.id, act, recorded):
            raise DuplicateAct(f"act {act.act_id} is already recorded for {subject.id}")
        raise ActIdConflict(
            f"act {act.act_id} is already recorded with other content, at version "
            f"{recorded.version} of subject {subject.id} (the subject's version, not a "
            "notification id); an act id means one act: send another act under a new id")

    def _same_content(self, subject_id: UUID, act: ActContext, recorded: RecordedAct) -> bool:
        if (recorded.digest is None or recorded.digest_key_id is None or act.content is None
                or self.key_store is None):
            return True  # recorded before digests, or given without content: by id alone
        key_id = UUID(recorded.digest_key_id)
        key = self.key_store.key_by_id(key_id)
        if key is None:
            if self.key_store.is_fenced(key_id):
                return True  # shredded with the subject's data: the id alone decides
            raise KeyMissing([key_id], subject_id)  # lost, not erased: never guessed at
        return same_digest(key, act.content, recorded.digest)

    def _destroy_digest_key(self, subject_id: UUID) -> None:
        """Shreds the subject's key of the digest scope, which holds no values of theirs
        here; the fence keeps its id (it is not among an event's destroyed scopes)."""
        scope = self._digest_scope()
        if self.key_store is not None and scope is not None:
            self.key_store.shred(subject_id, [scope])

    def _destruction_moment(self, act: ActContext) -> datetime:
        return min(act.occurred_at, self.time_gate.clock())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save``, collecting with ``AggregatesProcessed``."""
        processing_event = AggregatesProcessed()
        processing_event.collect_events(*objs, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's deprecated hook, kept
        return recordings

    def _save(self, *aggregates: Any) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError as error:
            ids = ", ".join(str(a.id) for a in aggregates)
            raise ConflictingWrite(f"a concurrent act was recorded first for {ids}") from error

    def _bind_identities(self, subject_id: UUID,
                         values: Mapping[str, tuple[str, str]]) -> None:
        """Binds each identity value (category -> value and the scope it is kept under)."""
        if self.key_store is None:
            return
        for category, kind in IDENTITY_CATEGORIES.items():
            if category in values:
                value, scope = values[category]
                # Scoped: shredding the scope that holds the value forgets the lookup too.
                self.key_store.bind_identity(kind, value, subject_id, scope=scope)

    def _rebind_held_identities(self, subject: DataSubject) -> None:
        """After a shred: an identity the shredded scope held that another purpose still
        holds (under its own scope) stays findable, bound to that scope now."""
        state = subject.state
        for purpose, values in sorted(state.holdings.items()):
            scopes = state.value_scopes.get(purpose, {})
            held = {category: (value, scopes[category])
                    for category in IDENTITY_CATEGORIES
                    for value in [values.get(category)]
                    if isinstance(value, str) and scopes.get(category)
                    and scopes[category] not in state.erased_scopes}
            self._bind_identities(subject.id, held)

    def _destroy_keys(self, subject_id: UUID, scopes: Sequence[str]) -> list[str]:
        if self.key_store is None or not scopes:
            return []
        destroyed = self.key_store.shred(subject_id, scopes)
        if not destroyed:
            # A retry after a crash between shred and save: the fence remembers the ids.
            destroyed = [
                record.key_id for record in self.key_store.destroyed_keys(subject_id)
                if record.scope in scopes
            ]
        return [str(key_id) for key_id in destroyed]


class AggregatesProcessed(ProcessingEvent[UUID]):
    """The library's processing event, collecting from the ledger's own aggregates by
    their class: its runtime ``Protocol`` checks, made for any kind of object, cost
    more per act than the rest of collecting on Python 3.11."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        others = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            else:
                others.append(obj)
        super().collect_events(*others, **kwargs)
