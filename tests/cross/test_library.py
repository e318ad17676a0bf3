"""The library is written consistently: each framework's own simulator says the same about each program.

This separates a slip in the library (a program written differently in one framework) from an adapter bug: the
other tests compare adapters against these references.

* Programs measured only at the end: the Qiskit, Cirq and PennyLane unitaries are equal up to a global phase, and
  the exact distributions of Qiskit, Cirq and PennyLane are equal (to 1e-9).
* Programs with feedback: PennyLane's and Cirq's exact distributions (both by deferred measurement) are equal, and
  the seeded samples of Aer fit them (chi-square goodness of fit, p > 1e-4).
* Every distribution depends on the bit order unless the program is symmetric (GHZ, W), so that a reversed or
  permuted readout cannot go unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.cross import cases
from tests.cross.helpers import goodness_of_fit_pvalue
from tests.cross.library import Program
from tests.cross.references import UNITARIES, reference

SAMPLED_SHOTS = 4000


@pytest.mark.parametrize("program", cases.programs(feedback=False))
def test_unitaries_agree_up_to_global_phase(program: Program) -> None:
    unitaries = {name: build(program) for name, build in UNITARIES.items()}
    base = unitaries["qiskit"]
    for name, u in unitaries.items():
        m = base @ u.conj().T
        assert np.allclose(m, m[0, 0] * np.eye(len(m)), atol=1e-9), f"{name} differs from qiskit"


@pytest.mark.parametrize("program", cases.programs())
def test_reference_distributions_agree(program: Program) -> None:
    refs = {name: reference(name, program, SAMPLED_SHOTS) for name in ("qiskit", "cirq", "pennylane")}
    exact = {name: r.values for name, r in refs.items() if r.exact}
    assert "pennylane" in exact
    base = exact["pennylane"]
    assert np.isclose(base.sum(), 1.0)
    for name, ref in refs.items():
        if ref.exact:
            assert np.allclose(ref.values, base, atol=1e-9), f"{name} differs from pennylane"
        else:
            assert ref.values.sum() == SAMPLED_SHOTS
            assert goodness_of_fit_pvalue(ref.values, base) > 1e-4, f"{name} samples do not fit"


@pytest.mark.parametrize("program", cases.programs())
def test_distribution_reveals_the_bit_order(program: Program) -> None:
    probabilities = reference("pennylane", program, 0).values
    width = len(program.clbits)
    reversed_order = probabilities.reshape((2,) * width).transpose(range(width)[::-1]).reshape(-1)
    symmetric = program.body in ("bell", "ghz3", "ghz4", "ghz5", "w3")
    assert np.allclose(reversed_order, probabilities) == symmetric
