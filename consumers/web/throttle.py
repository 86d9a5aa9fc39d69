"""Failed sign-ins slowed down, per client address.

The first few failures cost nothing; after that each failure is answered only after
a delay that doubles (1 s, 2 s, 4 s ... at most 30 s), and from ``LOCK_AFTER``
failures on, attempts are refused outright (429) until the window has passed. A
success clears the address's count. Tokens are 256 random bits, so this is about
noise and cost, not about guessing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

FREE_FAILURES = 3
MAX_DELAY_S = 30.0
LOCK_AFTER = 10
WINDOW_S = 15 * 60.0


class SignInThrottle:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _count(self, address: str) -> int:
        count, last = self._failures.get(address, (0, 0.0))
        if self._clock() - last > WINDOW_S:
            self._failures.pop(address, None)
            return 0
        return count

    def locked_for(self, address: str) -> float:
        """Seconds until this address may try again (0: it may now)."""
        with self._lock:
            if self._count(address) < LOCK_AFTER:
                return 0.0
            return max(0.0, WINDOW_S - (self._clock() - self._failures[address][1]))

    def failed(self, address: str) -> float:
        """Counts a failure; the delay to answer it with."""
        with self._lock:
            count = self._count(address) + 1
            self._failures[address] = (count, self._clock())
            if len(self._failures) > 10_000:  # bounded memory under a flood of addresses
                oldest = min(self._failures, key=lambda a: self._failures[a][1])
                del self._failures[oldest]
        if count <= FREE_FAILURES:
            return 0.0
        return min(MAX_DELAY_S, 2.0 ** (count - FREE_FAILURES - 1))

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
