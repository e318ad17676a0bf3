"""The errors qaas-pennylane adds to the qaas tree.

Both are client-side validation errors that PennyLane also recognises as device errors, so ``pl-device-test
--skip-ops`` and user code catching :class:`pennylane.exceptions.DeviceError` see them as such::

    qaas_core.QaasError
    └── qaas_core.ValidationError            bad input, found on the client before anything is sent
        └── QaasDeviceError                  (also a pennylane DeviceError) an operation, measurement or
            │                                setting the IQM hardware path cannot run
            └── LayoutError                  the circuit does not fit the QPU (too many wires, unreachable qubits)

Everything else the device raises comes from qaas-core unchanged: ``ConfigurationError`` (settings),
``CircuitError`` (a converted circuit breaks a calibration rule), ``AuthenticationError``, ``TransportError``,
``RemoteAPIError``, ``JobFailedError`` and ``JobTimeoutError`` (the platform or the job).
"""

from __future__ import annotations

from pennylane.exceptions import DeviceError

import qaas_core as q

__all__ = ["LayoutError", "QaasDeviceError"]


class QaasDeviceError(q.ValidationError, DeviceError):  # type: ignore[misc]
    """An operation, measurement or setting that the IQM hardware path cannot run (raised before any job)."""


class LayoutError(QaasDeviceError):
    """A circuit cannot be placed on the QPU: more wires than usable qubits, or qubits that cannot be connected."""
