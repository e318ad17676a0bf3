"""``qml.device("qaas.iqm", ..., mitigation=Pipeline(...))``: ``qml.expval`` of Pauli words and sums with the core's
error mitigation, on a noisy garnet20 emulator (depolarising gates, readout errors, T1/T2 while idle; fixed seeds).

The benchmarks of ``tests/mitigation`` written in PennyLane — a 5-qubit GHZ state's parity ⟨X⊗5⟩ (exact 1) and a
4-qubit transverse-field Ising energy (exact from the state vector) — run as one batch: every basis, twirl and fold
of both tapes in one job. The mitigated estimates must be at least 3× closer to the exact values than the unmitigated
ones of the same job, consistent with them within their error bars, and the same numbers (within statistical error)
as the core gives for the same circuits written natively on the qubits the device chose. PennyLane's own
``qml.noise.mitigate_with_zne`` keeps working on the device, alone or on top of the device's readout mitigation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pennylane as qml
import pytest
from pennylane.tape import QuantumScript

import qaas_core as q
from qaas_core.mitigation import Fold, Pipeline, ReadoutMitigation, Richardson, Twirl, is_preserved, run_mitigated
from qaas_pennylane import QaasDevice
from tests.mitigation.helpers import _ANSATZ, ISING, ghz, ising_ansatz
from tests.mitigation.statevector import expectation

SHOTS = 1000
ZNE = Pipeline([Twirl(4), Fold([1, 3, 5]), ReadoutMitigation()], extrapolate=Richardson())
READOUT = Pipeline([ReadoutMitigation()])
EXACT = {
    "ghz": expectation(ghz(), "XXXXX"),
    "ising": sum(c * expectation(ising_ansatz(), t) for t, c in ISING.items()),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    root = tmp_path_factory.mktemp("noisy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QAAS_CONFIG", str(root / "no-config.toml"))
        with q.QaasClient.emulator("garnet20", noise=True, seed=11, data_dir=Path(root)) as client:
            yield client


def device(client: q.QaasClient, wires: int, mitigation: Pipeline | None) -> QaasDevice:
    return qml.device("qaas.iqm", wires=wires, client=client, mitigation=mitigation, timeout=300)  # type: ignore[no-any-return]


def jobs(client: q.QaasClient) -> int:
    return len(client.jobs(limit=None))


def ghz5_ops() -> list[Any]:
    return [qml.Hadamard(0), *(qml.CNOT([i, i + 1]) for i in range(4))]


def ising_ops() -> list[Any]:
    """The ansatz of tests/mitigation: RY layers with CZ layers between them."""
    ops: list[Any] = []
    for layer in range(3):
        if layer:
            ops += [qml.CZ([0, 1]), qml.CZ([2, 3]), qml.CZ([1, 2])]
        ops += [qml.RY(_ANSATZ[4 * layer + i], wires=i) for i in range(4)]
    return ops


def ising_hamiltonian() -> Any:
    """H = −Σ ZZ − ½ Σ X (core strings: letter j on wire j)."""
    paulis = {"X": qml.X, "Z": qml.Z}
    return qml.dot(
        list(ISING.values()),
        [qml.prod(*(paulis[p](j) for j, p in enumerate(label) if p != "I")) for label in ISING],
    )


def test_ghz_and_ising_mitigated_in_one_job(client: q.QaasClient) -> None:
    dev = device(client, 5, ZNE)
    tapes = [
        QuantumScript(ghz5_ops(), [qml.expval(qml.prod(*(qml.X(i) for i in range(5))))], shots=SHOTS),
        QuantumScript(ising_ops(), [qml.expval(ising_hamiltonian())], shots=SHOTS),
    ]
    before = jobs(client)
    values = qml.execute(tapes, dev, diff_method=None)
    assert jobs(client) == before + 1  # both tapes, every basis, twirl and fold: one job
    estimates = dev.last_mitigated
    assert estimates is not None and dev.last_job is not None and dev.last_job.report is not None
    assert estimates.circuits == dev.last_job.report.circuits == 12 + 24  # GHZ 1 basis x 4 x 3; Ising 2 x 4 x 3
    report = {}
    for name, value, (estimate,) in zip(EXACT, values, estimates, strict=True):
        truth = EXACT[name]
        assert float(value) == estimate.value
        report[name] = (truth, estimate.raw, estimate.value, estimate.stderr)
        assert estimate.metadata["stages"] == ZNE.labels
        assert abs(estimate.value - truth) * 3 <= abs(estimate.raw - truth), report
        assert abs(estimate.value - truth) < 3 * estimate.stderr, report
    print("\n(exact, raw, mitigated, stderr):", report)
    request = dev.last_job.request()
    assert request is not None and all(is_preserved(c) for c in request.circuits)
    assert sorted({sum(i.name == "cz" for i in c.instructions) for c in request.circuits[:12]}) == [4, 12, 20]
    # the same numbers as the core gives for the same benchmarks written natively, on the qubits the device chose
    ghz_layout = request.circuits[0].metadata["layout"]
    ising_layout = request.circuits[12].metadata["layout"]
    natives = [
        ghz(tuple(ghz_layout[str(w)] for w in range(5))),
        ising_ansatz(tuple(ising_layout[str(w)] for w in range(4))),
    ]
    core = run_mitigated(client, natives, [["XXXXX"], [ISING]], SHOTS, pipeline=ZNE)
    for (mine,), (native,) in zip(estimates, core, strict=True):
        spread = math.hypot(mine.stderr, native.stderr)
        assert abs(mine.value - native.value) < 3 * spread, (mine.value, native.value, spread)


def test_qnodes_gradients_frames_and_other_measurements(client: q.QaasClient) -> None:
    """Readout mitigation on QNodes: a phase kept in a virtual-Z frame (⟨Y⟩ = 1 after H·S), a probability beside the
    expectation values (not mitigated, same job), and a parameter-shift gradient (its shifted tapes in one job)."""
    dev = device(client, 2, READOUT)

    @qml.set_shots(4000)
    @qml.qnode(dev)
    def phases() -> Any:
        qml.Hadamard(0)
        qml.S(0)
        qml.Hadamard(1)
        return qml.expval(qml.Y(0)), qml.expval(qml.Y(0) @ qml.X(1) + 0.5 * qml.Z(1)), qml.probs(wires=[1])

    before = jobs(client)
    y, mixed, probs = phases()
    assert jobs(client) == before + 1
    assert dev.last_mitigated is not None  # the groups PennyLane split the tape into: the Pauli ones mitigated
    stderr = max(v.stderr for values in dev.last_mitigated for v in values)
    assert abs(y - 1.0) < 4 * stderr + 0.02 and abs(mixed - 1.0) < 6 * stderr + 0.03, (y, mixed, stderr)
    assert np.allclose(probs, [0.5, 0.5], atol=0.05)

    @qml.set_shots(4000)
    @qml.qnode(dev, diff_method="parameter-shift")
    def rotation(theta: Any) -> Any:
        qml.RY(theta, wires=0)
        return qml.expval(qml.Z(0))

    theta = qml.numpy.array(0.7, requires_grad=True)
    before = jobs(client)
    gradient = qml.grad(rotation)(theta)
    assert jobs(client) == before + 2  # the forward pass, then both shifted tapes in one job, all mitigated
    assert dev.last_mitigated is not None and len(dev.last_mitigated) == 2
    assert abs(gradient + math.sin(0.7)) < 0.08, gradient


def test_pennylane_zne_transform_keeps_working(client: q.QaasClient) -> None:
    """``qml.noise.mitigate_with_zne`` folds the tape (U U† U …) and runs every scale in one job; the device keeps the
    folded CZs (the 4 CZs of a GHZ-3 parity circuit become 4, 12, 20) and, with readout mitigation on the device,
    the result lands near the exact value."""
    exact = 1.0
    errors = {}
    for mitigation in (None, READOUT):
        dev = device(client, 3, mitigation)

        @qml.noise.mitigate_with_zne(scale_factors=[1, 3, 5], folding=qml.noise.fold_global,
                                     extrapolate=qml.noise.richardson_extrapolate)  # fmt: skip
        @qml.set_shots(4000)
        @qml.qnode(dev)
        def parity() -> Any:
            qml.Hadamard(0)
            qml.CNOT([0, 1])
            qml.CNOT([1, 2])
            return qml.expval(qml.X(0) @ qml.X(1) @ qml.X(2))

        before = jobs(client)
        value = float(parity())
        assert jobs(client) == before + 1
        assert dev.last_job is not None
        request = dev.last_job.request()
        assert request is not None
        assert sorted(sum(i.name == "cz" for i in c.instructions) for c in request.circuits) == [2, 6, 10]
        errors[mitigation is not None] = abs(value - exact)
        if mitigation is not None:
            assert dev.last_mitigated is not None
            raw = dev.last_mitigated[0][0].raw  # the unfolded circuit, unmitigated, from the same job
            assert abs(value - exact) * 3 <= abs(raw - exact), (value, raw)
    print("\nPennyLane ZNE errors (device readout mitigation: error):", errors)
    assert errors[True] < errors[False]  # readout mitigation under PennyLane's ZNE removes what folding cannot


def test_invalid_mitigation_is_refused(client: q.QaasClient) -> None:
    with pytest.raises(q.ValidationError, match="Pipeline"):
        device(client, 2, [ReadoutMitigation()])  # type: ignore[arg-type]
    dev = device(client, 2, READOUT)

    @qml.set_shots([100, 100])
    @qml.qnode(dev)
    def binned() -> Any:
        qml.Hadamard(0)
        return qml.expval(qml.X(0))

    before = jobs(client)
    with pytest.raises(q.QaasError, match="shot vector"):
        binned()
    assert jobs(client) == before
