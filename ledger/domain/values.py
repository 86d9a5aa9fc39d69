"""Personal values as the domain holds them: redacted in every repr, erasable.

Events and aggregates print themselves in tracebacks and debug logs; a personal value
must never ride along, so the containers here show category names and counts only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Erased:
    """What a personal value reads as once its key is destroyed: a fact, not an error."""

    scope: str

    def __str__(self) -> str:
        return f"<erased: {self.scope}>"


PersonalValue = str | Erased


class PersonalValues(Mapping[str, PersonalValue]):
    """Values by category. Immutable, compared by content, never shown in a repr."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, PersonalValue] | None = None) -> None:
        self._values: dict[str, PersonalValue] = dict(values or {})

    def __getitem__(self, category: str) -> PersonalValue:
        return self._values[category]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PersonalValues):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._values.items()))

    def __repr__(self) -> str:
        return f"PersonalValues(<redacted: {', '.join(sorted(self._values))}>)"

    __str__ = __repr__

    @property
    def erased(self) -> frozenset[str]:
        return frozenset(c for c, v in self._values.items() if isinstance(v, Erased))

    def as_dict(self) -> dict[str, PersonalValue]:
        return dict(self._values)
