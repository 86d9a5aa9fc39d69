"""Finding the subject a request is about: by id, or by business email or phone."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from ledger.crypto.identity import identity_form_problem
from ledger.errors import UnknownSubject


class SubjectFinder(Protocol):
    def find_subject(self, kind: str, value: str) -> UUID | None: ...


def resolve_subject(finder: SubjectFinder, subject: str | None = None, *,
                    email: str | None = None, phone: str | None = None) -> UUID:
    """The subject named by exactly one of ``subject``, ``email`` and ``phone``.

    ``UnknownSubject`` (rule ``unknown-subject``) when nobody is found; its message
    names the kind of look-up, never the value looked up.
    """
    if subject:
        try:
            return UUID(subject)
        except ValueError:
            raise UnknownSubject("SUBJECT must be a subject id (a UUID); "
                                 "use --email or --phone to look one up") from None
    kind, value = ("email", email) if email else ("phone", phone)
    if value is None:
        raise UnknownSubject("name a subject: SUBJECT, --email or --phone")
    problem = identity_form_problem(kind, value)
    if problem is not None:
        raise UnknownSubject(f"the {kind} given {problem}; nobody can be indexed under it")
    found = finder.find_subject(kind, value)
    if found is None:
        raise UnknownSubject(f"no subject is indexed under that {kind}")
    return found
