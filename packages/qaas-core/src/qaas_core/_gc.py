"""Building large batches fast: the cyclic garbage collector paused while many small, acyclic objects are made."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch of circuits is built.

    A batch of a thousand circuits is about a million small objects (instructions, their argument dicts, the
    front end's own objects). Every few hundred allocations trigger collections whose older generations traverse
    every live object of the process (a quantum framework's included): up to half the time of a large conversion,
    most of a sweep's. Nothing a conversion builds forms reference cycles, so nothing is left for the collector. It is
    re-enabled on exit if it was enabled; nesting is harmless.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
