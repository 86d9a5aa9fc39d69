"""The one thread every piece of ledger work of the web process runs on.

The backend (the eventsourcing application, its SQLite connections, the key cache),
the token store and the access log are opened on this thread, used only from it and
closed on it. Requests are served by uvicorn's event loop and hand their ledger work
here one at a time: no connection or application object is ever shared between
threads, at the price of serialising the ledger work of concurrent requests (on two
cores and under the GIL it would hardly run in parallel anyway). HTTP parsing,
TLS, templating and JSON encoding stay on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class LedgerWorker:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledger")
        self._stack = ExitStack()

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs ``fn`` on the ledger thread and waits (for set-up, tear-down, tests)."""
        return self._executor.submit(fn, *args, **kwargs).result()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs ``fn`` on the ledger thread; the event loop goes on meanwhile."""
        return await asyncio.wrap_future(self._executor.submit(fn, *args, **kwargs))

    def enter(self, context: AbstractContextManager[T]) -> T:
        """Opens ``context`` on the ledger thread; it is closed there by ``close``."""
        return self.call(self._stack.enter_context, context)

    def defer(self, fn: Callable[[], object]) -> None:
        """Calls ``fn`` on ``close`` (call this on the ledger thread, via ``call``)."""
        self._stack.callback(fn)

    def close(self) -> None:
        try:
            self.call(self._stack.close)
        finally:
            self._executor.shutdown(wait=True)
