"""qaas-qiskit: Qiskit 2.x provider, backend, job and primitives path of qaas.

Example (on the embedded emulator; ``QaaSProvider(project=..., resource=...)`` for the real platform)::

    from qiskit import QuantumCircuit, transpile
    from qaas_qiskit import QaaSProvider

    with QaaSProvider.emulator(noise=False) as provider:
        backend = provider.get_backend()
        qc = QuantumCircuit(2, 2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure([0, 1], [0, 1])
        counts = backend.run(transpile(qc, backend), shots=1000).result().get_counts()

``BackendSamplerV2(backend=backend)`` and ``BackendEstimatorV2(backend=backend)`` work on it: results carry counts
and per-shot memory in the format of Qiskit's own simulators. :class:`QaaSEstimator` is an ``EstimatorV2`` with the
core's error mitigation (``options={"resilience_level": 2}`` or ``{"pipeline": Pipeline(...)}``), every pub in one
job; :func:`readout_mitigated` turns a sampled register's counts into a readout-mitigated distribution.

Errors are those of ``qaas_core`` (one tree, rooted at :class:`qaas_core.QaasError`)::

    QaasError
    ├── ConfigurationError     settings missing; an offline backend asked to run
    ├── AuthenticationError / TransportError / RemoteAPIError / ResponseError   the platform
    ├── JobFailedError         the job failed or was cancelled (both ids, the state)
    ├── JobTimeoutError        QaaSJob.result(timeout=...) ran out (the job goes on)
    └── ValidationError        bad input, found before anything is sent: unknown options, bad bindings
        ├── CircuitError       a circuit does not fit the QPU (circuit name, Qiskit instruction index)
        ├── QasmError          an OpenQASM 3 program cannot be translated (line, column)
        └── PayloadError       a result does not match the submitted circuits
"""

from __future__ import annotations

import qiskit

import qaas_core
from qaas_qiskit._backend import MAX_CIRCUITS, QaaSBackend
from qaas_qiskit._convert import CircuitTemplate
from qaas_qiskit._estimator import QaaSEstimator
from qaas_qiskit._estimator_options import EstimatorOptions
from qaas_qiskit._job import QaaSJob
from qaas_qiskit._options import OPTION_NAMES
from qaas_qiskit._primitive_job import QaaSPrimitiveJob
from qaas_qiskit._provider import QaaSProvider
from qaas_qiskit._readout import readout_mitigated
from qaas_qiskit._target import DT, NATIVE_GATES, target_from_calibration

__version__ = "0.1.0"

__all__ = [
    "DT",
    "MAX_CIRCUITS",
    "NATIVE_GATES",
    "OPTION_NAMES",
    "CircuitTemplate",
    "EstimatorOptions",
    "QaaSBackend",
    "QaaSEstimator",
    "QaaSJob",
    "QaaSPrimitiveJob",
    "QaaSProvider",
    "__version__",
    "readout_mitigated",
    "target_from_calibration",
    "versions",
]


def versions() -> dict[str, str]:
    """Versions of this adapter, the core and Qiskit, for bug reports."""
    return {"qaas-qiskit": __version__, "qaas-core": qaas_core.__version__, "qiskit": qiskit.__version__}
