"""Every library program through every front end: one job per front end and device, submitted in a fixed order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeAlias

import qaas_core as q
from tests.cross.frontends import FRONT_ENDS, Counts
from tests.cross.library import PROGRAMS

__all__ = ["SHOTS", "Outcome", "run_everything"]

SHOTS: Final = 4000
"""Shots per circuit and front end."""

Outcome: TypeAlias = Counts | q.QaasError
"""What a front end produced for a program: canonical counts, or the error that stopped it before any job."""


def run_everything(clients: Mapping[str, q.QaasClient]) -> dict[tuple[str, str], Outcome]:
    """``(front end, program) -> outcome`` of every program, on the client of its device.

    Front ends run one after the other, each with one job per device, waiting for each result before the next
    submission: the emulator seeds its ``n``-th job with ``seed + n``, so a fixed order makes every count
    reproducible. A program that a front end cannot compile is left out of that front end's job and its error is
    kept in its place.
    """
    out: dict[tuple[str, str], Outcome] = {}
    for fe in FRONT_ENDS:
        for device, client in clients.items():
            runnable = []
            for p in (p for p in PROGRAMS if p.device == device):
                try:
                    fe.native(p, client.calibration())
                except q.QaasError as exc:
                    out[fe.name, p.name] = exc
                else:
                    runnable.append(p)
            if runnable:
                for p, counts in zip(runnable, fe.run(runnable, client, SHOTS), strict=True):
                    out[fe.name, p.name] = counts
    return out
