"""Observables: Pauli sums on measured bits, grouping by measurement basis, the basis change before measurement."""

from __future__ import annotations

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import PauliSum, measurement_bases, with_basis
from tests.mitigation.helpers import ISING, TRIANGLE, ghz, random_circuit
from tests.mitigation.statevector import expectation


def test_pauli_sum() -> None:
    h = PauliSum({"ZZ": 1.0, "II": 0.5, "XI": -0.25})
    assert h.terms == {"ZZ": 1.0, "XI": -0.25} and h.constant == 0.5 and h.width == 2
    assert PauliSum({"XY": 1 + 0j}).terms == {"XY": 1.0}
    assert PauliSum({"XY": 1.0, "ZZ": 0.0}).terms == {"XY": 1.0}
    cases: list[tuple[dict[str, complex], str]] = [
        ({}, "at least one"), ({"XZ": 1, "X": 1}, "length"), ({"XA": 1}, "letters"), ({"XX": 1j}, "Hermitian"),
    ]  # fmt: skip
    for bad, match in cases:
        with pytest.raises(q.ValidationError, match=match):
            PauliSum(bad)


def test_grouping_by_qubit_wise_commuting_bases() -> None:
    groups = measurement_bases(ISING)
    assert sorted(b for b, _ in groups) == ["XXXX", "ZZZZ"]
    for basis, members in groups:
        for term in members:
            assert all(t in ("I", b) for t, b in zip(term, basis, strict=True))
    assert sorted(t for _, m in groups for t in m) == sorted(ISING)
    assert len(measurement_bases(["XX", "YY", "ZZ", "XI", "IY"])) == 3
    assert measurement_bases(["IIZ", "ZII"]) == [("ZZZ", ("IIZ", "ZII"))]


@pytest.mark.parametrize("seed", range(3))
def test_basis_change_measures_x_and_y(seed: int) -> None:
    c = random_circuit(np.random.default_rng(seed))
    for term in ("XYZ", "YIX", "XXX", "ZYY"):
        basis = "".join("Z" if t == "I" else t for t in term)
        rotated = with_basis(c, basis)
        z_term = "".join("I" if t == "I" else "Z" for t in term)
        assert expectation(rotated, z_term) == pytest.approx(expectation(c, term), abs=1e-12)
    assert with_basis(c, "ZZZ") is c


def test_basis_change_needs_final_measurements() -> None:
    a, b = TRIANGLE[:2]
    c = q.Circuit("mid", (q.prx(a, 1.0, 0.0), q.measure(a, key="x"), q.cz(a, b), q.measure(b, key="y")))
    assert with_basis(c, "ZX").instructions[-2] == q.prx(b, np.pi / 2, -np.pi / 2)
    with pytest.raises(q.CircuitError, match="final") as err:
        with_basis(c, "XZ")
    assert err.value.index == 2
    with pytest.raises(q.CircuitError, match="covers 3"):
        with_basis(ghz(), "XXX")
