"""The one IQM-native gate Cirq lacks: MOVE between a qubit and a computational resonator."""

from __future__ import annotations

from typing import Any

import cirq
import numpy as np

from qaas_cirq._json import JSON_NAMESPACE

__all__ = ["MoveGate"]

_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


@cirq.value_equality
class MoveGate(cirq.Gate):
    r"""MOVE: hand the state of a qubit to a computational resonator, or back (operands: qubit, resonator).

    Physically MOVE exchanges the populations of :math:`|01\rangle` and :math:`|10\rangle` within
    :math:`\mathrm{span}\{|00\rangle, |01\rangle, |10\rangle\}` up to a phase that a second MOVE cancels; IQM devices
    only allow it in closed pairs ("sandwiches") with an empty resonator. Within that contract it acts as a SWAP,
    which is the unitary Cirq sees (so simulations of compiled star-device circuits are exact).
    """

    def _num_qubits_(self) -> int:
        return 2

    def _unitary_(self) -> np.ndarray:
        return _SWAP

    def _value_equality_values_(self) -> tuple[()]:
        return ()

    @classmethod
    def _json_namespace_(cls) -> str:
        return JSON_NAMESPACE

    def _json_dict_(self) -> dict[str, Any]:
        return {}

    def _circuit_diagram_info_(self, args: cirq.CircuitDiagramInfoArgs) -> tuple[str, str]:
        return ("MOVE(QB)", "MOVE(R)")

    def __repr__(self) -> str:
        return "qaas_cirq.MoveGate()"

    def __str__(self) -> str:
        return "MOVE"
