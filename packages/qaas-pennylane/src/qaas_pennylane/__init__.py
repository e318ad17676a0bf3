"""qaas-pennylane: the PennyLane device ``qaas.iqm`` for IQM quantum computers reached through qaas.

>>> import pennylane as qml
>>> dev = qml.device("qaas.iqm", wires=2, emulator="garnet20", noise=False)
>>> @qml.set_shots(1000)
... @qml.qnode(dev)
... def bell():
...     qml.Hadamard(0)
...     qml.CNOT([0, 1])
...     return qml.counts()

The device is registered under the ``pennylane.plugins`` entry point ``qaas.iqm``; its capabilities are in the
bundled ``qaas_iqm.toml``. See :class:`QaasDevice` for the settings.
"""

from __future__ import annotations

import pennylane

import qaas_core
from qaas_pennylane._convert import Conversion
from qaas_pennylane._device import QaasDevice
from qaas_pennylane._emulator import shutdown_emulators
from qaas_pennylane._errors import LayoutError, QaasDeviceError

__version__ = "0.1.0"

__all__ = [
    "Conversion",
    "LayoutError",
    "QaasDevice",
    "QaasDeviceError",
    "__version__",
    "shutdown_emulators",
    "versions",
]


def versions() -> dict[str, str]:
    """Versions of this adapter, the core and PennyLane, for bug reports."""
    return {"qaas-pennylane": __version__, "qaas-core": qaas_core.__version__, "pennylane": str(pennylane.__version__)}
