"""Circuits the mitigation tests share: random native circuits on a few garnet20 qubits, GHZ and a 4-qubit
transverse-field Ising ansatz."""

from __future__ import annotations

import itertools
import math

import numpy as np

import qaas_core as q

GARNET = q.load_profile("garnet20")
HALF = math.pi / 2
TRIANGLE = ("QB1", "QB2", "QB5")  # QB1-QB2 and QB2-QB5 are calibrated CZ pairs
CHAIN5 = ("QB1", "QB2", "QB5", "QB6", "QB7")
CHAIN4 = CHAIN5[:4]
ISING = {"ZZII": -1.0, "IZZI": -1.0, "IIZZ": -1.0, "XIII": -0.5, "IXII": -0.5, "IIXI": -0.5, "IIIX": -0.5}
"""H = −Σ Z_i Z_{i+1} − ½ Σ X_i on an open 4-qubit chain (ground energy −3.427)."""
_ANSATZ = (0.03, -0.23, -1.2, 0.01, -0.48, 0.29, 1.33, -0.88, 0.94, 0.09, 0.2, 1.38)  # near its ground state


def random_circuit(rng: np.random.Generator, qubits: tuple[str, ...] = TRIANGLE, depth: int = 6) -> q.Circuit:
    """Layers of random prx (each qubit with probability 0.7) and one cz between calibrated neighbours."""
    pairs = [(a, b) for a, b in GARNET.coupling_graph() if a in qubits and b in qubits]
    instructions: list[q.Instruction] = []
    for _ in range(depth):
        for c in qubits:
            if rng.random() < 0.7:
                instructions.append(q.prx(c, float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))))
        a, b = pairs[int(rng.integers(len(pairs)))]
        instructions.append(q.cz(a, b) if rng.random() < 0.5 else q.cz(b, a))
    instructions.append(q.measure(*qubits, key="m"))
    return q.Circuit("random", tuple(instructions))


def cnot(a: str, b: str) -> list[q.Instruction]:
    """CNOT from ``a`` to ``b``: RY(−π/2) on the target, CZ, RY(π/2)."""
    return [q.prx(b, HALF, -HALF), q.cz(a, b), q.prx(b, HALF, HALF)]


def ghz(qubits: tuple[str, ...] = CHAIN5, name: str = "ghz") -> q.Circuit:
    """(|0…0⟩ + |1…1⟩)/√2 along a chain of neighbours."""
    instructions = [q.prx(qubits[0], HALF, HALF)]
    for a, b in itertools.pairwise(qubits):
        instructions += cnot(a, b)
    return q.Circuit(name, (*instructions, q.measure(*qubits, key="m")))


def ising_ansatz(qubits: tuple[str, ...] = CHAIN4) -> q.Circuit:
    """Three RY layers with two CZ layers between them, parameters near the ground state of :data:`ISING`."""

    def layer(k: int) -> list[q.Instruction]:
        return [q.prx(c, _ANSATZ[4 * k + i], HALF) for i, c in enumerate(qubits)]

    a, b, c, d = qubits
    entangle = [q.cz(a, b), q.cz(c, d), q.cz(b, c)]
    return q.Circuit("ising", (*layer(0), *entangle, *layer(1), *entangle, *layer(2), q.measure(*qubits, key="m")))
