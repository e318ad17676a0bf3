"""qaas.iqm end to end on the embedded emulator: LEXIS login, HEAppE job, cluster-side worker, IQM server, simulator.

All devices here share one noiseless garnet20 emulator (the device pool keys emulators by their settings), which is
stopped when the module is done. Job counts are read from the client's ledger — the durable record of every
submission — and from a counting wrapper around ``client.submit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pennylane as qml
import pytest
from pennylane.exceptions import DeviceError, WireError

import qaas_core as q
import qaas_pennylane
from qaas_pennylane import QaasDevice, QaasDeviceError

SETTINGS: dict[str, Any] = {
    "emulator": "garnet20",
    "noise": False,
    "seed": 17,
    "emulator_options": {"scheduler_tick_seconds": 0.02, "poll_max": 0.05},
}


def _device(wires: int) -> QaasDevice:
    return qml.device("qaas.iqm", wires=wires, **SETTINGS)  # type: ignore[no-any-return]


@pytest.fixture(scope="module", autouse=True)
def _one_emulator_for_the_module() -> Iterator[None]:
    yield
    qaas_pennylane.shutdown_emulators()


class Submissions:
    """Counts ``client.submit`` calls (and their batch sizes) and the client's ledger entries."""

    def __init__(self, client: q.QaasClient, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client = client
        self.sizes: list[int] = []
        self.ledger_before = len(client.jobs(limit=None))
        real = client.submit

        def counting(circuits: Any, shots: int, **kwargs: Any) -> q.Job:
            self.sizes.append(len(circuits))
            return real(circuits, shots, **kwargs)

        monkeypatch.setattr(client, "submit", counting)

    @property
    def ledger_jobs(self) -> int:
        return len(self.client.jobs(limit=None)) - self.ledger_before


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Callable[[QaasDevice], Submissions]:
    return lambda dev: Submissions(dev.client, monkeypatch)


def _within_shot_noise(got: Any, want: Any, shots: int, scale: float = 1.0) -> None:
    np.testing.assert_allclose(got, want, atol=5 * scale / np.sqrt(shots))


def test_bell_and_ghz_counts(watch: Callable[[QaasDevice], Submissions]) -> None:
    dev = _device(4)
    seen = watch(dev)

    @qml.set_shots(4000)
    @qml.qnode(dev)
    def ghz(n: int) -> Any:
        qml.Hadamard(0)
        for w in range(n - 1):
            qml.CNOT([w, w + 1])
        return qml.counts(wires=range(n))

    bell = ghz(2)
    assert set(bell) == {"00", "11"}
    _within_shot_noise(bell["00"] / 4000, 0.5, 4000, 0.5)
    four = ghz(4)
    assert set(four) == {"0000", "1111"} and sum(four.values()) == 4000
    _within_shot_noise(four["1111"] / 4000, 0.5, 4000, 0.5)
    assert seen.sizes == [1, 1] and seen.ledger_jobs == 2
    job = dev.last_job
    assert job is not None and job.iqm_job_id and job.heappe_job_id


def test_expectations_match_default_qubit(watch: Callable[[QaasDevice], Submissions]) -> None:
    ham = qml.Hamiltonian([0.7, -0.4, 0.25], [qml.Z(0) @ qml.Z(1), qml.X(2), qml.Y(0) @ qml.X(1)])

    def circuit(x: Any) -> Any:
        qml.RX(x[0], 0)
        qml.RY(x[1], 1)
        qml.CNOT([0, 1])
        qml.CRZ(x[2], [1, 2])
        qml.Hadamard(2)
        return qml.expval(qml.Z(0)), qml.expval(qml.X(1) @ qml.Y(2)), qml.expval(ham), qml.var(qml.X(2))

    x = np.array([0.6, -1.1, 0.9])
    dev = _device(3)
    seen = watch(dev)
    got = qml.set_shots(qml.QNode(circuit, dev), 10_000)(x)
    want = qml.QNode(circuit, qml.device("default.qubit"))(x)
    for g, w, scale in zip(got, want, [1.0, 1.0, 1.35, 1.0], strict=True):
        _within_shot_noise(g, w, 10_000, scale)
    assert len(seen.sizes) == 1 and seen.sizes[0] > 1 and seen.ledger_jobs == 1  # all commuting groups, one job


def test_parameter_shift_gradient_of_a_two_layer_ansatz(watch: Callable[[QaasDevice], Submissions]) -> None:
    def ansatz(w: Any) -> Any:
        qml.StronglyEntanglingLayers(w, wires=range(3))
        return qml.expval(qml.Z(0) @ qml.Z(2))

    shape = qml.StronglyEntanglingLayers.shape(n_layers=2, n_wires=3)
    w = qml.numpy.array(np.random.default_rng(3).uniform(0, 2 * np.pi, shape), requires_grad=True)
    dev = _device(3)
    seen = watch(dev)
    node = qml.set_shots(qml.QNode(ansatz, dev, diff_method="parameter-shift"), 20_000)
    got = qml.grad(node)(w)
    want = qml.grad(qml.QNode(ansatz, qml.device("default.qubit"), diff_method="backprop"))(w)
    _within_shot_noise(got, want, 20_000)
    assert np.abs(want).max() > 0.2  # a gradient worth checking
    params = w.size
    assert seen.sizes == [1, 2 * params] and seen.ledger_jobs == 2  # forward pass, then all 2P shifts in one job


def test_rejected_programs_create_no_job(watch: Callable[[QaasDevice], Submissions]) -> None:
    dev = _device(2)
    dev.client.calibration()  # warm: a rejected program must not even need it
    seen = watch(dev)

    def bad_wire() -> Any:
        qml.Hadamard(5)
        return qml.probs(wires=[0, 1])

    def bad_op() -> Any:
        qml.DepolarizingChannel(0.1, wires=0)
        return qml.probs(wires=[0, 1])

    for body, error in [(bad_wire, WireError), (bad_op, DeviceError)]:
        with pytest.raises(error):
            qml.set_shots(qml.QNode(body, dev), 100)()
    with pytest.raises(QaasDeviceError, match="shots"):
        qml.QNode(lambda: qml.expval(qml.Z(0)), dev)()
    assert seen.sizes == [] and seen.ledger_jobs == 0


def test_teleportation_with_native_feedback() -> None:
    theta = 1.2

    @qml.set_shots(6000)
    @qml.qnode(_device(3))
    def teleport() -> Any:
        qml.RY(theta, 0)
        qml.Hadamard(1)
        qml.CNOT([1, 2])
        qml.CNOT([0, 1])
        qml.Hadamard(0)
        m0, m1 = qml.measure(0), qml.measure(1)
        qml.cond(m1, qml.PauliX)(2)
        qml.cond(m0, qml.PauliZ)(2)
        return qml.expval(qml.Z(2)), qml.expval(qml.X(2))

    z, x = teleport()
    _within_shot_noise([z, x], [np.cos(theta), np.sin(theta)], 6000)


def test_small_vqe_converges() -> None:
    ham = qml.Hamiltonian([-1.0, -0.6, -0.6], [qml.Z(0) @ qml.Z(1), qml.X(0), qml.X(1)])
    ground = float(np.linalg.eigvalsh(qml.matrix(ham, wire_order=[0, 1]))[0])
    dev = _device(2)

    @qml.set_shots(2000)
    @qml.qnode(dev, diff_method="parameter-shift")
    def energy(x: Any) -> Any:
        qml.RY(x[0], 0)
        qml.RY(x[1], 1)
        qml.CNOT([0, 1])
        qml.RY(x[2], 0)
        qml.RY(x[3], 1)
        return qml.expval(ham)

    x = qml.numpy.array([0.3, -0.4, 0.1, 0.2], requires_grad=True)
    opt = qml.GradientDescentOptimizer(0.6)
    energies = []
    for _ in range(7):
        x, e = opt.step_and_cost(energy, x)
        energies.append(float(e))
    final = float(qml.set_shots(energy, 8000)(x))
    assert energies[0] - ground > 0.5
    assert final - ground < 0.1, (energies, final, ground)
