"""The errors qaas-cirq adds to the qaas error tree.

Everything else it raises comes from qaas-core's one tree (:class:`qaas_core.QaasError`)::

    QaasError
    └── ValidationError                  bad input, found on the client before anything is sent
        └── ConversionError              a Cirq circuit cannot become native IQM instructions (also a ValueError,
                                         as Cirq's device validation expects); names the moment and the operation

A ``ConversionError`` is raised for non-native gates in an uncompiled circuit, measurement invert masks or confusion
maps, qubits that are not QPU components, unresolved symbols, unsupported classical controls, and operations that
the calibration does not support on their qubits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import qaas_core as q

if TYPE_CHECKING:
    import cirq

__all__ = ["ConversionError"]


class ConversionError(q.ValidationError, ValueError):
    """A Cirq circuit cannot be turned into native IQM instructions.

    Attributes:
        reason: What is wrong, without the location.
        moment: Index of the offending moment, if known.
        operation: The offending Cirq operation, if known.
    """

    def __init__(self, reason: str, *, moment: int | None = None, operation: cirq.Operation | None = None) -> None:
        where = []
        if moment is not None:
            where.append(f"moment {moment}")
        if operation is not None:
            where.append(repr(operation))
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)
        self.reason = reason
        self.moment = moment
        self.operation = operation
