"""The cross-framework circuit library: what each program is, independent of any framework.

Every program is written once per front end — a Qiskit ``QuantumCircuit`` (:mod:`.qiskit_programs`), a Cirq
``Circuit`` (:mod:`.cirq_programs`), a PennyLane quantum function (:mod:`.pennylane_programs`) and OpenQASM 3 text
(:mod:`.qasm_programs`) — on logical qubits ``0 … n-1`` (Qiskit qubit ``i``, ``cirq.LineQubit(i)``, PennyLane wire
``i``; the OpenQASM text names the physical qubits itself, see that module). This module holds what the four must
agree on: the qubit count, which logical qubit each classical bit reads, the device, and the shared constants
(angles, the seeded Clifford layers).

The **canonical bitstring** of a shot has one character per classical bit, classical bit 0 leftmost. Each front
end's own result format is mapped to it by :mod:`tests.cross.frontends`, following ``docs/bit-order.md``.

Programs:

* ``bell``, ``ghz3``/``ghz4``/``ghz5``: ``H`` then a CNOT chain.
* ``qft3``: the QFT (no final swaps) of the basis state ``|x0 x1 x2> = |101>``, read out in the X basis (an ``H``
  on every qubit before measuring): a Z-basis readout of a QFT of a basis state is uniform whatever the phases,
  the X basis makes the distribution depend on every Fourier phase and on the bit order.
* ``grover2``: one Grover iteration on two qubits, marked state ``q0=1, q1=0``; the answer is certain.
* ``clifford4``: :data:`CLIFFORD_LAYERS`, random H/S layers and CZs on neighbouring logical qubits (seed 2024).
* ``ansatz4``: a hardware-efficient ansatz (RY·RZ layers, CNOT ladder) at the fixed angles below; its classical
  bits read the qubits in the order ``3, 1, 0, 2`` so that a front end that ignores the measurement order fails.
  Qiskit and Cirq write it with symbolic parameters (``ParameterVector``, sympy symbols) bound at run time
  (``parameter_binds``, a ``ParamResolver``), so their parametric paths are covered; PennyLane's gates take the
  values directly, OpenQASM 3 (no ``input`` parameters in the translator) has them as literals.
* ``teleport``: teleports ``|ψ> = RZ(0.7)·RY(1.1)|0>`` from qubit 0 to qubit 2 with mid-circuit measurements and
  feedback. One IQM feedback pulse (``cc_prx``) is a PRX rotation, never a Z: a conditional Z takes two pulses,
  which Qiskit's converter refuses (an ``if_test`` body must reduce to one PRX) and Cirq's cannot express (it
  controls X, Y and PhasedX only). So the usual ``Z^{m0}`` correction is made X-type: after ``X^{m1}``
  (feedback) the state is ``Z^{m0}|ψ>``; an ``H`` turns it into ``X^{m0} H|ψ>`` and a second feedback ``X^{m0}``
  leaves ``H|ψ>``. Undoing ``H`` and the preparation, qubit 2 reads 0 with certainty; bits 0 and 1 are uniform.
  A missing or misrouted correction makes bit 2 read 1 (a missing ``m0`` correction: in 79 % of the shots with
  ``m0 = 1``).
* ``star2`` (deneb6, a star device): two qubits entangled both ways (CNOT 0→1 then 1→0) around rotations; every
  CZ becomes a MOVE sandwich through the resonator. Its bits read the qubits in the order ``1, 0``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ANSATZ_ANGLES",
    "ANSATZ_FINAL",
    "CLIFFORD_LAYERS",
    "GROVER_MARKED",
    "PROGRAMS",
    "QFT_INPUT",
    "STAR_ANGLES",
    "TELEPORT_STATE",
    "Program",
    "ansatz_values",
    "program",
]


@dataclass(frozen=True)
class Program:
    """One program of the library.

    Attributes:
        name: Identifier, also the test id.
        qubits: Number of logical qubits.
        clbits: The logical qubit each classical bit reads (its last measurement), classical bit 0 first.
        device: Device profile it runs on.
        feedback: Its classically controlled corrections in program order, as ``(classical bit, logical qubit
            corrected)``; empty for programs measured only at the end. Programs with feedback are compared by
            measurement and feedback structure and by statistics, not by unitary.
    """

    name: str
    qubits: int
    clbits: tuple[int, ...]
    device: str = "garnet20"
    feedback: tuple[tuple[int, int], ...] = ()


PROGRAMS: Final = (
    Program("bell", 2, (0, 1)),
    Program("ghz3", 3, (0, 1, 2)),
    Program("ghz4", 4, (0, 1, 2, 3)),
    Program("ghz5", 5, (0, 1, 2, 3, 4)),
    Program("qft3", 3, (0, 1, 2)),
    Program("grover2", 2, (0, 1)),
    Program("clifford4", 4, (0, 1, 2, 3)),
    Program("ansatz4", 4, (3, 1, 0, 2)),
    Program("teleport", 3, (0, 1, 2), feedback=((1, 2), (0, 2))),
    Program("star2", 2, (1, 0), device="deneb6"),
)
"""Every program, in the order they are batched."""

QFT_INPUT: Final = (1, 0, 1)
"""The basis state the QFT acts on: qubit ``i`` starts in ``|QFT_INPUT[i]>``."""

GROVER_MARKED: Final = (1, 0)
"""The marked state of ``grover2``: qubit ``i`` is ``GROVER_MARKED[i]``."""

ANSATZ_ANGLES: Final = (
    ((0.3, -1.1, 0.7, 2.0), (0.5, 1.3, -0.4, 0.8)),
    ((1.4, 0.2, -0.6, 0.9), (-0.7, 0.25, 1.9, -1.2)),
)
"""``ANSATZ_ANGLES[layer] = (RY angles, RZ angles)`` per qubit; a CNOT ladder 0→1→2→3 follows each layer."""

ANSATZ_FINAL: Final = (0.6, -0.35, 1.15, 0.45)
"""The RY angles of the final layer of ``ansatz4``."""


def ansatz_values() -> tuple[float, ...]:
    """The 20 angles of ``ansatz4`` in the order its gates use them: per layer and qubit RY then RZ, then the final
    RYs (the order of the symbolic parameters of the Qiskit and Cirq versions)."""
    layers = (a for ry, rz in ANSATZ_ANGLES for i in range(4) for a in (ry[i], rz[i]))
    return (*layers, *ANSATZ_FINAL)


TELEPORT_STATE: Final = (1.1, 0.7)
"""``(θ, λ)``: the teleported state is ``RZ(λ)·RY(θ)|0>``."""

STAR_ANGLES: Final = (1.2, 0.4, 0.5)
"""``star2``: ``RY(a)`` on qubit 0, ``RX(b)`` on qubit 1, CNOT 0→1, ``RY(c)`` on qubit 1, CNOT 1→0."""


def _clifford_layers(
    seed: int, qubits: int, depth: int
) -> tuple[tuple[tuple[str, ...], tuple[tuple[int, int], ...]], ...]:
    rng = random.Random(seed)
    layers = []
    for layer in range(depth):
        singles = tuple(rng.choice(("h", "s", "hs", "sh", "i")) for _ in range(qubits))
        pairs = tuple((a, a + 1) for a in range(layer % 2, qubits - 1, 2) if rng.random() < 0.75)
        layers.append((singles, pairs))
    return tuple(layers)


CLIFFORD_LAYERS: Final = _clifford_layers(2024, 4, 6)
"""``clifford4``: per layer, one of ``h``, ``s``, ``hs`` (H then S), ``sh`` or ``i`` per qubit, then CZs on the
listed neighbouring pairs (alternating even and odd pairs)."""


def program(name: str) -> Program:
    """The program called ``name``."""
    for p in PROGRAMS:
        if p.name == name:
            return p
    raise KeyError(name)
