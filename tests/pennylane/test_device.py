"""The qaas.iqm device without a server: preprocessing, batching, result shapes and configuration.

``ExactSamplingClient`` stands in for the qaas client: it validates every batch against the calibration like the
real client, records each submission, and samples the exact outcome distribution of the native circuits, so
these tests exercise the device's own pipeline, conversion and result mapping. The end-to-end path over the
emulator is in ``test_emulator.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pennylane as qml
import pytest
from pennylane.exceptions import DeviceError, PennyLaneDeprecationWarning, WireError

import qaas_core as q
from qaas_pennylane import QaasDevice, QaasDeviceError
from tests.pennylane.native_sim import ExactSamplingClient

SHOTS = 20_000
SIGMA5 = 5 / np.sqrt(SHOTS)  # five standard deviations of a ±1 estimator's mean


@pytest.fixture
def client() -> ExactSamplingClient:
    return ExactSamplingClient("garnet20", seed=11)


def _dev(client: ExactSamplingClient, wires: Any = 3, **kwargs: Any) -> QaasDevice:
    return QaasDevice(wires=wires, client=client, **kwargs)  # type: ignore[arg-type]


def _reference(qfunc: Any, *args: Any, shots: Any = None, mcm: str = "deferred") -> Any:
    node = qml.QNode(qfunc, qml.device("default.qubit"), mcm_method=mcm)
    return (qml.set_shots(node, shots) if shots else node)(*args)


# -- rejected before anything is sent ------------------------------------------------------------------------


def test_analytic_execution_is_refused_with_a_hint(client: ExactSamplingClient) -> None:
    @qml.qnode(_dev(client))
    def circuit() -> Any:
        qml.Hadamard(0)
        return qml.expval(qml.Z(0))

    with pytest.raises(QaasDeviceError, match=r"needs shots.*set_shots"):
        circuit()
    assert client.submissions == []


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (lambda: qml.Hadamard(7), WireError, "not present on the device|not on the device|wires"),
        (lambda: qml.AmplitudeDamping(0.1, wires=0), DeviceError, "AmplitudeDamping"),
        (lambda: qml.measure(0, postselect=1), QaasDeviceError, "post-selection"),
        (lambda: qml.cond(qml.measure(0), qml.CNOT)(wires=[1, 2]), QaasDeviceError, "single-qubit|not supported"),
        (
            lambda: qml.cond(qml.measure(0) & qml.measure(1), qml.PauliX)(2),
            QaasDeviceError,
            "mcm_method='deferred'",
        ),
    ],
    ids=["bad-wire", "noise-channel", "postselect", "conditional-two-qubit-gate", "condition-on-two-bits"],
)
def test_bad_programs_fail_in_preprocessing(client: ExactSamplingClient, body: Any, error: type, message: str) -> None:
    @qml.set_shots(100)
    @qml.qnode(_dev(client))
    def circuit() -> Any:
        body()
        return qml.probs(wires=[0, 1])

    with pytest.raises(error, match=message):
        circuit()
    assert client.submissions == []


def test_state_is_not_a_hardware_measurement(client: ExactSamplingClient) -> None:
    @qml.set_shots(100)
    @qml.qnode(_dev(client))
    def circuit() -> Any:
        return qml.state()

    with pytest.raises(DeviceError, match="not accepted"):
        circuit()
    assert client.submissions == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"emulator": "garnet20", "client": "c"}, q.ConfigurationError, "not both"),
        ({"emulator": "garnet20", "project": "p"}, q.ConfigurationError, "drop project"),
        ({"noise": False, "client": "c"}, q.ConfigurationError, "only apply with emulator"),
        ({"emulator": "nowhere9"}, q.ConfigurationError, "unknown device profile"),
        ({"emulator": "garnet20", "noise": "maybe"}, q.ConfigurationError, "noise must be true or false"),
        ({"emulator": "garnet20", "seed": 1.5}, q.ConfigurationError, "seed must be an integer"),
        ({"emulator": "garnet20", "options": {"heralding": "zeros"}}, q.ValidationError, "invalid run option"),
    ],
)
def test_configuration_errors_at_construction(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        qml.device("qaas.iqm", wires=2, **kwargs)


def test_cli_style_flags_are_accepted() -> None:
    dev = qml.device("qaas.iqm", wires=2, emulator="deneb6", noise=0, seed=3)
    assert repr(dev) == "<qaas.iqm device wires=2 emulator='deneb6'>"


# -- one job per batch, results shaped like default.qubit ---------------------------------------------------


def test_a_batch_of_tapes_with_different_shots_is_one_submission(client: ExactSamplingClient) -> None:
    dev = _dev(client, wires=2)
    tapes = [
        qml.tape.QuantumScript([qml.RX(0.1 * k, 0)], [qml.sample(wires=[0, 1])], shots=shots)
        for k, shots in enumerate([10, 500, 37, [(5, 4)]])
    ]
    program = dev.preprocess_transforms()
    batch, post = program(tapes)
    results = post(dev.execute(batch))
    assert len(client.submissions) == 1
    circuits, shots = client.submissions[0]
    assert (len(circuits), shots) == (4, 500)
    assert [np.shape(r) for r in results[:3]] == [(10, 2), (500, 2), (37, 2)]
    assert [np.shape(r) for r in results[3]] == [(5, 2)] * 4


def test_expectations_of_hamiltonians_and_hermitians_match_default_qubit(client: ExactSamplingClient) -> None:
    herm = np.array([[1.0, 2 - 1j], [2 + 1j, -1.0]])
    ham = qml.Hamiltonian([0.5, 0.3, -0.2], [qml.X(0) @ qml.Z(1), qml.Y(2), qml.Z(0)])

    def circuit(x: Any) -> Any:
        qml.RX(x[0], 0)
        qml.RY(x[1], 1)
        qml.CNOT([0, 1])
        qml.CRX(0.5, [1, 2])
        qml.Toffoli([0, 1, 2])
        return (
            qml.expval(qml.Hermitian(herm, 0)),
            qml.expval(ham),
            qml.var(qml.X(1) @ qml.Hermitian(herm, 2)),
            qml.probs(wires=[2, 0]),
        )

    x = np.array([0.4, 0.8])
    got = qml.set_shots(qml.QNode(circuit, _dev(client)), SHOTS)(x)
    want = _reference(circuit, x)
    assert len(client.submissions) == 1  # the Hamiltonian's non-commuting groups share the job
    scale = [np.linalg.norm(herm, 2), 1.0, np.linalg.norm(herm, 2) ** 2, 1.0]
    for g, w, s in zip(got, want, scale, strict=True):
        np.testing.assert_allclose(g, w, atol=SIGMA5 * 2 * s)


def test_samples_counts_and_shot_vectors_have_default_qubit_shapes(client: ExactSamplingClient) -> None:
    def circuit() -> Any:
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1)), qml.sample(wires=[0, 1]), qml.counts(), qml.sample(qml.Y(2))

    dev = _dev(client)
    got = qml.set_shots(qml.QNode(circuit, dev), [(10, 2), 30])()
    want = _reference(circuit, shots=[(10, 2), 30])
    assert len(got) == len(want) == 3
    for g, w in zip(got, want, strict=True):
        assert g[0] == 1.0
        assert np.shape(g[1]) == np.shape(w[1]) and g[1].dtype == w[1].dtype
        assert set(g[2]) <= {"000", "110"} and sum(g[2].values()) == len(g[1])
        assert np.shape(g[3]) == np.shape(w[3]) and set(np.unique(g[3])) <= {-1.0, 1.0}
        assert (g[1][:, 0] == g[1][:, 1]).all()


def test_parameter_broadcasting_is_one_submission(client: ExactSamplingClient) -> None:
    @qml.set_shots(SHOTS)
    @qml.qnode(_dev(client, wires=1))
    def circuit(x: Any) -> Any:
        qml.RX(x, 0)
        return qml.expval(qml.Z(0))

    x = np.array([0.0, 1.0, 2.5])
    np.testing.assert_allclose(circuit(x), np.cos(x), atol=SIGMA5)
    assert len(client.submissions) == 1 and len(client.submissions[0][0]) == 3


def test_statistics_of_mid_circuit_measurements(client: ExactSamplingClient) -> None:
    def circuit(samples: bool = True) -> Any:
        qml.RY(1.1, 0)
        m = qml.measure(0)
        qml.cond(m, qml.RX)(0.7, 1)
        m2 = qml.measure(1)
        if not samples:
            return qml.expval(m), qml.probs(op=[m, m2])
        return qml.expval(m), qml.probs(op=[m, m2]), qml.sample(2 * m + m2), qml.counts(m2)

    got = qml.set_shots(qml.QNode(circuit, _dev(client)), SHOTS)()
    exact = _reference(circuit, False)  # default.qubit, deferred, analytic
    assert got[0] == pytest.approx(float(exact[0]), abs=SIGMA5)
    np.testing.assert_allclose(got[1], exact[1], atol=SIGMA5)
    np.testing.assert_allclose(np.bincount(got[2].astype(int), minlength=4) / SHOTS, exact[1], atol=SIGMA5)
    assert sum(got[3].values()) == SHOTS


def test_deferred_measurements_on_request(client: ExactSamplingClient) -> None:
    def circuit() -> Any:
        qml.Hadamard(0)
        qml.Hadamard(1)
        m0, m1 = qml.measure(0), qml.measure(1)
        qml.cond(m0 & m1, qml.PauliX)(2)  # two-bit condition: not native, fine when deferred
        return qml.probs(wires=2)

    node = qml.QNode(circuit, _dev(client, wires=None), mcm_method="deferred")
    got = qml.set_shots(node, SHOTS)()
    np.testing.assert_allclose(got, [0.75, 0.25], atol=SIGMA5)
    assert not any(i.name == "cc_prx" for i in client.submissions[0][0][0].instructions)


def test_device_shots_still_work_but_pennylane_says_they_are_deprecated(client: ExactSamplingClient) -> None:
    with pytest.warns(PennyLaneDeprecationWarning, match="shots on device"):
        dev = QaasDevice(wires=1, shots=123, client=client)  # type: ignore[arg-type]

    @qml.qnode(dev)
    def circuit() -> Any:
        return qml.sample(wires=0)

    assert np.shape(circuit()) == (123, 1) and client.submissions[0][1] == 123


def test_tracker_counts_one_job_per_batch(client: ExactSamplingClient) -> None:
    dev = _dev(client, wires=2)

    @qml.set_shots(100)
    @qml.qnode(dev, diff_method="parameter-shift")
    def circuit(x: Any) -> Any:
        qml.RX(x[0], 0)
        qml.RY(x[1], 1)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1))

    x = qml.numpy.array([0.3, 0.4], requires_grad=True)
    with dev.tracker:
        qml.grad(circuit)(x)
    assert dev.tracker.totals["jobs"] == len(client.submissions) == 2  # forward pass + the 4 shifted tapes
    assert [len(c) for c, _ in client.submissions] == [1, 4]
    assert dev.tracker.totals["executions"] == 5


def test_mitigation_variants_share_one_job(client: ExactSamplingClient) -> None:
    dev = _dev(client, wires=2)

    @qml.noise.mitigate_with_zne(
        scale_factors=[1, 3, 5], folding=qml.noise.fold_global, extrapolate=qml.noise.richardson_extrapolate
    )
    @qml.set_shots(SHOTS)
    @qml.qnode(dev)
    def circuit() -> Any:
        qml.RX(0.8, 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(1))

    assert float(circuit()) == pytest.approx(np.cos(0.8), abs=10 * SIGMA5)  # noiseless: every fold agrees
    assert [len(c) for c, _ in client.submissions] == [3]


def test_platform_settings_are_checked_at_construction(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("QAAS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("QAAS_DATA_DIR", str(tmp_path))
    for name in ("QAAS_PROJECT", "QAAS_RESOURCE", "QAAS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(q.ConfigurationError, match=r"(?s)project: pass project=.*resource: pass resource="):
        qml.device("qaas.iqm", wires=2)
    dev = qml.device("qaas.iqm", wires=2, project="demo", resource="EQE1-CZ-P0001")
    assert dev.client.settings.resource == "EQE1-CZ-P0001"
