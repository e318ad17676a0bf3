"""Native-gate algebra the mitigation stages share: PRX matrices, inverses, merging a single-qubit product back into
one PRX (the Z rotation left over goes to the virtual frame), and the metadata mark of circuits that must be run as
they are.

A PRX is ``RZ(φ)·RX(θ)·RZ(−φ)`` (radians, :func:`qaas_core.prx`). Every single-qubit unitary is, up to a global
phase, ``RZ(z)·PRX(θ, φ)`` — a PRX followed in time by a Z rotation — and since the transfer format has no Z rotation
the ``RZ(z)`` is handed to a :class:`qaas_core.Frames` (it changes the phase of later PRX gates on that qubit and
nothing else). So merging a Pauli into an adjacent PRX never adds a pulse.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from qaas_core._circuit import Circuit, Instruction, terminal_start

__all__ = [
    "MITIGATION_KEY",
    "TERMINAL_PASS",
    "UNITARY_OPERATIONS",
    "as_prx",
    "inverse",
    "is_preserved",
    "mark",
    "prx_matrix",
    "terminal_start",
]

MITIGATION_KEY: Final = "qaas.mitigation"
"""Circuit metadata key of every circuit a mitigation stage made. Its value is an object with ``"preserve": true``
(compilers and adapters must send the circuit as it is: no gate cancellation, merging or re-synthesis, which would
undo a fold or a twirl) and the labels of the stages that made it."""

UNITARY_OPERATIONS: Final = frozenset({"prx", "cz", "move"})
"""The native operations that are unitary gates (what folding counts and inverts)."""

TERMINAL_PASS: Final = frozenset({"barrier", "delay"})
"""Operations that may sit among a circuit's final measurements."""

_EPS: Final = 1e-12


def prx_matrix(angle: float, phase: float) -> np.ndarray:
    """The 2x2 unitary of ``PRX(angle, phase)``, the same matrix the emulator's simulator plays."""
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return np.array(
        [[c, -1j * cmath.exp(-1j * phase) * s], [-1j * cmath.exp(1j * phase) * s, c]],
        dtype=complex,
    )


def as_prx(u: np.ndarray) -> tuple[float, float, float]:
    """Write a 2x2 unitary as ``RZ(z)·PRX(angle, phase)`` up to a global phase.

    Returns:
        ``(angle, phase, z)`` with ``angle`` in ``[0, π]``; ``angle == 0`` means the PRX is the identity (leave it out).
    """
    a, b = abs(u[0, 0]), abs(u[1, 0])
    angle = 2.0 * math.atan2(b, a)
    # RZ(z)·PRX(θ, φ) has u11/u00 = e^{iz} and u10/u00 = −i·tan(θ/2)·e^{i(z + φ)}
    if b <= _EPS:
        return 0.0, 0.0, cmath.phase(u[1, 1] / u[0, 0])
    if a <= _EPS:  # θ = π: the frame is free; u10/u01 = e^{i(z + 2φ)} (φ + π only flips the global phase)
        return angle, cmath.phase(u[1, 0] / u[0, 1]) / 2.0, 0.0
    z = cmath.phase(u[1, 1] / u[0, 0])
    return angle, cmath.phase(u[1, 0] / u[0, 0]) + math.pi / 2 - z, z


def inverse(inst: Instruction) -> Instruction:
    """The inverse of a unitary native instruction: ``PRX(θ, φ)⁻¹ = PRX(−θ, φ)``; ``cz`` and ``move`` are their own
    inverses (``move`` within the states IQM allows it on: resonator empty on the way in); ``barrier`` and ``delay``
    stay as they are.

    Raises:
        ValueError: the instruction is not unitary (``measure``, ``reset``, ``cc_prx``).
    """
    if inst.name == "prx":
        return Instruction("prx", inst.locus, {"angle": -inst.args["angle"], "phase": inst.args["phase"]},
                           inst.implementation)  # fmt: skip
    if inst.name in UNITARY_OPERATIONS or inst.name in TERMINAL_PASS:
        return inst
    raise ValueError(f"{inst.name} is not unitary and has no inverse")


def mark(circuit: Circuit, instructions: tuple[Instruction, ...], name: str, labels: Mapping[str, Any]) -> Circuit:
    """A new circuit made by a mitigation stage from ``circuit``: marked ``preserve`` and carrying the labels of all
    stages so far (those already on ``circuit`` and ``labels``)."""
    metadata = dict(circuit.metadata or {})
    record = dict(metadata.get(MITIGATION_KEY) or {})
    record.update(labels)
    record["preserve"] = True
    metadata[MITIGATION_KEY] = record
    return Circuit(name, instructions, metadata)


def is_preserved(circuit: Circuit) -> bool:
    """True when a mitigation stage made ``circuit``: it must run exactly as it is (see :data:`MITIGATION_KEY`)."""
    record = (circuit.metadata or {}).get(MITIGATION_KEY)
    return isinstance(record, Mapping) and record.get("preserve") is True
