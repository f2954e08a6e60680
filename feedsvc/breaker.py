"""Circuit breakers: after a dependency fails, stop calling it for a while instead of waiting on it
in every request. A hung server then costs one timeout per window, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Breaker:
    """Closed (calls go through), open (calls refused until ``window`` seconds pass), then half-open:
    one caller at a time probes; its success closes the breaker, its failure opens it again."""

    def __init__(self, name: str, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None  # None: closed
        self._probing = False
        self.failures = 0
        self.opened = 0  # times it opened, for metrics and tests
        # Called outside the lock with "failure", "open" or "close" (metrics); must not raise.
        self.observers: list[Callable[[str], None]] = []

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        """May the caller use the dependency now?"""
        if self._open_until is None:
            return True
        with self._lock:
            if self._open_until is None:
                return True
            if self.clock() < self._open_until or self._probing:
                return False
            self._probing = True  # this caller probes; the others keep away
            return True

    def success(self) -> None:
        if self._open_until is None and not self._probing:
            return
        with self._lock:
            was_open = self._open_until is not None
            self._open_until, self._probing, self.failures = None, False, 0
        if was_open:
            log.warning("%s is back: calling it again", self.name)
            self._notify("close")

    def failure(self, reason: str = "") -> None:
        with self._lock:
            self.failures += 1
            first = self._open_until is None
            self._open_until = self.clock() + self.window
            self._probing = False
            if first:
                self.opened += 1
        self._notify("failure")
        if first:  # logged once per outage, not once per request
            log.error(
                "%s unavailable (%s): not calling it for %.1f s at a time", self.name, reason, self.window
            )
            self._notify("open")

    def _notify(self, what: str) -> None:
        for observer in self.observers:
            observer(what)

    def retry_after(self) -> int:
        """Whole seconds a client should wait before trying again."""
        if self._open_until is None:
            return 1
        return max(1, int(self._open_until - self.clock() + 0.999))
