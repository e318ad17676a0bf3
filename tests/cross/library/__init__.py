"""The cross-framework circuit library: what each program is, independent of any framework.

Every program is written once per front end — a Qiskit ``QuantumCircuit`` (:mod:`.qiskit_programs`), a Cirq
``Circuit`` (:mod:`.cirq_programs`), a PennyLane quantum function (:mod:`.pennylane_programs`) and OpenQASM 3 text
(:mod:`.qasm_programs`) — on logical qubits ``0 … n-1`` (Qiskit qubit ``i``, ``cirq.LineQubit(i)``, PennyLane wire
``i``; the OpenQASM text names physical qubits or declares a register for the core to place, see that module).
This module holds what the four must agree on: the qubit count, which logical qubit each classical bit reads, the
device, and the shared constants (angles, the seeded Clifford layers).

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
  feedback, both corrections X-type: after ``X^{m1}`` (feedback) the state is ``Z^{m0}|ψ>``; an ``H`` turns it into
  ``X^{m0} H|ψ>`` and a second feedback ``X^{m0}`` leaves ``H|ψ>``. Undoing ``H`` and the preparation, qubit 2 reads
  0 with certainty; bits 0 and 1 are uniform. A missing or misrouted correction makes bit 2 read 1 (a missing
  ``m0`` correction: in 79 % of the shots with ``m0 = 1``). (Written so when a conditional Z could not be played;
  ``teleport_z`` below has the usual ``Z^{m0}``.)
* ``star2`` (deneb6, a star device): two qubits entangled both ways (CNOT 0→1 then 1→0) around rotations; every
  CZ becomes a MOVE sandwich through the resonator. Its bits read the qubits in the order ``1, 0``.

Third-party-style programs, in the spirit of MQT Bench (each on garnet20, and as ``NAME@deneb6`` on the star
device; :data:`STAR_DEVICES`):

* ``adder4``: a Draper adder ``b <- a + b mod 4`` on two 2-bit registers (``a = q1 q0``, ``b = q3 q2``, least
  significant bit first): the QFT of ``b``, controlled phases from ``a``, the inverse QFT. The input is known but in
  superposition: ``a1 = 1``, ``b1 = 0``, ``a0 = RY(1.2)|0>``, ``b0 = RY(2.1)|0>``, so four sums with four different
  probabilities. Its interaction graph has triangles: every front end routes it on garnet20.
* ``qpe3``: phase estimation of ``P(2π·3/8)`` on its eigenstate ``|1>`` (qubit 3) with three counting qubits and
  the inverse QFT; the counting qubits read ``0, 1, 1`` (the phase's bits, most significant first) and the target
  ``1``, with certainty (every qubit is measured: PennyLane's device drops the gates of unmeasured wires).
* ``w3``: the W state ``(|100> + |010> + |001>)/√3`` (RY, a controlled RY, two CNOTs and an X).
* ``grover3``: two Grover iterations on three qubits (the CCZ of each framework), one marked state
  :data:`GROVER3_MARKED`, found with probability 0.945.
* ``teleport_deferred``: ``teleport`` with the principle of deferred measurement: the corrections are a CNOT
  (1→2) and a CZ (0→2), and every qubit is measured at the end; qubit 2 reads 0 with certainty.
* With mid-circuit measurement and feedback (``feedback`` lists the corrections; the conditions use each
  framework's spellings: Qiskit ``if_test``/``if_else`` on a clbit or an ``expr``, Cirq ``KeyCondition`` and
  ``SympyCondition``, PennyLane ``qml.cond`` on a measurement value or an expression of it, OpenQASM 3 ``if`` /
  ``else``). Z-type corrections are played by the core's conditioned construction (:func:`qaas_core.conditioned`:
  two conditioned π pulses), in every front end.

  * ``teleport_z``: ``teleport`` with the standard corrections ``X^{m1}`` then ``Z^{m0}`` on qubit 2. The ``X^{m1}``
    is written as the ``else`` branch of a condition on ``m1 == 0`` (an empty or identity ``if`` branch), so that
    negated conditions and ``else`` branches are exercised.
  * ``ghz_dyn5``: a GHZ state on qubits 0, 2, 4 by measurement-based fan-out: each of them in ``|+>``, the
    ancillas 1 and 3 take the parities ``q0 ⊕ q2`` and ``q2 ⊕ q4`` and are measured (bits 0, 1), and ``X^{m0}`` on
    qubit 2, ``X^{m0}`` and ``X^{m1}`` on qubit 4 align the data qubits, which then read ``000`` or ``111``.
  * ``ipe2``, ``ipe3``: iterative phase estimation of ``P(2π·k/2^n)`` (:data:`IPE_PHASES`; qubit 1 in ``|1>``)
    with one ancilla (qubit 0) reused: ``n`` rounds of H, controlled ``P^(2^(n-1-r))``, phase corrections
    ``P(-π/2^(r-j))`` (``RZ`` for some) conditioned on each bit ``j`` already read (the latest first), H, measure,
    then ``reset``. The bits come out least significant first, with certainty: ``1, 0`` and ``1, 1, 0``. Every
    classical bit reads qubit 0. ``ipe3`` lasts about 14 µs (three readouts, two resets, four conditioned π
    pulses), 1.6 times the T2 of garnet20's qubits: the client refuses it there before upload, so it runs on the
    star device only (deneb6, T2 33 µs), and ``ipe2`` is the one on garnet20.
  * ``qft_dyn3``: the semi-classical QFT (Griffiths–Niu) of an entangled input (RY rotations, two CNOTs, phases
    :data:`QFT_DYN_STATE`): qubit ``j`` in turn gets its H and is measured, and each later qubit ``k`` is rotated by
    ``P(π/2^(k-j))`` if it read 1 — the distribution of the QFT (no final swaps) of that input. The rotation just
    before a qubit's H is written with it: Qiskit and OpenQASM 3 as an ``if``/``else`` (``P`` then ``H``, or ``H``),
    Cirq and PennyLane as ``H`` then a conditioned ``RX`` (``H·P(θ) ∝ RX(θ)·H``) — one conditioned pulse either way,
    which keeps the circuit well inside garnet20's T2.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Final

__all__ = [
    "ADDER_ANGLES",
    "ANSATZ_ANGLES",
    "ANSATZ_FINAL",
    "CLIFFORD_LAYERS",
    "GROVER3_MARKED",
    "GROVER_MARKED",
    "IPE_PHASES",
    "PHASE_NUMERATOR",
    "PROGRAMS",
    "QFT_DYN_STATE",
    "QFT_INPUT",
    "STAR_ANGLES",
    "STAR_DEVICES",
    "TELEPORT_STATE",
    "TOO_LONG",
    "W_ANGLE",
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
        variant_of: The program this one runs on another device (``None``: its own program).
    """

    name: str
    qubits: int
    clbits: tuple[int, ...]
    device: str = "garnet20"
    feedback: tuple[tuple[int, int], ...] = ()
    variant_of: str | None = None

    @property
    def body(self) -> str:
        """The name of the program whose circuit this is (its own, or the one it is a device variant of)."""
        return self.variant_of or self.name

    def on(self, device: str) -> Program:
        """The same circuit on ``device``, named ``NAME@device``."""
        return replace(self, name=f"{self.name}@{device}", device=device, variant_of=self.name)


