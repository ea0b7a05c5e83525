"""Login rate limiting for the review queue: too many failed logins, and the next ones get 429.

Failures are counted per user name (case-folded) and per client address within a sliding window;
once a name has ``max_per_name`` failures in the window, or an address ``max_per_address``, logins
for it are refused without checking the password until enough of those failures are older than the
window. A refused attempt is not counted, so waiting out the window always works; a successful
login clears its name's count (not its address's, so one valid account cannot reset a guesser).
An attempt counts as a failure from the moment it is let through until its password proves right,
so a burst of parallel attempts cannot all pass the check while the first ones are still hashing.

A refused attempt is recorded in the audit (``login_throttled``) once per blocked name and once per
blocked address per window (:meth:`LoginThrottle.refusal_to_record`), not once per request: refused
attempts cost no password check, so a client can send them as fast as the notifier answers, and the
audit is append-only (one row each grew it without bound, about 280 bytes a request).

The counts live in this process's memory: each notifier instance counts on its own and a restart
forgets them. The address is the TCP peer's; behind a reverse proxy every client shares the proxy's.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

# Bounds the memory an attacker can fill with made-up names: the stalest keys go first.
MAX_KEYS = 10_000


class LoginThrottle:
    def __init__(
        self,
        max_per_name: int,
        max_per_address: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_per_name, self.max_per_address, self.window_s = max_per_name, max_per_address, window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._refused: dict[tuple[str, str], float] = {}  # blocked key -> when a refusal was last recorded

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        found = self._failures.get(key, deque())
        while found and found[0] <= now - self.window_s:
            found.popleft()
        if not found:
            self._failures.pop(key, None)
        return found

    def _wait(self, key: tuple[str, str], limit: int, now: float) -> float:
        recent = self._recent(key, now)
        if len(recent) < limit:
            return 0.0
        # Allowed again once all but limit - 1 of the failures have left the window.
        return recent[len(recent) - limit] + self.window_s - now

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until a login for this name from this address may be tried; 0 when it may now."""
        now = self.clock()
        return max(
            self._wait(("name", name.casefold()), self.max_per_name, now),
            self._wait(("address", address), self.max_per_address, now),
        )

    def refusal_to_record(self, name: str, address: str) -> bool:
        """Whether to record this refused attempt: the first refusal of a blocked name or address in
        the window is recorded, later ones in the same window are not (the first already names them)."""
        now = self.clock()
        blocked = [
            key
            for key, limit in (
                (("name", name.casefold()), self.max_per_name),
                (("address", address), self.max_per_address),
            )
            if self._wait(key, limit, now) > 0
        ]
        fresh = False
        for key in blocked:
            last = self._refused.pop(key, None)
            if last is None or last <= now - self.window_s:
                fresh, last = True, now
            self._refused[key] = last  # most recently refused last
        while len(self._refused) > MAX_KEYS:
            del self._refused[next(iter(self._refused))]
        return fresh

    def failed(self, name: str, address: str) -> float:
        """Count a failure (or an attempt not yet known to succeed); returns its time, for
        :meth:`succeeded`."""
        now = self.clock()
        for key in (("name", name.casefold()), ("address", address)):
            recent = self._recent(key, now)
            recent.append(now)
            self._failures.pop(key, None)
            self._failures[key] = recent  # most recently failed last
        while len(self._failures) > MAX_KEYS:
            del self._failures[next(iter(self._failures))]
        return now

    def succeeded(self, name: str, address: str | None = None, attempt: float | None = None) -> None:
        """The name's failures are forgiven; the attempt counted for the address is taken back."""
        self._failures.pop(("name", name.casefold()), None)
        recent = self._failures.get(("address", address)) if address is not None else None
        if recent is not None and attempt is not None and attempt in recent:
            recent.remove(attempt)


def wait_text(seconds: float) -> str:
    """``"3 minutes"``, ``"1 minute"``, ``"40 seconds"``: rounded up, for people."""
    if seconds > 60:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    whole = max(1, math.ceil(seconds))
    return f"{whole} second{'s' if whole != 1 else ''}"
