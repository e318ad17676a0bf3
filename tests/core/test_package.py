"""The public surface of qaas_core and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import qaas_core

EXPECTED = {
    "Routed",
    "conditioned",
    "fuse",
    "fuse_arrays",
    "fuse_matrix",
    "route",
    "BudgetExceededError",
    "Estimate",
    "QPUTimeModel",
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
    "DeadlineError",
    "GateInfo",
    "IQMJob",
    "Instruction",
    "JobFailedError",
    "JobPhase",
    "Metrics",
    "PayloadError",
    "QaasError",
    "QasmError",
    "RemoteAPIError",
    "RunOptions",
    "RunRequest",
    "SubmissionUnconfirmedError",
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
    # the device view, virtual Z, the schedule model, batch building
    "CZRoute",
    "DeviceView",
    "Frames",
    "Schedule",
    "circuit_duration",
    "gc_paused",
    "schedule",
    "wrap_phase",
    # parametric templates (numpy: loaded on first use)
    "Template",
    "TemplateSlot",
    # the client side (loaded on first use)
    "RESULT_SCHEMA",
    "AsyncJob",
    "CircuitResult",
    "Job",
    "JobNotFoundError",
    "JobTimeoutError",
    "Ledger",
    "LedgerEntry",
    "PresubmitReport",
    "ProgressEvent",
    "QaasClient",
    "ResponseError",
    "Result",
    "ResultDocument",
    "Session",
    "Settings",
    "StaleCalibrationWarning",
    "decode_result",
    "encode_result",
    "load_settings",
}


def test_public_names() -> None:
    assert set(qaas_core.__all__) == EXPECTED
    for name in qaas_core.__all__:
        assert hasattr(qaas_core, name), name


def test_error_tree() -> None:
    q = qaas_core
    for cls in (
        q.ConfigurationError,
        q.AuthenticationError,
        q.TransportError,
        q.RemoteAPIError,
        q.JobFailedError,
        q.ValidationError,
    ):
        assert issubclass(cls, q.QaasError)
    for cls in (q.CircuitError, q.CalibrationError, q.PayloadError, q.QasmError):
        assert issubclass(cls, q.ValidationError)
    assert q.TransportError("x").retryable and not q.ValidationError("x").retryable
    err = q.RemoteAPIError("boom", status_code=503, detail="busy", retryable=True)
    assert (err.status_code, err.detail, err.retryable) == (503, "busy", True)
    failed = q.JobFailedError("failed", heappe_job_id=4, iqm_job_id="abc", state="failed")
    assert (failed.heappe_job_id, failed.iqm_job_id, failed.state) == (4, "abc", "failed")
    assert str(q.QasmError("bad", line=3, column=7)) == "line 3, column 7: bad"


def test_import_is_light_and_fast() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import qaas_core; dt = time.perf_counter() - t; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'qiskit', 'cirq', 'pennylane', 'iqm', 'numpy', 'httpx', 'openqasm3', 'antlr4', 'pydantic', 'starlette', "
        "'rich', 'sqlite3', 'asyncio'}); "
        "print(dt, ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == [], f"import qaas_core pulled in {out[1:]}"
    # generous bound against regressions (the benchmark tracks the 0.3 s target precisely)
    assert float(out[0]) < 1.0
