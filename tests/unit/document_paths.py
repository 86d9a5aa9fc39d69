"""Walking and mutating a JSON document, for the intake's property-based tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indices) to a value inside ``document``."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


def parent(document: Any, path: tuple[Any, ...]) -> Any:
    """The container holding the value at ``path``."""
    for step in path[:-1]:
        document = document[step]
    return document


def mutate(data: st.DataObject, document: Any, mutation: str, values: st.SearchStrategy[Any],
           known_keys: Sequence[str]) -> bool:
    """Replaces or deletes a drawn value of ``document``, or adds a key to the table
    holding it (``mutation``: replace, delete, add); False where it holds no value."""
    found = paths(document)
    if not found:
        return False
    path = data.draw(st.sampled_from(found))
    container = parent(document, path)
    if mutation == "replace":
        container[path[-1]] = data.draw(values)
    elif mutation == "delete":
        del container[path[-1]]
    elif isinstance(container, dict):
        container[data.draw(st.sampled_from(known_keys) | st.text(max_size=8))] = data.draw(
            values)
    return True
