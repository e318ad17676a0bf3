"""qiskit-experiments, unmodified, on a qaas backend bound to a noisy embedded emulator (garnet20, seeded).

Every experiment runs as a user writes it — ``exp.run(backend).block_for_results()`` — through qiskit-experiments'
default path (qiskit-ibm-runtime's local ``SamplerV2``, which deep-copies the backend and passes ``meas_level``), and
its fit is checked against the calibration the emulator's noise comes from: T1 and T2 within a factor of the
qubit's calibrated values, error per Clifford against the calibrated gate errors times the gates per Clifford the
experiment itself counted. Lengths and shots are small; the emulator is seeded, so the fits are reproducible.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

import numpy as np
import pytest
from qiskit.circuit.library import CZGate
from qiskit_experiments.framework import ExperimentData, ExperimentStatus, ParallelExperiment
from qiskit_experiments.library import T1, InterleavedRB, StandardRB, T2Ramsey

import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSProvider

SHOTS = 300

# qiskit-experiments 0.14 builds qiskit-ibm-runtime's SamplerV2, which that library now deprecates (not ours to fix)
pytestmark = pytest.mark.filterwarnings("ignore:The SamplerV2 class is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QaaSProvider]:
    """A noisy garnet20 (depolarising gates, readout errors, T1/T2 decay while idle), seeded."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QAAS_CONFIG", str(tmp_path_factory.mktemp("config") / "none.toml"))
        with QaaSProvider.emulator("garnet20", noise=True, seed=20260, data_dir=tmp_path_factory.mktemp("qaas")) as p:
            yield p


@pytest.fixture
def backend(provider: QaaSProvider) -> QaaSBackend:
    """The provider's backend, copied so that options set in one test stay there (the copy shares the client)."""
    return copy.deepcopy(provider.get_backend())


def _qubit(backend: QaaSBackend, index: int) -> str:
    return backend.calibration.qubits[index]


def _result(data: ExperimentData, name: str) -> float:
    assert data.status() is ExperimentStatus.DONE, data.errors()
    value = data.analysis_results(name, dataframe=True).iloc[0].value
    return float(value.nominal_value)


def _pulses_per_clifford(data: ExperimentData, qubits: tuple[int, ...]) -> dict[str, float]:
    """Gates per Clifford as the experiment counted them in its transpiled circuits (pulses, not virtual Z)."""
    totals: dict[str, float] = {}
    rows = data.data()
    for row in rows:
        cliffords = row["metadata"]["xval"] + 1
        for (where, gate), count in row["metadata"]["count_ops"]:
            if gate == "rz" or not set(where) <= set(qubits):
                continue
            key = "2q" if len(where) == 2 else "1q"
            totals[key] = totals.get(key, 0.0) + count / cliffords / len(rows)
    return totals


def _prx_error(backend: QaaSBackend, index: int) -> float:
    error = backend.calibration.error("prx", (_qubit(backend, index),))
    assert error is not None
    return error


def _cz_error(backend: QaaSBackend, a: int, b: int) -> float:
    error = backend.calibration.error("cz", (_qubit(backend, a), _qubit(backend, b)))
    assert error is not None
    return error


def test_standard_rb_one_qubit(backend: QaaSBackend) -> None:
    # sequences long enough to decay (a 1q Clifford costs < 1 pulse) outlast T2, as they would on the QPU
    backend.set_options(max_circuit_duration_over_t2=0)
    exp = StandardRB([0], lengths=[1, 200, 500, 900], num_samples=2, seed=11)
    exp.set_run_options(shots=SHOTS)
    data = exp.run(backend).block_for_results()
    epc = _result(data, "EPC")
    expected = _pulses_per_clifford(data, (0,))["1q"] * _prx_error(backend, 0)
    assert expected / 2 < epc < 2 * expected, (epc, expected)


