"""Tables that sort and page on the server: links, no script.

A table's state is in the query string (``sort``, ``dir``, ``page``, prefixed per table
so two tables on a page keep their own); only ids, codes and dates ever appear there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

PER_PAGE = 25


@dataclass(frozen=True)
class Column:
    key: str
    label: str


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[dict[str, Any]]  # this page's rows
    total: int
    sort: str
    descending: bool
    page: int
    pages: int
    query: dict[str, str]  # the page's other query parameters, kept in every link

    def link(self, **changes: object) -> str:
        params = {**self.query, f"{self.name}_sort": self.sort,
                  f"{self.name}_dir": "desc" if self.descending else "asc",
                  f"{self.name}_page": str(self.page)}
        params.update({f"{self.name}_{k}": str(v) for k, v in changes.items()})
        return "?" + urlencode(params)

    def sort_link(self, key: str) -> str:
        descending = not self.descending if key == self.sort else False
        return self.link(sort=key, dir="desc" if descending else "asc", page=1)


def _sort_key(value: Any) -> tuple[int, str]:
    if value is None:
        return (1, "")
    if isinstance(value, bool):
        return (0, "1" if value else "0")
    if isinstance(value, int | float):
        return (0, f"{value:020.6f}")
    return (0, str(value))


def table(name: str, columns: Sequence[tuple[str, str]], items: Sequence[Mapping[str, Any]],
          query: Mapping[str, str], *, default_sort: str | None = None,
          per_page: int = PER_PAGE) -> Table:
    """``items`` sorted and cut to the page the query string asks for."""
    cols = [Column(key, label) for key, label in columns]
    keys = {c.key for c in cols}
    sort = query.get(f"{name}_sort", "")
    sort = sort if sort in keys else (default_sort or "")
    descending = query.get(f"{name}_dir") == "desc"
    rows = [dict(item) for item in items]
    if sort:
        rows.sort(key=lambda r: _sort_key(r.get(sort)), reverse=descending)
    pages = max(1, -(-len(rows) // per_page))
    try:
        page = min(max(1, int(query.get(f"{name}_page", "1"))), pages)
    except ValueError:
        page = 1
    others = {k: v for k, v in query.items() if not k.startswith(f"{name}_")}
    return Table(name, cols, rows[(page - 1) * per_page:page * per_page], len(rows), sort,
                 descending, page, pages, others)
