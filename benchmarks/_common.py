"""Helpers shared by the benchmark scripts: timing with repeats, and a result row with its spread."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["median_figure", "timings"]


def timings(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median_figure(name: str, samples: list[float], unit: str, target: str = "", **extra: Any) -> dict[str, Any]:
    """A result row: the median of ``samples``, their spread, and how busy the machine was."""
    extra.setdefault("load_average", round(os.getloadavg()[0], 2))  # the machine may be shared: say how busy it was
    return {
        "name": name,
        "value": round(statistics.median(samples), 4),
        "unit": unit,
        "repeats": len(samples),
        "spread": [round(min(samples), 4), round(max(samples), 4)],
        "target": target,
        **extra,
    }
