"""qaas results -> cirq.ResultDict: the same shapes, dtypes, bit order and keys as cirq.Simulator."""

from __future__ import annotations

import cirq
import numpy as np
import pytest
import sympy

import qaas_core as q
from qaas_cirq import QaaSResult, ResultMetadata, circuit_to_qaas
from qaas_cirq._results import CircuitInfo, circuit_metadata, to_cirq_results
from tests.cirq.helpers import result_document

QB1, QB2, QB3 = (cirq.NamedQubit(f"QB{i}") for i in (1, 2, 3))


def wire_bits(circuit: cirq.Circuit, simulated: cirq.Result) -> dict[str, np.ndarray]:
    """What the QPU would send for ``circuit``: one (shots, width) matrix per wire key, from Cirq's records."""
    converted = circuit_to_qaas(circuit)
    renamed = {w: tuple(v) for w, v in (converted.metadata or {}).get("keys", {}).items()}
    out = {}
    for wire in converted.measurement_keys():
        key, instance = renamed.get(wire, (wire, 0))
        out[wire] = simulated.records[key][:, instance, :]
    return out


def test_round_trip_through_the_wire_reproduces_the_simulator_result_exactly() -> None:
    circuit = cirq.Circuit(
        cirq.X(QB1),
        cirq.ry(np.pi / 2)(QB2),
        cirq.measure(QB3, QB1, key="b"),  # column order follows the measurement's qubits
        cirq.measure(QB2, key="r"),
        cirq.X(QB2),
        cirq.measure(QB2, key="r"),  # a repeated key: records of shape (reps, 2, 1)
    )
    simulated = cirq.Simulator(seed=3).run(circuit, repetitions=50)
    bits = wire_bits(circuit, simulated)
    info = CircuitInfo(0, 1, cirq.ParamResolver({}), {"r": ("r", 0), "r#1": ("r", 1)})
    [ours] = to_cirq_results(result_document([("c", bits)]), [info])
    assert ours == simulated
    assert {k: v.shape for k, v in ours.records.items()} == {k: v.shape for k, v in simulated.records.items()}
    # always int8, as cirq.Simulator gives for terminal measurements (it gives uint8 on its mid-circuit path)
    assert ours.records["r"].shape == (50, 2, 1) and {v.dtype for v in ours.records.values()} == {np.dtype(np.int8)}
    with pytest.raises(ValueError, match="repeated keys"):
        _ = ours.measurements


def test_plain_keys_give_measurements_like_the_simulator() -> None:
    circuit = cirq.Circuit(cirq.X(QB2), cirq.measure(QB1, QB2, key="m"), cirq.measure(QB3, key="z"))
    simulated = cirq.Simulator(seed=1).run(circuit, repetitions=8, param_resolver={"t": 0.5})
    info = CircuitInfo(0, 1, cirq.ParamResolver({"t": 0.5}), {})
    [ours] = to_cirq_results(result_document([("c", wire_bits(circuit, simulated))]), [info])
    assert ours == simulated
    assert ours.measurements["m"].shape == (8, 2) and ours.measurements["m"].dtype == np.int8
    assert ours.measurements["m"][:, 1].tolist() == [1] * 8
    assert ours.histogram(key="m") == {1: 8}
    assert isinstance(ours, QaaSResult) and isinstance(ours, cirq.ResultDict)
    assert ours.metadata == ResultMetadata(
        submission_id="sub-1", heappe_job_id=7, iqm_job_id="iqm-1", calibration_set_id="cal-1",
        circuit_index=0, circuit_name="c", program=0,
    )  # fmt: skip


def test_metadata_round_trip_and_damage() -> None:
    info = CircuitInfo(2, 3, cirq.ParamResolver({sympy.Symbol("a"): 0.5, "b": sympy.pi, "c": sympy.Symbol("a") * 2}),
                       {"m#1": ("m", 1), "m": ("m", 0)})  # fmt: skip
    doc = circuit_metadata(info)
    assert doc == {"schema": "qaas.cirq/1", "program": 2, "programs": 3,
                   "params": {"a": 0.5, "b": pytest.approx(np.pi), "c": 1.0},
                   "keys": {"m#1": ["m", 1], "m": ["m", 0]}}  # fmt: skip
    back = CircuitInfo.from_metadata(q.decode_run_request(q.encode_run_request(q.RunRequest(
        schema="qaas.run/1", submission_id="s", shots=1,
        circuits=(q.Circuit("x", (q.measure("QB1", key="m"),), doc),)))).circuits[0].metadata, "x")  # fmt: skip
    assert back.program == 2 and back.programs == 3 and back.keys == info.keys
    assert back.params.value_of("c") == 1.0
    for bad in (None, {"schema": "other"}, {"schema": "qaas.cirq/1"}, {"schema": "qaas.cirq/1", "program": 3,
                                                                       "programs": 3}):  # fmt: skip
        with pytest.raises(q.PayloadError):
            CircuitInfo.from_metadata(bad, "x")


def test_a_result_that_does_not_match_the_request_is_refused() -> None:
    doc = result_document([("c", {"m": np.zeros((2, 1))})])
    with pytest.raises(q.PayloadError, match="1 circuit results for 2 circuits"):
        to_cirq_results(doc, [CircuitInfo(0, 1, cirq.ParamResolver(), {})] * 2)