STAR_DEVICES: Final = ("deneb6", "vlq24")
"""Star devices the third-party-style programs also run on (as ``NAME@device``)."""

TOO_LONG: Final = {("grover3", "vlq24")}
"""``(program, star device)`` left out: the MOVE sandwiches of its 24 CZs make it last about T2 of vlq24's qubits
(0.96 to 1.26 times, by front end; deneb6's qubits have T2 33 µs)."""

_THIRD_PARTY: Final = (
    Program("adder4", 4, (0, 1, 2, 3)),
    Program("qpe3", 4, (0, 1, 2, 3)),
    Program("w3", 3, (0, 1, 2)),
    Program("grover3", 3, (0, 1, 2)),
    Program("teleport_deferred", 3, (0, 1, 2)),
    Program("teleport_z", 3, (0, 1, 2), feedback=((1, 2), (0, 2))),
    Program("ghz_dyn5", 5, (1, 3, 0, 2, 4), feedback=((0, 2), (0, 4), (1, 4))),
    Program("ipe2", 2, (0, 0), feedback=((0, 0),)),
    Program("qft_dyn3", 3, (0, 1, 2), feedback=((0, 1), (0, 2), (1, 2))),
)

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
    *_THIRD_PARTY,
    *(p.on(device) for device in STAR_DEVICES for p in _THIRD_PARTY if (p.name, device) not in TOO_LONG),
    Program("ipe3", 2, (0, 0, 0), device="deneb6", feedback=((0, 0), (1, 0), (0, 0))),
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


ADDER_ANGLES: Final = (1.2, 2.1)
"""``adder4``: ``a0 = RY(ADDER_ANGLES[0])|0>`` and ``b0 = RY(ADDER_ANGLES[1])|0>``."""

PHASE_NUMERATOR: Final = 3
"""``qpe3`` estimates the phase ``PHASE_NUMERATOR / 8`` of ``P(2π·PHASE_NUMERATOR/8)``."""

IPE_PHASES: Final = {"ipe2": (1, 2), "ipe3": (3, 3)}
"""``(k, n)``: the program estimates the phase ``k / 2^n`` of ``P(2π·k/2^n)`` in ``n`` rounds."""

W_ANGLE: Final = 2 * math.acos(math.sqrt(1 / 3))
"""``w3``: the RY angle that leaves qubit 0 in ``√(1/3)|0> + √(2/3)|1>``."""

GROVER3_MARKED: Final = (1, 1, 0)
"""The marked state of ``grover3``: qubit ``i`` is ``GROVER3_MARKED[i]``."""

QFT_DYN_STATE: Final = ((0.9, 2.0, 1.3), (0.4, -1.1, 2.5))
"""``qft_dyn3``'s input: ``(RY angles, phases)`` per qubit; RY on every qubit, CNOT 0→1, CNOT 1→2, then ``P``."""


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
