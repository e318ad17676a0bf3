"""qaas-core: the framework-neutral engine of qaas.

Circuits in the IQM transfer format, calibrations, OpenQASM 3 input, the wire documents shared by every adapter,
and the client that runs batches on LEXIS + HEAppE (or the embedded emulator). Importing this package is cheap: the
network stack, numpy and the OpenQASM parser load only when first used, and no quantum framework is ever imported.

Error mitigation — readout correction, zero-noise extrapolation by native folding, Pauli twirling, dynamical
decoupling, composed per circuit with every variant in one job — is the subpackage :mod:`qaas_core.mitigation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from qaas_core._device import CZRoute, DeviceView
from qaas_core._errors import (
    AuthenticationError,
    BudgetExceededError,
    CalibrationError,
    CircuitError,
    ConfigurationError,
    DeadlineError,
    JobFailedError,
    JobTimeoutError,
    PayloadError,
    QaasError,
    QasmError,
    RemoteAPIError,
    ResponseError,
    SubmissionUnconfirmedError,
    TransportError,
    ValidationError,
)
from qaas_core._frames import Frames, wrap_phase
from qaas_core._gc import gc_paused
from qaas_core._phase import JobPhase
from qaas_core._profiles import PROFILES, load_profile
from qaas_core._qasm3 import QASM3_FEATURES, circuit_from_qasm3
from qaas_core._result import RESULT_SCHEMA, CircuitResult, Result, ResultDocument, decode_result, encode_result
from qaas_core._schedule import Schedule, circuit_duration, schedule
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

if TYPE_CHECKING:
    from qaas_core._client import PresubmitReport, QaasClient, StaleCalibrationWarning
    from qaas_core._config import Settings, load_settings
    from qaas_core._estimate import Estimate, QPUTimeModel
    from qaas_core._fuse import conditioned, fuse, fuse_arrays, fuse_matrix
    from qaas_core._job import AsyncJob, Job, ProgressEvent
    from qaas_core._ledger import JobNotFoundError, Ledger, LedgerEntry
    from qaas_core._route import Routed, route
    from qaas_core._session import Session
    from qaas_core._template import Template, TemplateSlot

# the client side (network, ledger) and the templates (numpy) load on first use, so that `import qaas_core` stays fast
_LAZY = {
    "AsyncJob": "_job",
    "Estimate": "_estimate",
    "Routed": "_route",
    "conditioned": "_fuse",
    "fuse": "_fuse",
    "fuse_arrays": "_fuse",
    "fuse_matrix": "_fuse",
    "route": "_route",
    "QPUTimeModel": "_estimate",
    "Job": "_job",
    "JobNotFoundError": "_ledger",
    "Ledger": "_ledger",
    "LedgerEntry": "_ledger",
    "PresubmitReport": "_client",
    "ProgressEvent": "_job",
    "QaasClient": "_client",
    "Session": "_session",
    "Settings": "_config",
    "StaleCalibrationWarning": "_client",
    "Template": "_template",
    "TemplateSlot": "_template",
    "load_settings": "_config",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qaas_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"qaas_core.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CALIBRATION_SCHEMA",
    "NATIVE_OPERATIONS",
    "PROFILES",
    "QASM3_FEATURES",
    "RESULT_SCHEMA",
    "RUN_SCHEMA",
    "AsyncJob",
    "AuthenticationError",
    "BudgetExceededError",
    "CZRoute",
    "Calibration",
    "CalibrationError",
    "Circuit",
    "CircuitError",
    "CircuitResult",
    "ConfigurationError",
    "DeadlineError",
    "DeviceView",
    "Estimate",
    "Frames",
    "GateInfo",
    "IQMJob",
    "Instruction",
    "Job",
    "JobFailedError",
    "JobNotFoundError",
    "JobPhase",
    "JobTimeoutError",
    "Ledger",
    "LedgerEntry",
    "Metrics",
    "PayloadError",
    "PresubmitReport",
    "ProgressEvent",
    "QPUTimeModel",
    "QaasClient",
    "QaasError",
    "QasmError",
    "RemoteAPIError",
    "ResponseError",
    "Result",
    "ResultDocument",
    "Routed",
    "RunOptions",
    "RunRequest",
    "Schedule",
    "Session",
    "Settings",
    "StaleCalibrationWarning",
    "SubmissionUnconfirmedError",
    "Template",
    "TemplateSlot",
    "TransportError",
    "ValidationError",
    "__version__",
    "barrier",
    "cc_prx",
    "check_circuit",
    "circuit_duration",
    "circuit_from_qasm3",
    "conditioned",
    "cz",
    "decode_circuits",
    "decode_iqm_job",
    "decode_result",
    "decode_run_request",
    "delay",
    "encode_circuits",
    "encode_iqm_job",
    "encode_result",
    "encode_run_request",
    "fuse",
    "fuse_arrays",
    "fuse_matrix",
    "gc_paused",
    "load_profile",
    "load_settings",
    "measure",
    "move",
    "prx",
    "reset",
    "route",
    "schedule",
    "validate_circuits",
    "wrap_phase",
]
