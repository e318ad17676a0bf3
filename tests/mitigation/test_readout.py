"""Readout mitigation: the tensored inverse on synthetic counts, the per-shot parity weights, the simplex fix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import (
    ReadoutMitigation,
    ReadoutModel,
    mitigate_counts,
    nearest_probability,
    quasi_probabilities,
    readout_calibration_circuits,
)
from qaas_core.mitigation._pauli import parity_values
from qaas_core.mitigation._readout import outcome_matrix
from tests.mitigation.helpers import GARNET

QUBITS = ("QB1", "QB2", "QB3")
MODEL = ReadoutModel({"QB1": (0.02, 0.05), "QB2": (0.10, 0.03), "QB3": (0.0, 0.2)})


def confusion(model: ReadoutModel, qubits: tuple[str, ...]) -> np.ndarray:
    a = np.eye(1)
    for qubit in qubits:
        a = np.kron(a, model.matrix(qubit))
    return a


def as_counts(p: np.ndarray, shots: int) -> dict[str, int]:
    n = int(np.log2(p.size))
    return {format(i, f"0{n}b"): round(x * shots) for i, x in enumerate(p) if round(x * shots)}


def test_inverse_recovers_the_distribution() -> None:
    rng = np.random.default_rng(0)
    ideal = rng.dirichlet(np.ones(8))
    read = confusion(MODEL, QUBITS) @ ideal
    counts = as_counts(read, 10**9)  # expected counts, rounded
    assert np.allclose(quasi_probabilities(counts, QUBITS, MODEL), ideal, atol=1e-8)
    mitigated = mitigate_counts(counts, QUBITS, MODEL)
    assert sum(mitigated.values()) == pytest.approx(1.0)
    assert np.allclose([mitigated.get(format(i, "03b"), 0.0) for i in range(8)], ideal, atol=1e-8)


def test_positivity_fix_on_sampled_counts() -> None:
    ideal = np.zeros(8)
    ideal[0] = ideal[7] = 0.5  # GHZ-like: six outcomes have probability 0, so the inverse goes negative
    rng = np.random.default_rng(1)
    read = confusion(MODEL, QUBITS) @ ideal
    counts = {format(i, "03b"): int(c) for i, c in enumerate(rng.multinomial(2000, read)) if c}
    quasi = quasi_probabilities(counts, QUBITS, MODEL)
    assert quasi.min() < 0 and quasi.sum() == pytest.approx(1.0)
    fixed = mitigate_counts(counts, QUBITS, MODEL)
    values = np.array([fixed.get(format(i, "03b"), 0.0) for i in range(8)])
    assert values.min() >= 0 and values.sum() == pytest.approx(1.0)
    assert np.linalg.norm(values - ideal) < np.linalg.norm(read - ideal) / 3


def test_nearest_probability_is_the_euclidean_projection() -> None:
    p = np.array([0.2, 0.3, 0.5])
    assert np.allclose(nearest_probability(p), p)
    assert np.allclose(nearest_probability(np.array([0.6, 0.5, -0.1])), [0.55, 0.45, 0.0])
    rng = np.random.default_rng(2)
    for _ in range(200):  # optimality: no random probability vector is closer
        v = rng.normal(0.25, 0.3, 4)
        v /= v.sum()
        best = nearest_probability(v)
        assert best.min() >= 0 and best.sum() == pytest.approx(1.0)
        other = rng.dirichlet(np.ones(4))
        assert np.linalg.norm(best - v) <= np.linalg.norm(other - v) + 1e-12


def test_parity_weights_are_unbiased() -> None:
    rng = np.random.default_rng(3)
    ideal = rng.dirichlet(np.ones(8))
    read = confusion(MODEL, QUBITS) @ ideal
    bits = np.array(list(itertools.product([0, 1], repeat=3)), dtype=np.uint8)
    factors = MODEL.parity_factors(QUBITS)
    for term in ("ZII", "IZI", "IIZ", "ZZI", "ZIZ", "IZZ", "ZZZ", "XYZ"):
        support = [j for j, c in enumerate(term) if c != "I"]
        exact = float(ideal @ np.prod((-1.0) ** bits[:, support], axis=1))
        assert float(read @ parity_values(bits, term, factors)) == pytest.approx(exact, abs=1e-12)
    plain = np.array([[1.0, -1.0]] * 3)
    assert np.array_equal(parity_values(bits, "ZIZ", plain), np.prod((-1.0) ** bits[:, [0, 2]], axis=1))


def test_models_from_the_calibration_and_from_counts() -> None:
    model = ReadoutModel.from_calibration(GARNET, ["QB1", "QB7"])
    assert model.errors["QB7"] == GARNET.metrics.readout_error["QB7"]
    with pytest.raises(q.ValidationError, match="no readout error for QB99"):
        ReadoutModel.from_calibration(GARNET, ["QB1", "QB99"])
    zeros, ones = readout_calibration_circuits(QUBITS)
    assert [i.name for i in zeros.instructions] == ["measure"]
    assert [i.name for i in ones.instructions] == ["prx"] * 3 + ["measure"]
    measured = ReadoutModel.from_counts({"000": 90, "100": 6, "010": 4}, {"111": 80, "011": 15, "110": 5}, QUBITS)
    expected = {"QB1": (0.06, 0.15), "QB2": (0.04, 0.0), "QB3": (0.0, 0.05)}
    assert {k: pytest.approx(v) for k, v in measured.errors.items()} == expected


def test_bad_inputs() -> None:
    with pytest.raises(q.ValidationError, match="invertible"):
        ReadoutModel({"QB1": (0.6, 0.5)})
    with pytest.raises(q.ValidationError, match="3 bits"):
        outcome_matrix({"01": 1}, 3)
    with pytest.raises(q.ValidationError, match="source"):
        ReadoutMitigation("guess")  # type: ignore[arg-type]
