"""The emulator's noisy simulator against qiskit-aer with the equivalent noise model (an independent reference).

Same noise on both sides: after each prx (qiskit ``r``) and cz, a depolarising channel whose parameter matches the
calibrated average fidelity (``lambda = (1 - F) d / (d - 1)``, aer's ``depolarizing_error`` uses the same ``lambda``),
and readout errors ``P(1|0)``, ``P(0|1)``. Test: two-sample chi-square homogeneity on the outcome histograms
(20,000 shots each, fixed seeds), p > 1e-4; plus total variation distance < 0.03.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import RGate
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

import qaas_core as q
from qaas_core.emulator import Simulator
from tests.cross.helpers import homogeneity_pvalue

GARNET = q.load_profile("garnet20")
QUBITS = ["QB1", "QB2", "QB5", "QB4"]
PAIRS = [("QB1", "QB2"), ("QB2", "QB5"), ("QB4", "QB5"), ("QB1", "QB4")]
SHOTS = 20000


def noise_model(cal: q.Calibration, qubits: list[str]) -> NoiseModel:
    model = NoiseModel(basis_gates=["r", "cz"])
    index = {name: i for i, name in enumerate(qubits)}
    for name in qubits:
        f = cal.fidelity("prx", (name,))
        model.add_quantum_error(depolarizing_error((1 - f) * 2, 1), "r", [index[name]])
        e01, e10 = cal.metrics.readout_error[name]
        model.add_readout_error(ReadoutError([[1 - e01, e01], [e10, 1 - e10]]), [index[name]])
    for a, b in PAIRS:
        f = cal.fidelity("cz", (a, b))
        err = depolarizing_error((1 - f) * 4 / 3, 2)
        model.add_quantum_error(err, "cz", [index[a], index[b]])
        model.add_quantum_error(err, "cz", [index[b], index[a]])
    return model


def both(circuit: q.Circuit, seed: int) -> tuple[np.ndarray, np.ndarray]:
    qc = QuantumCircuit(len(QUBITS), len(QUBITS))
    index = {name: i for i, name in enumerate(QUBITS)}
    for inst in circuit.instructions:
        if inst.name == "prx":
            qc.append(RGate(inst.args["angle"], inst.args["phase"]), [index[inst.locus[0]]])
        elif inst.name == "cz":
            qc.cz(index[inst.locus[0]], index[inst.locus[1]])
    qc.measure(range(len(QUBITS)), range(len(QUBITS)))
    aer = AerSimulator(noise_model=noise_model(GARNET, QUBITS), seed_simulator=seed)
    counts = aer.run(qc, shots=SHOTS).result().get_counts()
    ref = np.zeros(2 ** len(QUBITS))
    for bits, n in counts.items():
        ref[int(bits[::-1], 2)] += n  # aer: clbit 0 rightmost; ours: QUBITS[0] is the most significant column
    ours = Simulator(GARNET, mode="exact").run(circuit, SHOTS, seed=seed).measurements["m"]
    hist = np.bincount(ours.astype(np.int64) @ (1 << np.arange(len(QUBITS) - 1, -1, -1)), minlength=2 ** len(QUBITS))
    return hist, ref


def circuits() -> list[q.Circuit]:
    ghz = [q.prx("QB1", math.pi / 2, math.pi / 2)]
    for a, b in [("QB1", "QB2"), ("QB2", "QB5"), ("QB5", "QB4")]:
        ghz += [q.prx(b, math.pi / 2, math.pi / 2), q.cz(a, b), q.prx(b, math.pi / 2, 3 * math.pi / 2)]
    out = [q.Circuit("ghz4", (*ghz, q.measure(*QUBITS, key="m")))]
    rng = random.Random(3)
    for s in range(3):
        ops: list[q.Instruction] = []
        for _ in range(6):
            ops += [q.prx(name, rng.uniform(0, 6.3), rng.uniform(0, 6.3)) for name in QUBITS]
            ops.append(q.cz(*rng.choice(PAIRS)))
        out.append(q.Circuit(f"random{s}", (*ops, q.measure(*QUBITS, key="m"))))
    return out


@pytest.mark.parametrize("index", range(4))
def test_noisy_distribution_agrees_with_aer(index: int) -> None:
    circuit = circuits()[index]
    ours, ref = both(circuit, seed=100 + index)
    assert homogeneity_pvalue(ours, ref) > 1e-4
    assert 0.5 * np.abs(ours / SHOTS - ref / SHOTS).sum() < 0.03
    if index == 0:  # noise is really on: the GHZ state is visibly degraded on both sides
        good = (ours[0] + ours[-1]) / SHOTS
        assert 0.75 < good < 0.97
