"""Pipelines and plans: what a batch expands into, and estimates whose error bars match their spread.

The statistical tests draw counts from known distributions — each variant's exact output, depolarised in proportion
to its noise scale, then read through the calibration's readout errors — so the mitigated estimate must be unbiased
and its reported standard error must match the spread over many draws.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import (
    MITIGATION_KEY,
    DynamicalDecoupling,
    Exponential,
    Fold,
    Linear,
    MitigationPlan,
    Pipeline,
    ReadoutMitigation,
    ReadoutModel,
    Richardson,
    Twirl,
    is_preserved,
)
from tests.mitigation.helpers import GARNET, TRIANGLE, ghz
from tests.mitigation.statevector import expectation, run

GHZ3 = ghz(TRIANGLE, "ghz3")
MIXED = {"ZZI": 0.5, "IZZ": 0.5, "XXX": 0.3, "III": 0.2}


def test_pipeline_rules() -> None:
    for stages, kwargs, match in [
        ([Twirl(2), Twirl(3)], {}, "once"),
        ([DynamicalDecoupling(), Fold([1, 3])], {"extrapolate": Linear()}, "after"),
        ([Fold([1, 3])], {}, "extrapolate"),
        ([Twirl(2)], {"extrapolate": Linear()}, "Fold"),
        ([Fold([1, 3])], {"extrapolate": Exponential(None)}, "at least 3"),
        (["twirl"], {}, "not a mitigation stage"),
    ]:
        with pytest.raises(q.ValidationError, match=match):
            Pipeline(stages, **kwargs)  # type: ignore[arg-type]
    p = Pipeline([Twirl(2), Fold([1, 3]), DynamicalDecoupling(), ReadoutMitigation()], extrapolate=Linear())
    assert p.labels == ["twirl(2)", "fold(global; 1, 3)", "dd(XY4)", "readout(calibration)", "extrapolate(linear)"]


def test_plan_expands_every_circuit_into_one_batch() -> None:
    zne = Pipeline([Twirl(3), Fold([1, 3, 5]), ReadoutMitigation("measured")], extrapolate=Richardson())
    plan = MitigationPlan.build([GHZ3, GHZ3], [["XXX", MIXED], "ZZZ"], pipelines=[zne, Pipeline()], calibration=GARNET)
    # circuit 0: two bases (XXX; ZZI, IZZ) x 3 twirls x 3 scales; circuit 1: one basis; readout: |000>, |111>
    assert len(plan.circuits) == 2 * 3 * 3 + 1 + 2
    assert len({c.name for c in plan.circuits}) == len(plan.circuits)
    assert all(is_preserved(c) for c in plan.circuits[:-2])
    labels = [c.metadata[MITIGATION_KEY] for c in plan.circuits[:-2]]  # type: ignore[index]
    assert {(x["basis"], x["twirl"], x["scale"]) for x in labels[:18]} == {
        (b, t, s) for b in ("XXX", "ZZZ") for t in range(3) for s in (1.0, 3.0, 5.0)
    }
    assert labels[18] == {"circuit": 1, "basis": "ZZZ", "preserve": True}
    assert [c.name for c in plan.circuits[-2:]] == ["qaas-readout|0", "qaas-readout|1"]
    q.validate_circuits(plan.circuits, GARNET)
    single = MitigationPlan.build(GHZ3, "XXX", calibration=GARNET)  # one circuit, one observable
    assert len(single.circuits) == 1


def test_plan_refusals() -> None:
    for args, kwargs, match in [
        (([GHZ3], ["XX"]), {}, "3 bit"),
        (([GHZ3], ["XXX", "ZZZ"]), {}, "observable entries"),
        (([GHZ3], "XXX"), {}, "one entry"),
        (([GHZ3], ["XXX"]), {"pipeline": Pipeline(), "pipelines": [Pipeline()]}, "not both"),
        (([GHZ3], ["XXX"]), {"pipelines": []}, "pipelines"),
        (([GHZ3], [[]]), {}, "at least one observable"),
    ]:
        with pytest.raises(q.ValidationError, match=match):
            MitigationPlan.build(*args, calibration=GARNET, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(q.ValidationError, match="needs the calibration"):
        MitigationPlan.build([GHZ3], ["XXX"])
    plan = MitigationPlan.build([GHZ3], ["XXX"], calibration=GARNET)
    with pytest.raises(q.ValidationError, match="counts of 2"):
        plan.estimate([{"000": 1}, {"000": 1}])


# -- statistics on synthetic counts ---------------------------------------------------------------------------------

EPS = 0.04  # depolarising strength per unit of noise scale


def distribution(circuit: q.Circuit, model: ReadoutModel) -> np.ndarray:
    """Exact output, depolarised by EPS x noise scale, read through ``model``."""
    qubits = [c for i in circuit.instructions if i.name == "measure" for c in i.locus]
    ideal = np.abs(run(circuit, qubits)) ** 2
    record = (circuit.metadata or {}).get(MITIGATION_KEY, {})
    strength = EPS * float(record.get("noise_scale", 1.0)) if not circuit.name.startswith("qaas-readout") else 0.0
    p = (1 - strength) * ideal + strength / ideal.size
    a = np.eye(1)
    for qubit in qubits:
        a = np.kron(a, model.matrix(qubit))
    out: np.ndarray = a @ p
    return out


def draw(plan: MitigationPlan, probs: list[np.ndarray], shots: int, rng: np.random.Generator) -> list[dict[str, int]]:
    out = []
    for p in probs:
        n = int(np.log2(p.size))
        out.append({format(i, f"0{n}b"): int(c) for i, c in enumerate(rng.multinomial(shots, p / p.sum())) if c})
    return out


def exact(circuit: q.Circuit, observable: str | Mapping[str, float]) -> float:
    terms = {observable: 1.0} if isinstance(observable, str) else observable
    return sum(c * (1.0 if set(t) == {"I"} else expectation(circuit, t)) for t, c in terms.items())


def test_estimates_are_unbiased_with_honest_error_bars() -> None:
    model = ReadoutModel.from_calibration(GARNET, TRIANGLE)
    pipelines = [
        Pipeline([Twirl(2), Fold([1, 3]), ReadoutMitigation()], extrapolate=Linear()),
        Pipeline([Fold([1, 2, 3]), ReadoutMitigation("measured")], extrapolate=Richardson()),
        Pipeline([Twirl(2), ReadoutMitigation()]),
    ]
    observables: list[list[str | dict[str, float]]] = [["XXX", MIXED]] * 3
    plan = MitigationPlan.build([GHZ3] * 3, observables, pipelines=pipelines, calibration=GARNET)
    probs = [distribution(c, model) for c in plan.circuits]
    rng = np.random.default_rng(11)
    runs = [plan.estimate(draw(plan, probs, 1000, rng)) for _ in range(300)]
    for i in range(3):
        for j, obs in enumerate(observables[i]):
            values = np.array([r[i][j].value for r in runs])
            errors = np.array([r[i][j].stderr for r in runs])
            truth = exact(GHZ3, obs)
            if i < 2:  # depolarising linear in the scale: these extrapolations are exact in expectation
                assert abs(values.mean() - truth) < 4 * values.std() / np.sqrt(len(values)), (i, j)
            else:  # readout corrected, at the circuit's own noise
                assert values.mean() == pytest.approx(truth * (1 - EPS) + (0.2 * EPS if j else 0.0), abs=0.01)
            assert values.std() / errors.mean() == pytest.approx(1.0, abs=0.15), (i, j)
            raw = np.array([r[i][j].raw for r in runs])
            assert raw.std() / np.mean([r[i][j].raw_stderr for r in runs]) == pytest.approx(1.0, abs=0.15)
    first = runs[0][0][0]
    assert first.metadata["stages"] == pipelines[0].labels
    assert first.metadata["circuits"] == 2 * 2 * 2 and first.metadata["shots"] == 8000
    assert first.metadata["noise_scales"] == pytest.approx([1.0, 3.0])
    assert len(first.metadata["scaled_values"]) == 2 == len(first.metadata["scaled_stderr"])
    # the readout correction is what moves the values: raw is biased towards zero
    assert np.mean([r[2][0].raw for r in runs]) < np.mean([r[2][0].value for r in runs]) - 0.05


def test_empty_pipeline_is_the_plain_parity() -> None:
    plan = MitigationPlan.build([GHZ3], [["ZZI", "XXX"]], pipeline=Pipeline(), calibration=GARNET)
    bases = [c.metadata[MITIGATION_KEY]["basis"] for c in plan.circuits]  # type: ignore[index]
    counts = [{"000": 40, "011": 10, "111": 50} if b == "ZZZ" else {"000": 30, "110": 20, "101": 50} for b in bases]
    result = plan.estimate(counts)
    zz, xxx = result[0]
    assert zz.value == zz.raw == pytest.approx((40 - 10 + 50) / 100)  # ZZI reads bits 0 and 1
    assert xxx.value == pytest.approx((30 + 20 + 50) / 100 * 1.0)
    p = 0.9
    assert zz.stderr == pytest.approx(np.sqrt((1 - (2 * p - 1) ** 2) / 100))
    assert result.circuits == 2 and result.shots == 200 and result.job is None
