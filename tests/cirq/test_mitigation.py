"""``MitigatedEstimator``: Cirq observables with the core's error mitigation, on a noisy garnet20 emulator
(depolarising gates, readout errors, T1/T2 while idle; fixed seeds).

The benchmarks of ``tests/mitigation`` written in Cirq — a 5-qubit GHZ state's parity ⟨X⊗5⟩ (exact 1) and a 4-qubit
transverse-field Ising energy (exact from the state vector) — are compiled once, then twirled and folded by the core
as native circuits and sent as they are, every variant in one job. The mitigated estimates must be at least 3×
closer to the exact values than the unmitigated ones of the same job, consistent with them within their error bars,
and the same numbers (within statistical error) as the core gives for the same circuits written natively.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import cirq
import numpy as np
import pytest

import qaas_core as q
from qaas_cirq import CirqObservable, CompiledCircuit, MitigatedEstimator, QaaSSampler
from qaas_core.mitigation import (
    Fold,
    Pipeline,
    ReadoutMitigation,
    Richardson,
    Twirl,
    is_preserved,
    run_mitigated,
)
from tests.mitigation.helpers import _ANSATZ, CHAIN4, CHAIN5, ISING, ghz, ising_ansatz
from tests.mitigation.statevector import expectation

SHOTS = 1000
ZNE = Pipeline([Twirl(4), Fold([1, 3, 5]), ReadoutMitigation()], extrapolate=Richardson())
EXACT = {
    "ghz": expectation(ghz(), "XXXXX"),
    "ising": sum(c * expectation(ising_ansatz(), t) for t, c in ISING.items()),
}


@pytest.fixture(scope="module")
def sampler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QaaSSampler]:
    root = tmp_path_factory.mktemp("noisy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QAAS_CONFIG", str(root / "no-config.toml"))
        with QaaSSampler.emulator("garnet20", noise=True, seed=11, data_dir=Path(root), timeout=300) as sampler:
            yield sampler


def jobs(sampler: QaaSSampler) -> int:
    return len(sampler.client.jobs(limit=None))


def ghz5() -> tuple[cirq.Circuit, cirq.PauliString[cirq.Qid]]:
    qubits = [cirq.NamedQubit(c) for c in CHAIN5]
    circuit = cirq.Circuit(cirq.H(qubits[0]), *(cirq.CNOT(a, b) for a, b in itertools.pairwise(qubits)))
    return circuit, cirq.PauliString(dict.fromkeys(qubits, cirq.X))


def ising() -> tuple[cirq.Circuit, cirq.PauliSum]:
    """The ansatz of tests/mitigation (RY layers, CZ layers) and H = −Σ ZZ − ½ Σ X."""
    a, b, c, d = qubits = [cirq.NamedQubit(n) for n in CHAIN4]
    circuit = cirq.Circuit()
    for layer in range(3):
        if layer:
            circuit.append([cirq.CZ(a, b), cirq.CZ(c, d), cirq.CZ(b, c)])
        circuit.append(cirq.ry(_ANSATZ[4 * layer + i])(qb) for i, qb in enumerate(qubits))
    hamiltonian = cirq.PauliSum()
    for label, coefficient in ISING.items():
        hamiltonian += cirq.PauliString({qb: getattr(cirq, p) for qb, p in zip(qubits, label, strict=True) if p != "I"},
                                        coefficient=coefficient)  # fmt: skip
    return circuit, hamiltonian


def test_ghz_and_ising_mitigated_in_one_job(sampler: QaaSSampler) -> None:
    (g, x5), (i, h) = ghz5(), ising()
    estimator = MitigatedEstimator(sampler, ZNE)
    before = jobs(sampler)
    result = estimator.estimate([g, i], [[x5], [h]], repetitions=SHOTS)
    assert jobs(sampler) == before + 1  # every basis, twirl and fold of both circuits: one job
    assert result.job is not None and result.job.report is not None
    assert result.circuits == result.job.report.circuits == 12 + 24  # GHZ: 1 basis x 4 x 3; Ising: 2 bases x 4 x 3
    report = {}
    for name, (value,) in zip(EXACT, result, strict=True):
        truth = EXACT[name]
        report[name] = (truth, value.raw, value.value, value.stderr)
        assert value.metadata["stages"] == ZNE.labels
        assert abs(value.value - truth) * 3 <= abs(value.raw - truth), report
        assert abs(value.value - truth) < 3 * value.stderr, report
    print("\n(exact, raw, mitigated, stderr):", report)
    # sent as the core made them: marked preserve, the GHZ's 4 CZs folded to 4, 12 and 20 CZs, no re-synthesis
    request = result.job.request()
    assert request is not None and all(is_preserved(c) for c in request.circuits)
    ghz_czs = sorted({sum(inst.name == "cz" for inst in c.instructions) for c in request.circuits[:12]})
    assert ghz_czs == [4, 12, 20]
    # the same numbers as the core gives for the same benchmarks written natively (another job, same pipeline)
    core = run_mitigated(sampler.client, [ghz(), ising_ansatz()], [["XXXXX"], [ISING]], SHOTS, pipeline=ZNE)
    for (mine,), (native,) in zip(result, core, strict=True):
        spread = math.hypot(mine.stderr, native.stderr)
        assert abs(mine.value - native.value) < 3 * spread, (mine.value, native.value, spread)


def test_frames_compile_modes_and_compiled_circuits(sampler: QaaSSampler) -> None:
    """A state whose phase compilation leaves in a virtual Z (S after H: ⟨Y⟩ = 1), on line qubits the compiler places,
    in both compile modes, as a CompiledCircuit and as a native circuit; readout mitigation only, one job each."""
    a, b = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(a), cirq.S(a), cirq.H(b), cirq.measure(a, b, key="m"))

    def observables_on(a: cirq.Qid, b: cirq.Qid) -> list[CirqObservable]:
        return [cirq.Y(a), cirq.X(b), cirq.Y(a) * cirq.X(b), 0.5 * cirq.Z(a) * cirq.Z(b) + cirq.PauliString(0.25)]

    observables = observables_on(a, b)
    expected = np.array([1.0, 1.0, 1.0, 0.25])
    compiled = sampler.device.compile(circuit[:-1])
    on_device = observables_on(compiled.final_mapping[a], compiled.final_mapping[b])
    runs: list[tuple[MitigatedEstimator, cirq.AbstractCircuit | CompiledCircuit, list[CirqObservable]]] = [
        (MitigatedEstimator(sampler), circuit, observables),
        (MitigatedEstimator(sampler, compile="faithful"), circuit, observables),
        (MitigatedEstimator(sampler), compiled, observables),
        (MitigatedEstimator(sampler, compile=False), compiled.circuit, on_device),
    ]
    for estimator, program, obs in runs:
        before = jobs(sampler)
        values = estimator.estimate(program, obs, repetitions=2000)[0]
        assert jobs(sampler) == before + 1
        got = np.array([v.value for v in values])
        errors = np.array([v.stderr for v in values])
        assert np.all(np.abs(got - expected) < 4 * errors + 0.03), (got, errors)
        assert values[0].metadata["stages"] == ["readout(calibration)"]


def test_invalid_input_is_refused_before_anything_is_sent(sampler: QaaSSampler) -> None:
    a, b = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.H(a), cirq.CNOT(a, b))
    estimator = MitigatedEstimator(sampler)
    before = jobs(sampler)
    with pytest.raises(q.ValidationError, match=r"PauliString or cirq\.PauliSum"):
        estimator.estimate(circuit, [cirq.Z(a) ** 0.5])
    with pytest.raises(q.ValidationError, match="complex"):
        estimator.estimate(circuit, [1j * cirq.Z(a)])
    with pytest.raises(q.ValidationError, match="observable entries"):
        estimator.estimate([circuit, circuit], [[cirq.Z(a)]])
    with pytest.raises(q.ValidationError, match="compiled with measurements"):
        estimator.estimate(sampler.device.compile(circuit + cirq.measure(a, b)), [cirq.X(a)])
    with pytest.raises(q.ValidationError, match="unknown compile mode"):
        MitigatedEstimator(sampler, compile="resynthesize")  # type: ignore[arg-type]
    with pytest.raises(q.ValidationError, match="Pipeline"):
        MitigatedEstimator(sampler, [Fold([1, 3])])  # type: ignore[arg-type]
    assert jobs(sampler) == before
