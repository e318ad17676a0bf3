"""Test cases of the cross-framework suite: programs × front ends, and the adapter bugs known to break some.

A pair hit by a known adapter bug is marked ``xfail(strict=True)`` (the project runs with ``xfail_strict``): it
still runs, it must still fail, and it turns the suite red the moment the bug is fixed, so the mark cannot outlive
the bug.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any, Final

import pytest

import qaas_core as q
from tests.cross.frontends import FRONT_ENDS
from tests.cross.library import PROGRAMS, Program

__all__ = ["KNOWN_ADAPTER_BUGS", "front_end_pairs", "program_front_ends", "programs"]

KNOWN_ADAPTER_BUGS: Final[dict[tuple[str, str], str]] = {}
"""``(front end, program) -> why it fails`` (the adapter raises a ``qaas_core.ValidationError`` for it)."""


def _marks(pairs: Iterable[tuple[str, str]]) -> list[Any]:
    reasons = [KNOWN_ADAPTER_BUGS[pair] for pair in pairs if pair in KNOWN_ADAPTER_BUGS]
    # raises: any other failure of the pair is a real failure, not the known bug
    return [pytest.mark.xfail(reason=reasons[0], raises=q.ValidationError, strict=True)] if reasons else []


def programs(*, feedback: bool | None = None) -> list[Any]:
    """One case per program (only those with or without feedback, if given)."""
    return [pytest.param(p, id=p.name) for p in _select(feedback, None)]


def program_front_ends(*, feedback: bool | None = None, device: str | None = None) -> list[Any]:
    """One case per (program, front end)."""
    return [
        pytest.param(p, fe.name, id=f"{p.name}-{fe.name}", marks=_marks([(fe.name, p.name)]))
        for p in _select(feedback, device)
        for fe in FRONT_ENDS
    ]


def front_end_pairs(*, feedback: bool | None = None) -> list[Any]:
    """One case per (program, two different front ends)."""
    return [
        pytest.param(
            p, a.name, b.name, id=f"{p.name}-{a.name}-{b.name}", marks=_marks([(a.name, p.name), (b.name, p.name)])
        )
        for p in _select(feedback, None)
        for a, b in combinations(FRONT_ENDS, 2)
    ]


def _select(feedback: bool | None, device: str | None) -> list[Program]:
    return [
        p
        for p in PROGRAMS
        if (feedback is None or bool(p.feedback) == feedback) and (device is None or p.device == device)
    ]
