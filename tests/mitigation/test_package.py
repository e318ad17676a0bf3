"""The public surface of qaas_core.mitigation, and that it stays framework-free."""

from __future__ import annotations

import subprocess
import sys

import qaas_core.mitigation as m

EXPECTED = {
    "DEFAULT_PIPELINE", "MITIGATION_KEY", "SEQUENCES", "CircuitInBasis", "Context", "DynamicalDecoupling",
    "Exponential", "Extrapolation", "Extrapolator", "Fold", "Linear", "MitigatedResult", "MitigatedValue",
    "MitigationPlan", "ObservableLike", "PauliSum", "Pipeline", "Polynomial", "ReadoutMitigation", "ReadoutModel",
    "Richardson", "Stage", "Twirl", "Variant", "fold_global", "fold_local", "insert_dd", "is_preserved",
    "measurement_bases", "mitigate_counts", "nearest_probability", "quasi_probabilities",
    "readout_calibration_circuits", "run_mitigated", "twirl", "with_basis",
}  # fmt: skip


def test_public_names() -> None:
    assert set(m.__all__) == EXPECTED
    for name in m.__all__:
        assert hasattr(m, name), name


def test_no_framework_and_no_client_stack_on_import() -> None:
    code = (
        "import sys, qaas_core.mitigation; "
        "print(','.join(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'qiskit', 'cirq', 'pennylane', 'iqm', 'scipy', 'httpx', 'starlette'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
