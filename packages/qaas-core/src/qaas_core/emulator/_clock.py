"""A wall clock that moves only when told, so tests advance past token and session lifetimes instead of sleeping."""

from __future__ import annotations

import threading
import time

__all__ = ["FakeClock"]


class FakeClock:
    """A stand-in for ``time.time``: call it for the time, :meth:`advance` it to let time pass (thread-safe).

    Give the same clock to the emulator (``EmulatorConfig(clock=...)``, ``QaasClient.emulator(clock=...)``) and to
    the client's token manager, and both agree on when a token, a refresh token, a device code or a HEAppE session
    code expires. Only expiry and validity follow it: the emulated QPU's queue and processing times and the cluster's
    processes keep real time.

    Args:
        start: the time it shows first, in epoch seconds. Default: the real time now, so that tokens carry
            plausible ``iat`` and ``exp`` claims.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (negative: the clock is set back, as a wall clock can be). Fits where a ``sleep``
        function is expected, e.g. ``TokenManager.complete_device_flow(..., sleep=clock.advance)``."""
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"<FakeClock {self():.3f}>"
