"""qaas-core: the framework-neutral engine of qaas.

Circuits in the IQM transfer format, calibrations, OpenQASM 3 input and the wire documents shared by every
adapter. Importing this package is cheap: it pulls in no network stack and no quantum framework.
"""

from __future__ import annotations

from qaas_core._calibration import CALIBRATION_SCHEMA, Calibration, GateInfo, Metrics
from qaas_core._circuit import (
    NATIVE_OPERATIONS,
    Circuit,
    Instruction,
    barrier,
    cc_prx,
    check_circuit,
    cz,
    delay,
    measure,
    move,
    prx,
    reset,
    validate_circuits,
)
from qaas_core._errors import (
    AuthenticationError,
    CalibrationError,
    CircuitError,
    ConfigurationError,
    JobFailedError,
    PayloadError,
    QaasError,
    QasmError,
    RemoteAPIError,
    TransportError,
    ValidationError,
)
from qaas_core._profiles import PROFILES, load_profile
from qaas_core._qasm3 import QASM3_FEATURES, circuit_from_qasm3
from qaas_core._wire import (
    RUN_SCHEMA,
    IQMJob,
    RunOptions,
    RunRequest,
    decode_circuits,
    decode_iqm_job,
    decode_run_request,
    encode_circuits,
    encode_iqm_job,
    encode_run_request,
)

__version__ = "0.1.0"

__all__ = [
    "CALIBRATION_SCHEMA",
    "NATIVE_OPERATIONS",
    "PROFILES",
    "QASM3_FEATURES",
    "RUN_SCHEMA",
    "AuthenticationError",
    "Calibration",
    "CalibrationError",
    "Circuit",
    "CircuitError",
    "ConfigurationError",
    "GateInfo",
    "IQMJob",
    "Instruction",
    "JobFailedError",
    "Metrics",
    "PayloadError",
    "QaasError",
    "QasmError",
    "RemoteAPIError",
    "RunOptions",
    "RunRequest",
    "TransportError",
    "ValidationError",
    "__version__",
    "barrier",
    "cc_prx",
    "check_circuit",
    "circuit_from_qasm3",
    "cz",
    "decode_circuits",
    "decode_iqm_job",
    "decode_run_request",
    "delay",
    "encode_circuits",
    "encode_iqm_job",
    "encode_run_request",
    "load_profile",
    "measure",
    "move",
    "prx",
    "reset",
    "validate_circuits",
]