def test_standard_rb_two_qubits(backend: QaaSBackend) -> None:
    exp = StandardRB([0, 1], lengths=[1, 6, 14, 24], num_samples=3, seed=12)
    exp.set_run_options(shots=SHOTS)
    data = exp.run(backend).block_for_results()
    epc = _result(data, "EPC")
    gates = _pulses_per_clifford(data, (0, 1))
    # depolarising gate errors alone; idling (T1/T2) while the other qubit is pulsed adds to them
    floor = gates["2q"] * _cz_error(backend, 0, 1) + gates["1q"] / 2 * (_prx_error(backend, 0) + _prx_error(backend, 1))
    assert floor / 2 < epc < 4 * floor, (epc, floor)


def test_interleaved_rb_on_cz(backend: QaaSBackend) -> None:
    exp = InterleavedRB(CZGate(), [0, 1], lengths=[1, 6, 14, 24], num_samples=3, seed=13)
    exp.set_run_options(shots=SHOTS)
    data = exp.run(backend).block_for_results()
    epc = _result(data, "EPC")  # the interleaved gate's error
    calibrated = _cz_error(backend, 0, 1)
    assert calibrated / 4 < epc < 4 * calibrated, (epc, calibrated)


def test_parallel_rb_on_two_qubits(backend: QaaSBackend) -> None:
    a, b = 0, 2  # not coupled on garnet20
    assert (a, b) not in backend.target["cz"]
    exp = ParallelExperiment(
        [StandardRB([a], lengths=[1, 60, 150, 300], num_samples=2, seed=14),
         StandardRB([b], lengths=[1, 60, 150, 300], num_samples=2, seed=15)],
        flatten_results=False,
    )  # fmt: skip
    exp.set_run_options(shots=SHOTS)
    data = exp.run(backend).block_for_results()
    assert data.status() is ExperimentStatus.DONE, data.errors()
    for child, qubit in zip(data.child_data(), (a, b), strict=True):
        epc = _result(child, "EPC")
        expected = _pulses_per_clifford(child, (qubit,))["1q"] * _prx_error(backend, qubit)
        assert expected / 3 < epc < 3 * expected, (qubit, epc, expected)


def _t1_experiment(backend: QaaSBackend) -> T1:
    t1 = backend.target.qubit_properties[0].t1
    exp = T1([0], delays=np.linspace(0.0, 3.0 * t1, 12))
    exp.set_run_options(shots=SHOTS)
    return exp


def test_t1_needs_the_t2_limit_relaxed_and_says_how(backend: QaaSBackend, caplog: pytest.LogCaptureFixture) -> None:
    """Delays of several T2 exceed the QPU's default limit: refused before sending, with the option to set."""
    with caplog.at_level(logging.WARNING, logger="qaas_qiskit"):
        data = _t1_experiment(backend).run(backend).block_for_results()
    assert data.status() is ExperimentStatus.ERROR
    refusals = [r.getMessage() for r in caplog.records if r.name == "qaas_qiskit._backend"]
    assert refusals and "backend.set_options(max_circuit_duration_over_t2=" in refusals[0]
    # through backend.run (qiskit-experiments' backend_run=True) the typed error reaches the caller directly
    with pytest.raises(q.CircuitError, match=r"backend\.set_options\(max_circuit_duration_over_t2="):
        _t1_experiment(backend).run(backend, backend_run=True)


def test_t1(backend: QaaSBackend) -> None:
    backend.set_options(max_circuit_duration_over_t2=0)  # 0: the check is off (here and on the server)
    data = _t1_experiment(backend).run(backend).block_for_results()
    fitted = _result(data, "T1")
    calibrated = backend.target.qubit_properties[0].t1
    assert calibrated / 1.5 < fitted < 1.5 * calibrated, (fitted, calibrated)


def test_t2_ramsey(backend: QaaSBackend) -> None:
    t2 = backend.target.qubit_properties[0].t2
    delays = np.linspace(0.0, 2.5 * t2, 30)
    exp = T2Ramsey([0], delays=delays, osc_freq=3.0 / delays[-1])
    exp.set_run_options(shots=SHOTS)
    backend.set_options(max_circuit_duration_over_t2=3.0)  # the sampler path passes only shots: set it on the backend
    data = exp.run(backend).block_for_results()
    fitted = _result(data, "T2star")
    assert t2 / 1.5 < fitted < 1.5 * t2, (fitted, t2)
