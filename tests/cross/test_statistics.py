"""Every program through every front end on the shared noiseless emulators: the results agree statistically.

Each front end's job (one per front end and device, :mod:`tests.cross.runs`, 4,000 shots per circuit)
is mapped to canonical counts — one character per classical bit, bit 0 leftmost — by the front end's documented
bit-order contract (``docs/bit-order.md``), and checked

(a) against that framework's own simulator (:mod:`tests.cross.references`): Pearson chi-square goodness of fit
    to the exact probabilities where the simulator gives them (outcomes with expected count < 5 pooled; an
    impossible outcome observed fails outright), otherwise a two-sample chi-square homogeneity test against
    4,000 seeded reference samples (outcomes seen < 10 times in both pooled);
(b) against every other front end: two-sample chi-square homogeneity.

Threshold: p > 1e-4, p from the Wilson–Hilferty approximation of the chi-square tail. All seeds are fixed (the
emulators, the reference samplers, the Qiskit transpiler), so the suite is deterministic; with about 100 such
tests, a correct implementation fails one by chance with probability about 1 % for a given set of seeds.

A wrong bit order does not pass. Tried once: with ``bits`` instead of ``bits[::-1]`` in
``frontends._qiskit_run`` (Qiskit's bitstring read as if clbit 0 were leftmost), 23 tests fail —
``test_matches_own_reference[{qft3,grover2,clifford4,ansatz4,teleport,star2}-qiskit]`` with p = 0 (outcomes the
reference calls impossible, or underflow) and the 17 ``test_front_ends_agree`` pairs of those programs with Qiskit
(the teleport pair with Cirq is the known Cirq bug) with p between 0 and 4e-137. Only the symmetric programs
(Bell, GHZ) cannot tell, which test_library asserts.
"""

from __future__ import annotations

import numpy as np
import pytest

import qaas_core as q
from tests.cross import cases
from tests.cross.frontends import FRONT_ENDS
from tests.cross.helpers import goodness_of_fit_pvalue, homogeneity_pvalue, outcome_vector
from tests.cross.library import PROGRAMS, Program
from tests.cross.references import reference
from tests.cross.runs import SHOTS, Outcome

P_MIN = 1e-4


def _counts(outcome: Outcome, width: int) -> np.ndarray:
    if isinstance(outcome, q.QaasError):
        raise outcome
    vector = outcome_vector(outcome, width)
    assert vector.sum() == SHOTS
    return vector


@pytest.mark.parametrize(("program", "front"), cases.program_front_ends())
def test_matches_own_reference(runs: dict[tuple[str, str], Outcome], program: Program, front: str) -> None:
    observed = _counts(runs[front, program.name], len(program.clbits))
    ref = reference(front, program, SHOTS)
    p = goodness_of_fit_pvalue(observed, ref.values) if ref.exact else homogeneity_pvalue(observed, ref.values)
    assert p > P_MIN, f"{front} on the emulator vs its own simulator: p = {p:.3g}"


@pytest.mark.parametrize(("program", "a", "b"), cases.front_end_pairs())
def test_front_ends_agree(runs: dict[tuple[str, str], Outcome], program: Program, a: str, b: str) -> None:
    width = len(program.clbits)
    p = homogeneity_pvalue(_counts(runs[a, program.name], width), _counts(runs[b, program.name], width))
    assert p > P_MIN, f"{a} vs {b}: p = {p:.3g}"


def test_one_job_per_front_end_and_device(
    runs: dict[tuple[str, str], Outcome], clients: dict[str, q.QaasClient]
) -> None:
    for device, client in clients.items():
        entries = client.ledger.list(limit=None)
        frameworks = sorted(e.meta.get("framework", "") for e in entries)
        assert frameworks == sorted(fe.name for fe in FRONT_ENDS), device
        for entry in entries:
            batch = [
                p
                for p in PROGRAMS
                if p.device == device and not isinstance(runs[entry.meta["framework"], p.name], q.QaasError)
            ]
            assert entry.circuits == len(batch) and entry.shots == SHOTS
