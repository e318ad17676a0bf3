"""qaas_cirq installs beside qaas-core alone, reports its versions and keeps a curated public surface."""

from __future__ import annotations

import importlib.metadata

import qaas_cirq
import qaas_core

EXPECTED = {
    "CirqObservable",
    "CompileMode",
    "CompiledCircuit",
    "ConversionError",
    "MitigatedEstimator",
    "MoveGate",
    "QaaSDevice",
    "QaaSJob",
    "QaaSResult",
    "QaaSSampler",
    "ResultMetadata",
    "__version__",
    "circuit_to_qaas",
    "circuits_to_qaas",
    "json_resolver",
    "sweep_to_qaas",
    "versions",
}


def test_versions_match_installed_distributions() -> None:
    v = qaas_cirq.versions()
    assert v["qaas-cirq"] == importlib.metadata.version("qaas-cirq") == qaas_cirq.__version__
    assert v["qaas-core"] == importlib.metadata.version("qaas-core") == qaas_core.__version__
    assert set(v) == {"qaas-cirq", "qaas-core", "cirq"}


def test_public_names() -> None:
    assert set(qaas_cirq.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(qaas_cirq, name) is not None
    assert issubclass(qaas_cirq.ConversionError, qaas_core.ValidationError)


def test_only_this_framework_is_installed() -> None:
    others = {"qiskit", "cirq-core", "pennylane"} - {"cirq-core"}
    for dist in others:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        raise AssertionError(f"{dist} is installed in the qaas-cirq session; it must test the adapter alone")
