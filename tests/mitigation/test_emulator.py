"""Mitigation end to end on the noisy emulator (garnet20: depolarising gates, readout errors, T1/T2 while idle; fixed
seeds): every variant of a batch goes out in one job, and the mitigated estimates are several times closer to the
exact values than the unmitigated ones run in the same job.

The benchmarks: a 5-qubit GHZ state's parity ⟨X⊗5⟩ (exact 1), its ZZ stabilisers Σ⟨Z_i Z_i+1⟩ (exact 4) and
⟨Z⊗5⟩ (exact 0 — noise leaves it at 0, so there is no error to shrink: the estimate must only stay consistent with
it), and the energy of a 4-qubit transverse-field Ising ansatz (exact from the state vector).
"""

from __future__ import annotations

from typing import Any

import pytest

import qaas_core as q
from qaas_core.mitigation import (
    DynamicalDecoupling,
    Fold,
    Linear,
    MitigationPlan,
    Pipeline,
    ReadoutMitigation,
    Richardson,
    Twirl,
    run_mitigated,
)
from tests.mitigation.helpers import ISING, ghz, ising_ansatz
from tests.mitigation.statevector import expectation

GHZ_OBSERVABLES = ["XXXXX", "ZZZZZ", {"ZZIII": 1.0, "IZZII": 1.0, "IIZZI": 1.0, "IIIZZ": 1.0}]
SHOTS = 1000


@pytest.fixture
def qaas_emulator_settings() -> dict[str, Any]:
    return {"device": "garnet20", "noise": True, "seed": 11}


def exact(circuit: q.Circuit, observable: str | dict[str, float]) -> float:
    terms = {observable: 1.0} if isinstance(observable, str) else observable
    return sum(c * expectation(circuit, t) for t, c in terms.items())


def test_benchmarks_in_one_job(qaas_emulator: q.QaasClient) -> None:
    client = qaas_emulator
    cal = client.calibration()
    zne = Pipeline([Twirl(4), Fold([1, 3, 5]), ReadoutMitigation()], extrapolate=Richardson())
    circuits = [ghz(), ghz(), ising_ansatz(), ising_ansatz()]
    observables: list[Any] = [GHZ_OBSERVABLES, GHZ_OBSERVABLES, [ISING], [ISING]]
    pipelines = [Pipeline(), zne, Pipeline(), zne]  # each benchmark unmitigated and mitigated, side by side
    planned = MitigationPlan.build(circuits, observables, pipelines=pipelines, calibration=cal)
    jobs = len(client.jobs(limit=None))
    result = run_mitigated(client, circuits, observables, SHOTS, pipelines=pipelines)
    assert len(client.jobs(limit=None)) == jobs + 1  # every variant of every circuit: one job
    assert result.job is not None and result.job.report is not None
    assert result.job.report.circuits == len(planned.circuits) == result.circuits == 52
    report = {}
    for k in (0, 2):
        for j, obs in enumerate(observables[k]):
            truth = exact(circuits[k], obs)
            plain, mitigated = result[k][j], result[k + 1][j]
            report[k, j] = (truth, plain.value, mitigated.value, mitigated.stderr)
            assert mitigated.metadata["stages"] == zne.labels and plain.metadata["stages"] == []
            # the unmitigated value of the mitigated circuit's own scale-1 variants agrees with the plain run
            assert abs(mitigated.raw - plain.value) < 4 * (mitigated.raw_stderr**2 + plain.stderr**2) ** 0.5
            if abs(truth) < 1e-9:  # <Z x5>: nothing to mitigate, only to stay consistent
                assert abs(mitigated.value) < 3 * mitigated.stderr and abs(plain.value) < 3 * plain.stderr
            else:
                assert abs(mitigated.value - truth) * 3 <= abs(plain.value - truth), report[k, j]
                assert abs(mitigated.value - truth) < 3 * mitigated.stderr, report[k, j]
    print("\n(truth, unmitigated, mitigated, stderr):", report)


def test_measured_readout_and_decoupling_in_the_same_job(qaas_emulator: q.QaasClient) -> None:
    pipeline = Pipeline([Twirl(2), Fold([1, 3]), DynamicalDecoupling(), ReadoutMitigation("measured")],
                        extrapolate=Linear())  # fmt: skip
    circuit = ghz()
    jobs = len(qaas_emulator.jobs(limit=None))
    result = run_mitigated(qaas_emulator, circuit, ["XXXXX", "ZZZZZ"], SHOTS, pipeline=pipeline)
    assert len(qaas_emulator.jobs(limit=None)) == jobs + 1
    assert result.circuits == 2 * 2 * 2 + 2  # two bases x two twirls x two scales, and the readout pair
    x, z = result[0]
    assert x.metadata["readout"] == "measured" and x.metadata["stages"][2] == "dd(XY4)"
    assert abs(x.value - 1.0) * 2 <= abs(x.raw - 1.0)
    assert abs(z.value) < 3 * z.stderr
