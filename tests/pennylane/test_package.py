"""qaas_pennylane installs beside qaas-core alone and reports its versions."""

from __future__ import annotations

import importlib.metadata

import qaas_core
import qaas_pennylane


def test_versions_match_installed_distributions() -> None:
    v = qaas_pennylane.versions()
    assert v["qaas-pennylane"] == importlib.metadata.version("qaas-pennylane") == qaas_pennylane.__version__
    assert v["qaas-core"] == importlib.metadata.version("qaas-core") == qaas_core.__version__
    assert set(v) == {"qaas-pennylane", "qaas-core", "pennylane"}


def test_only_this_framework_is_installed() -> None:
    others = {"qiskit", "cirq-core", "pennylane"} - {"pennylane"}
    for dist in others:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        raise AssertionError(f"{dist} is installed in the qaas-pennylane session; it must test the adapter alone")
