"""qaas_pennylane installs beside qaas-core alone, exposes a curated surface and registers the qaas.iqm device."""

from __future__ import annotations

import importlib.metadata

import pennylane as qml
import pytest
from pennylane.exceptions import DeviceError

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


def test_public_names() -> None:
    assert sorted(qaas_pennylane.__all__) == [
        "Conversion",
        "LayoutError",
        "QaasDevice",
        "QaasDeviceError",
        "__version__",
        "shutdown_emulators",
        "versions",
    ]
    for name in qaas_pennylane.__all__:
        assert hasattr(qaas_pennylane, name)


def test_device_is_registered_under_the_plugin_entry_point() -> None:
    points = importlib.metadata.entry_points(group="pennylane.plugins")
    (point,) = [p for p in points if p.name == "qaas.iqm"]
    assert point.load() is qaas_pennylane.QaasDevice
    dev = qml.device("qaas.iqm", wires=2, emulator="garnet20")  # the emulator starts on first use, not here
    assert isinstance(dev, qaas_pennylane.QaasDevice)
    assert dev.name == "qaas.iqm"


def test_capabilities_come_from_the_bundled_toml() -> None:
    caps = qaas_pennylane.QaasDevice.capabilities
    assert caps is not None
    assert {"CZ", "CNOT", "RX", "RZ", "Hadamard"} <= set(caps.operations)
    assert caps.supported_mcm_methods == ["device"]
    assert set(caps.measurement_processes) == {"ExpectationMP", "VarianceMP", "ProbabilityMP", "SampleMP", "CountsMP"}
    assert not caps.filter(finite_shots=False).measurement_processes  # nothing is available analytically


def test_device_errors_are_qaas_validation_errors_and_pennylane_device_errors() -> None:
    assert issubclass(qaas_pennylane.QaasDeviceError, qaas_core.ValidationError)
    assert issubclass(qaas_pennylane.QaasDeviceError, DeviceError)
    assert issubclass(qaas_pennylane.LayoutError, qaas_pennylane.QaasDeviceError)
    with pytest.raises(qaas_core.QaasError):
        raise qaas_pennylane.LayoutError("x")
