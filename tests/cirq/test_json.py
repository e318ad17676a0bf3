"""Cirq's JSON protocol: qaas results, their metadata and MoveGate through cirq.to_json / cirq.read_json."""

from __future__ import annotations

from pathlib import Path

import cirq
import numpy as np
import pytest

import qaas_cirq
import qaas_core as q
from qaas_cirq import MoveGate, QaaSDevice, QaaSResult, ResultMetadata
from qaas_cirq._results import CircuitInfo, to_cirq_results
from tests.cirq.helpers import result_document

GOLDEN = Path(__file__).parent / "golden" / "qaas_result.json"
META = ResultMetadata(
    submission_id="sub-1",
    heappe_job_id=7,
    iqm_job_id="iqm-1",
    calibration_set_id="cal-1",
    circuit_index=0,
    circuit_name="cirq-0-0",
    program=0,
)


def sample_result() -> QaaSResult:
    bits = {"m": np.array([[0, 1], [1, 1], [0, 0]]), "z": np.array([[1], [0], [1]])}
    [result] = to_cirq_results(
        result_document([("cirq-0-0", bits)]), [CircuitInfo(0, 1, cirq.ParamResolver({"t": 0.25}), {})]
    )
    return result


def test_round_trip_keeps_measurements_params_and_metadata() -> None:
    result = sample_result()
    back = cirq.read_json(json_text=cirq.to_json(result))
    assert type(back) is QaaSResult
    assert back == result
    assert back.metadata == result.metadata == META
    assert back.params == cirq.ParamResolver({"t": 0.25})
    assert {k: (v.dtype, v.shape) for k, v in back.measurements.items()} == {
        "m": (np.dtype(np.int8), (3, 2)),
        "z": (np.dtype(np.int8), (3, 1)),
    }
    assert back.histogram(key="m") == result.histogram(key="m")


def test_repeated_keys_keep_their_records() -> None:
    bits = {"r": np.array([[0], [1]]), "r#1": np.array([[1], [1]])}
    info = CircuitInfo(0, 1, cirq.ParamResolver({}), {"r": ("r", 0), "r#1": ("r", 1)})
    [result] = to_cirq_results(result_document([("c", bits)]), [info])
    back = cirq.read_json(json_text=cirq.to_json(result))
    assert back == result and back.records["r"].shape == (2, 2, 1)


def test_the_json_matches_the_golden_file() -> None:
    """The format is a contract: files written today must read tomorrow (regenerate only on a schema change)."""
    text = cirq.to_json(sample_result())
    assert text == GOLDEN.read_text().rstrip("\n")
    assert cirq.read_json(GOLDEN) == sample_result()
    assert '"cirq_type": "qaas_cirq.QaaSResult"' in text and '"schema": "qaas.cirq.result/1"' in text


def test_files_gzip_and_explicit_resolvers(tmp_path: Path) -> None:
    result = sample_result()
    path = tmp_path / "r.json.gz"
    cirq.to_json_gzip(result, path)
    assert cirq.read_json_gzip(path) == result
    assert qaas_cirq.json_resolver("qaas_cirq.QaaSResult") is QaaSResult
    assert qaas_cirq.json_resolver("cirq.ResultDict") is None
    explicit = cirq.read_json(
        json_text=cirq.to_json(result), resolvers=[qaas_cirq.json_resolver, *cirq.DEFAULT_RESOLVERS]
    )
    assert explicit.metadata == META


def test_the_resolver_is_registered_once() -> None:
    from qaas_cirq._json import register_json_resolver

    register_json_resolver()
    register_json_resolver()
    assert cirq.DEFAULT_RESOLVERS.count(qaas_cirq.json_resolver) == 1


def test_compiled_star_circuits_with_moves_serialise() -> None:
    a, b = cirq.LineQubit.range(2)
    compiled = QaaSDevice.from_profile("deneb6").compile(
        cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key="m"))
    )
    assert any(isinstance(op.gate, MoveGate) for op in compiled.circuit.all_operations())
    assert cirq.read_json(json_text=cirq.to_json(compiled.circuit)) == compiled.circuit
    assert (
        cirq.read_json(json_text=cirq.to_json(ResultMetadata(**{**META.__dict__, "heappe_job_id": None}))).heappe_job_id
        is None
    )


def test_another_schema_is_refused() -> None:
    text = cirq.to_json(sample_result()).replace("qaas.cirq.result/1", "qaas.cirq.result/9")
    with pytest.raises(q.PayloadError, match=r"qaas\.cirq\.result/9"):
        cirq.read_json(json_text=text)
