"""Unitary folding on native gates: the folded circuit is the same unitary, with the noise scale it reports."""

from __future__ import annotations

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import Fold, fold_global, fold_local, is_preserved
from qaas_core.mitigation._folding import gate_weights
from qaas_core.mitigation._stage import Context
from tests.mitigation.helpers import GARNET, TRIANGLE, random_circuit
from tests.mitigation.statevector import same_up_to_phase, unitary

SCALES = (1.0, 1.4, 2.0, 3.0, 3.7, 5.0, 7.0)


def gates(circuit: q.Circuit, *names: str) -> int:
    return sum(i.name in (names or ("prx", "cz", "move")) for i in circuit.instructions)


@pytest.mark.parametrize("seed", range(4))
def test_folded_circuits_are_the_same_unitary(seed: int) -> None:
    circuit = random_circuit(np.random.default_rng(seed))
    u = unitary(circuit, TRIANGLE)
    for scale in SCALES:
        for folded, _ in (
            fold_global(circuit, scale, calibration=GARNET),
            fold_local(circuit, scale, calibration=GARNET),
            fold_local(circuit, scale, gates="cz", calibration=GARNET),
            fold_global(circuit, scale),
        ):
            assert same_up_to_phase(unitary(folded, TRIANGLE), u), scale
            assert is_preserved(folded)
            assert folded.instructions[-1] == circuit.instructions[-1]  # measurements stay last


def test_scale_by_gate_count_without_calibration() -> None:
    circuit = random_circuit(np.random.default_rng(9))
    n = gates(circuit)
    for scale in SCALES:
        folded, achieved = fold_global(circuit, scale)
        assert achieved == pytest.approx(gates(folded) / n)
        assert abs(achieved - scale) <= 1.0 / n + 1e-12  # the nearest the suffix allows
        folded, achieved = fold_local(circuit, scale)
        assert achieved == pytest.approx(gates(folded) / n)
        assert abs(achieved - scale) <= 1.0 / n + 1e-12
    folded, achieved = fold_local(circuit, 3.0, gates="cz")
    assert gates(folded, "cz") == 3 * gates(circuit, "cz")
    assert gates(folded, "prx") == gates(circuit, "prx")
    assert achieved == pytest.approx(gates(folded) / n)


def test_scale_by_calibrated_error() -> None:
    circuit = random_circuit(np.random.default_rng(4))
    w = gate_weights(circuit.instructions, GARNET)
    assert w.sum() > 0 and w[-1] == 0.0  # measure weighs nothing
    cz_error = GARNET.error("cz", ("QB1", "QB2"))
    assert cz_error is not None
    assert cz_error in w
    total = w.sum()
    _, achieved = fold_local(circuit, 3.0, gates="cz", calibration=GARNET)
    cz_weight = sum(wi for wi, i in zip(w, circuit.instructions, strict=True) if i.name == "cz")
    assert achieved == pytest.approx((total + 2 * cz_weight) / total)  # prx errors do not grow
    assert 1.0 < achieved < 3.0
    assert fold_global(circuit, 5.0, calibration=GARNET)[1] == pytest.approx(5.0)


def test_global_folding_needs_a_unitary_body_local_does_not() -> None:
    mid = q.Circuit("mid", (q.prx("QB1", 1.0, 0.0), q.measure("QB1", key="a"), q.prx("QB1", 1.0, 0.0),
                            q.cz("QB1", "QB2"), q.measure("QB1", "QB2", key="b")))  # fmt: skip
    with pytest.raises(q.CircuitError, match="method='local'") as err:
        fold_global(mid, 3.0)
    assert err.value.index == 1
    folded, achieved = fold_local(mid, 3.0)
    assert achieved == 3.0
    assert [i.name for i in folded.instructions] == ["prx"] * 3 + ["measure"] + ["prx"] * 3 + ["cz"] * 3 + ["measure"]


def test_bad_scales_and_options() -> None:
    c = random_circuit(np.random.default_rng(0))
    for bad in (0.5, float("nan"), float("inf")):
        with pytest.raises(q.ValidationError, match=">= 1"):
            fold_global(c, bad)
    with pytest.raises(q.ValidationError, match="distinct"):
        Fold([1, 3, 3])
    with pytest.raises(q.ValidationError, match="method='local'"):
        Fold([1, 3], gates="cz")
    with pytest.raises(q.ValidationError, match="at least one"):
        Fold([])


def test_fold_stage_labels_each_variant() -> None:
    c = random_circuit(np.random.default_rng(1))
    variants = Fold([1, 3, 5], method="local", gates="cz").expand(c, Context(GARNET, (0,)))
    assert [v.labels["scale"] for v in variants] == [1.0, 3.0, 5.0]
    achieved = [v.labels["noise_scale"] for v in variants]
    assert achieved[0] == 1.0 and achieved == sorted(achieved)
