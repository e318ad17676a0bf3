"""qaas_qiskit installs beside qaas-core alone and reports its versions."""

from __future__ import annotations

import importlib.metadata

import qaas_core
import qaas_qiskit


def test_versions_match_installed_distributions() -> None:
    v = qaas_qiskit.versions()
    assert v["qaas-qiskit"] == importlib.metadata.version("qaas-qiskit") == qaas_qiskit.__version__
    assert v["qaas-core"] == importlib.metadata.version("qaas-core") == qaas_core.__version__
    assert set(v) == {"qaas-qiskit", "qaas-core", "qiskit"}


def test_only_this_framework_is_installed() -> None:
    others = {"qiskit", "cirq-core", "pennylane"} - {"qiskit"}
    for dist in others:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        raise AssertionError(f"{dist} is installed in the qaas-qiskit session; it must test the adapter alone")


def test_public_surface() -> None:
    assert sorted(qaas_qiskit.__all__) == [
        "CircuitTemplate",
        "DT",
        "EstimatorOptions",
        "MAX_CIRCUITS",
        "NATIVE_GATES",
        "OPTION_NAMES",
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
    for name in qaas_qiskit.__all__:
        assert getattr(qaas_qiskit, name) is not None
