"""Pauli twirling of CZ gates (randomised compiling) on native circuits.

Before each ``cz`` a random Pauli ``Pa ⊗ Pb`` is drawn (16 choices, identity included); after it comes the Pauli
``CZ (Pa ⊗ Pb) CZ`` that undoes it (``X`` on one side gains a ``Z`` on the other). The circuit's unitary is unchanged,
while the CZ's coherent errors average, over instances, into a Pauli channel — the noise model zero-noise
extrapolation assumes.

**No extra pulses where avoidable.** A Pauli is merged into the adjacent ``prx`` of its qubit (the last one before the
CZ, the first one after), the product written again as one ``prx`` plus a Z rotation that goes to the virtual frame
(:class:`qaas_core.Frames`: it shifts the phases of later ``prx`` gates of that qubit). A ``Z`` costs nothing. Only
where no ``prx`` stands between two CZs (or at a qubit's start or before its measurement) does an ``X`` or ``Y``
become a ``prx`` of its own. The frames left at the end are Z rotations before measurement: the twirled circuit equals
the original up to them and a global phase, so every Z-basis outcome has the same probability.

**What the twirl changes.** ``Z`` commutes with CZ, so the Z part of a twirl Pauli is a frame change before the CZ
that the correction after it undoes exactly: the circuits played differ by the X parts only (four per CZ). Those are
what turns the CZ's coherent phase errors (``ZZ`` and single-qubit ``Z`` over-rotations, the diagonal errors of a
CZ) into stochastic Pauli noise.

Only CZs between two qubits that take ``prx`` are twirled (a CZ with a computational resonator is left alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from qaas_core._circuit import Circuit, Instruction
from qaas_core._errors import ValidationError
from qaas_core._frames import Frames
from qaas_core.mitigation._native import as_prx, mark, prx_matrix
from qaas_core.mitigation._stage import Context, Stage, Variant

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = ["Twirl", "twirl"]

_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)
_PAULI: Final = {(0, 0): _I, (1, 0): _X, (1, 1): _Y, (0, 1): _Z}  # (x, z) bits -> matrix
_NO_ANGLE: Final = 1e-12


def twirl(circuit: Circuit, rng: np.random.Generator, *, qubits: Collection[str] | None = None) -> Circuit:
    """One random Pauli-twirled instance of ``circuit`` (see the module docstring).

    Args:
        circuit: the circuit.
        rng: source of the random Paulis.
        qubits: the components that take ``prx``; a CZ is twirled only if both its components are among them
            (None: all).

    Returns:
        The twirled circuit, marked ``preserve``.
    """
    instructions = circuit.instructions
    # 1. draw the Paulis: pseudo operations before (pre) and after (post) each twirled CZ
    pre: dict[int, list[tuple[str, np.ndarray]]] = {}
    post: dict[int, list[tuple[str, np.ndarray]]] = {}
    for i, inst in enumerate(instructions):
        if inst.name != "cz" or (qubits is not None and not set(inst.locus) <= set(qubits)):
            continue
        xa, za, xb, zb = (int(v) for v in rng.integers(0, 2, size=4))
        a, b = inst.locus
        pre[i] = [(a, _PAULI[xa, za]), (b, _PAULI[xb, zb])]
        post[i] = [(a, _PAULI[xa, za ^ xb]), (b, _PAULI[xb, zb ^ xa])]
    if not pre:
        return mark(circuit, instructions, circuit.name, {})
    # 2. the per-qubit sequence of operations: ("gate", index) or ("pauli", matrix)
    ops: list[tuple[str, int, str, np.ndarray | None]] = []  # (kind, instruction index, qubit, pauli)
    for i in range(len(instructions)):
        for q, p in pre.get(i, ()):
            ops.append(("pauli", i, q, p))
        ops.append(("gate", i, "", None))
        for q, p in post.get(i, ()):
            ops.append(("pauli", i, q, p))
    merged: dict[int, np.ndarray] = {}  # position in ops -> unitary played there (replacing a prx or a pauli)
    dropped: set[int] = set()
    runs: dict[str, list[int]] = {}  # qubit -> positions of the run of single-qubit operations now open

    def close(qubit: str) -> None:
        run = runs.pop(qubit, [])
        paulis = [k for k in run if ops[k][0] == "pauli"]
        if not paulis:
            return
        gates = [k for k in run if ops[k][0] == "gate"]
        if not gates:  # only Paulis: their product, played where the first stood
            product = _I
            for k in paulis:
                product = _matrix(ops[k]) @ product
            merged[paulis[0]] = product
            dropped.update(paulis[1:])
            return
        first, last = gates[0], gates[-1]
        for k in paulis:
            dropped.add(k)
            target = last if k > last else first
            current = merged.get(target, _gate_matrix(instructions[ops[target][1]]))
            merged[target] = _matrix(ops[k]) @ current if k > last else current @ _matrix(ops[k])

    for k, (kind, i, q, _) in enumerate(ops):
        if kind == "pauli":
            runs.setdefault(q, []).append(k)
            continue
        inst = instructions[i]
        if inst.name == "prx":
            runs.setdefault(inst.locus[0], []).append(k)
            continue
        for c in inst.locus:
            close(c)
    for q in list(runs):
        close(q)
    # 3. play: merged unitaries as one prx plus a frame rotation; every later prx phase follows the frames
    frames = Frames()
    out: list[Instruction] = []
    for k, (kind, i, q, _) in enumerate(ops):
        if k in dropped:
            continue
        inst = instructions[i]
        if k in merged:
            qubit = q if kind == "pauli" else inst.locus[0]
            angle, phase, z = as_prx(merged[k])
            if angle > _NO_ANGLE:
                out.append(Instruction("prx", (qubit,), {"angle": angle, "phase": frames.phase(qubit, phase)},
                                       inst.implementation if kind == "gate" else None))  # fmt: skip
            frames.rotate(qubit, z)
            continue
        if kind == "pauli":  # an identity Pauli standing alone
            continue
        out.append(_played(inst, frames))
    return mark(circuit, tuple(out), circuit.name, {})


def _matrix(op: tuple[str, int, str, np.ndarray | None]) -> np.ndarray:
    matrix = op[3]
    if matrix is None:  # pragma: no cover - only Pauli operations are looked up here
        raise ValueError("not a Pauli operation")
    return matrix


def _gate_matrix(inst: Instruction) -> np.ndarray:
    return prx_matrix(inst.args["angle"], inst.args["phase"])


def _played(inst: Instruction, frames: Frames) -> Instruction:
    """An original instruction as played under the current frames."""
    name = inst.name
    if name in ("prx", "cc_prx"):
        args = {**inst.args, "phase": frames.phase(inst.locus[0], inst.args["phase"])}
        return Instruction(name, inst.locus, args, inst.implementation)
    if name == "move":
        frames.move(*inst.locus)
    elif name == "reset":
        frames.reset(inst.locus)
    return inst


class Twirl(Stage):
    """Run ``instances`` random Pauli-twirled copies of each circuit (their results are averaged).

    Args:
        instances: number of random instances (each is one more circuit in the job).
        seed: seed of the random Paulis (with the circuit's position, so a batch is reproducible).

    Raises:
        ValidationError: ``instances`` below 1.
    """

    def __init__(self, instances: int = 8, *, seed: int = 0) -> None:
        if type(instances) is not int or instances < 1:
            raise ValidationError(f"Twirl needs a whole number of instances >= 1, got {instances!r}")
        self.instances = instances
        self.seed = int(seed)
        self.label = f"twirl({instances})"

    def expand(self, circuit: Circuit, context: Context) -> list[Variant]:
        rng = np.random.default_rng([self.seed, *context.seed])
        cal = context.calibration
        qubits = None if cal is None else {locus[0] for locus in cal.loci("prx")}
        return [Variant(twirl(circuit, rng, qubits=qubits), {"twirl": t}) for t in range(self.instances)]

    def __repr__(self) -> str:
        return f"Twirl({self.instances}, seed={self.seed})"
