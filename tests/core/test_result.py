"""The ``qaas.result/1`` document: limits shared with the request, and results checked against their request."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qaas_core as q
from qaas_core._circuit import MAX_MEASURE_WIDTH, MAX_NAME_LENGTH
from qaas_core._result import check_result_against_request, circuit_result
from qaas_core._wire import MAX_CIRCUITS, MAX_SHOTS, MAX_SUBMISSION_ID_LENGTH

SID = "9f0c2c1e-2f40-4c1b-9a55-1f7f2d1c0a11"
CALSET = "26c5e70f-bea0-43af-bd37-6212ec7d04cb"
BELL = q.Circuit(
    "bell",
    (
        q.prx("QB1", math.pi / 2, math.pi / 2),
        q.cz("QB1", "QB2"),
        q.measure("QB1", key="a"),
        q.measure("QB2", "QB3", key="b"),
    ),
)
GHZ = q.Circuit("ghz", (q.prx("QB1", 1.0, 0.0), q.measure("QB1", "QB2", "QB3", key="m")))


def request(*circuits: q.Circuit, shots: int = 4, memory: bool = True, **options: Any) -> q.RunRequest:
    return q.RunRequest(schema="qaas.run/1", submission_id=SID, shots=shots, circuits=circuits or (BELL, GHZ),
                        memory=memory, options=q.RunOptions.create(**options))  # fmt: skip


def answer(req: q.RunRequest, *, shots: int | None = None, seed: int = 1) -> q.ResultDocument:
    """The result a faithful worker would write for ``req``."""
    rng = np.random.default_rng(seed)
    n = req.shots if shots is None else shots
    circuits = []
    for c in req.circuits:
        keys = [(k, len(locus)) for k, locus in c.measurement_keys().items()]
        bits = {k: rng.integers(0, 2, size=(n, w)) for k, w in keys}
        circuits.append(circuit_result(c.name, bits, n, memory=req.memory, keys=keys))
    return q.ResultDocument(schema="qaas.result/1", submission_id=req.submission_id, status="completed",
                            calibration_set_id=CALSET, circuits=tuple(circuits))  # fmt: skip


def replace_circuit(doc: q.ResultDocument, index: int, **changes: Any) -> q.ResultDocument:
    circuits = list(doc.circuits)
    circuits[index] = msgspec.structs.replace(circuits[index], **changes)
    return msgspec.structs.replace(doc, circuits=tuple(circuits))


def refused(doc: q.ResultDocument, req: q.RunRequest) -> str:
    with pytest.raises(q.ResponseError) as info:
        check_result_against_request(doc, req)
    return str(info.value)


# -- a result checked against its request -----------------------------------------------------------------------------


@pytest.mark.parametrize("memory", [True, False])
def test_a_faithful_result_passes(memory: bool) -> None:
    req = request(memory=memory)
    doc = q.decode_result(q.encode_result(answer(req)))
    check_result_against_request(doc, req)


def test_another_submission_is_refused() -> None:
    req = request()
    doc = msgspec.structs.replace(answer(req), submission_id="other")
    assert "answers submission 'other'" in refused(doc, req)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_circuit_count_must_match(count: int) -> None:
    req = request()
    doc = answer(request(*(BELL, GHZ, BELL)[:count])) if count else msgspec.structs.replace(answer(req), circuits=())
    assert f"the result has {count} circuit(s), the request 2" in refused(doc, req)


def test_names_must_match_in_order() -> None:
    req = request()
    swapped = msgspec.structs.replace(answer(req), circuits=answer(req).circuits[::-1])
    assert "circuit 0 ('bell'): the result names it 'ghz' (out of order)" in refused(swapped, req)
    renamed = replace_circuit(answer(req), 1, name="evil")
    assert "circuit 1 ('ghz'): the result names it 'evil' (not in the request)" in refused(renamed, req)


def test_measurement_keys_must_match_the_measure_instructions() -> None:
    req = request()
    good = answer(req).circuits[0]
    assert good.memory is not None
    extra = replace_circuit(answer(req), 0, keys={**good.keys, "x": 1}, memory={**good.memory, "x": "AA=="})
    assert "missing [], unexpected ['x']" in refused(extra, req)
    missing = replace_circuit(answer(req), 0, keys={"a": 1}, memory={"a": good.memory["a"]})
    assert "missing ['b'], unexpected []" in refused(missing, req)
    reordered = replace_circuit(answer(req), 0, keys={"b": 2, "a": 1})
    assert "in another order" in refused(reordered, req)


def test_bits_per_key_must_match_the_measured_qubits() -> None:
    req = request()
    good = answer(req).circuits[0]
    assert good.memory is not None
    narrow = base64.b64encode(np.packbits(np.zeros((4, 1), dtype=np.uint8)).tobytes()).decode()
    doc = replace_circuit(answer(req), 0, keys={"a": 1, "b": 1}, memory={"a": good.memory["a"], "b": narrow})
    assert "circuit 0 ('bell'), key 'b': 1 bit(s) per shot, but 2 qubit(s) measured" in refused(doc, req)


@pytest.mark.parametrize("shots", [0, 3, 5, 10**15])
def test_shots_must_be_the_requested_number(shots: int) -> None:
    req = request(memory=False)
    doc = replace_circuit(answer(req), 1, shots=shots, counts={"000": shots} if shots else {})
    assert f"circuit 1 ('ghz'): {shots} shots returned, expected 4" in refused(doc, req)


def test_heralding_may_return_fewer_shots_never_more() -> None:
    req = request(heralding_mode="zeros")
    check_result_against_request(answer(req, shots=1), req)
    check_result_against_request(answer(req, shots=0), req)
    assert "5 shots returned, expected at most 4" in refused(answer(req, shots=5), req)


def test_a_circuit_without_measurements_may_report_no_shots() -> None:
    silent = q.Circuit("silent", (q.prx("QB1", 1.0, 0.0),))
    req = request(silent, GHZ)
    check_result_against_request(answer(req), req)
    doc = replace_circuit(answer(req), 0, shots=0, memory={})
    check_result_against_request(doc, req)


def test_every_key_holds_data_for_the_declared_shots() -> None:
    req = request()
    good = answer(req).circuits[1]
    assert good.memory is not None
    short = base64.b64encode(b"\x00").decode()  # 1 byte: 2 shots x 3 bits, not 4 x 3
    doc = replace_circuit(answer(req), 1, memory={"m": short})
    assert "circuit 1 ('ghz'): shot data of key 'm' has the wrong length for 4 shots x 3 bits" in refused(doc, req)
    req = request(memory=False)
    doc = replace_circuit(answer(req), 1, counts={"000": 3})
    assert "counts add up to 3, not 4" in refused(doc, req)


def test_memory_requested_but_counts_returned() -> None:
    req = request(memory=True)
    doc = answer(request(memory=False))
    assert "per-shot memory was requested, the result keeps counts only" in refused(doc, req)


def test_failed_result_carries_no_circuits() -> None:
    req = request()
    failed = msgspec.structs.replace(answer(req), status="failed", circuits=())
    check_result_against_request(failed, req)
    assert "a failed result carries 2 circuit result(s)" in refused(
        msgspec.structs.replace(answer(req), status="failed"), req
    )


def test_check_is_public_in_the_module() -> None:
    from qaas_core import _result

    assert "check_result_against_request" in _result.__all__


# -- limits: one definition, both sides -------------------------------------------------------------------------------


def _doc(**circuit: Any) -> bytes:
    fields: dict[str, Any] = {"name": "c", "shots": 1, "keys": {"m": 1}, "counts": {"0": 1}}
    fields.update(circuit)
    return json.dumps({"schema": "qaas.result/1", "submission_id": SID, "status": "completed",
                       "circuits": [fields]}).encode()  # fmt: skip


def test_result_limits_are_the_request_limits() -> None:
    q.decode_result(_doc(name="x" * MAX_NAME_LENGTH))
    with pytest.raises(q.PayloadError, match="name"):
        q.decode_result(_doc(name="x" * (MAX_NAME_LENGTH + 1)))
    q.decode_result(_doc(keys={"k" * MAX_NAME_LENGTH: 1}))
    with pytest.raises(q.PayloadError):
        q.decode_result(_doc(keys={"k" * (MAX_NAME_LENGTH + 1): 1}))
    q.decode_result(_doc(shots=MAX_SHOTS, counts={"0": MAX_SHOTS}))
    with pytest.raises(q.PayloadError, match="shots"):
        q.decode_result(_doc(shots=MAX_SHOTS + 1, counts={"0": MAX_SHOTS + 1}))
    q.decode_result(_doc(keys={"m": MAX_MEASURE_WIDTH}, counts={"0" * MAX_MEASURE_WIDTH: 1}))
    with pytest.raises(q.PayloadError):
        q.decode_result(_doc(keys={"m": MAX_MEASURE_WIDTH + 1}, counts={"0" * (MAX_MEASURE_WIDTH + 1): 1}))
    too_many = {"schema": "qaas.result/1", "submission_id": SID, "status": "failed", "circuits": [{}] * 0}
    q.decode_result(json.dumps(too_many))
    with pytest.raises(q.PayloadError):
        q.decode_result(json.dumps({**too_many, "submission_id": "s" * (MAX_SUBMISSION_ID_LENGTH + 1)}))
    assert MAX_CIRCUITS == 100_000


def test_a_long_circuit_name_is_refused_at_submit_not_after_the_run() -> None:
    long = q.Circuit("x" * (MAX_NAME_LENGTH + 1), (q.measure("QB1", key="m"),))
    with pytest.raises(q.CircuitError) as info:
        q.encode_run_request(request(long))
    assert f"at most {MAX_NAME_LENGTH} characters" in str(info.value)
    assert info.value.circuit == "#0" and len(str(info.value)) < 200
    ok = q.Circuit("x" * MAX_NAME_LENGTH, (q.measure("QB1", key="m"),))
    req = request(ok)
    check_result_against_request(q.decode_result(q.encode_result(answer(req))), req)


# -- the property: whatever the submit side accepts has a result that reads back -------------------------------------


def _mostly(good: st.SearchStrategy[Any], edge: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten, else ``edge`` (so that most batches are accepted and reach the result side)."""
    return st.integers(0, 9).flatmap(lambda i: edge if i == 0 else good)


_any_char = st.characters(exclude_categories=())  # surrogates included: they cannot be encoded as UTF-8
_good_names = st.text(min_size=1, max_size=12)
_edge_names = (
    st.text(_any_char, max_size=12)
    | st.integers(MAX_NAME_LENGTH - 1, MAX_NAME_LENGTH + 1).map(lambda n: "n" * n)
    | st.sampled_from(["", "é", "🙂", "\x00", "[/bold]", "a\ud800"])
)
_names = _mostly(_good_names, _edge_names)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_metadata = _mostly(
    st.none() | st.dictionaries(st.text(max_size=5), _json, max_size=3),
    st.sampled_from([{"x": object()}, {"\ud800": 1}]),
)
_widths = _mostly(st.integers(1, 3), st.sampled_from([MAX_MEASURE_WIDTH, MAX_MEASURE_WIDTH + 1]))


@st.composite
def edgy_circuits(draw: st.DrawFn) -> q.Circuit:
    ops: list[q.Instruction] = [q.prx(draw(_mostly(st.just("QB1"), _names)), 0.5, 0.25)]
    for key in draw(st.lists(_names, max_size=3, unique=True)):
        ops.append(q.measure(*(f"Q{i}" for i in range(draw(_widths))), key=key))
    return q.Circuit(draw(_names), tuple(ops), draw(_metadata))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(edgy_circuits(), min_size=1, max_size=3),
    _mostly(st.integers(1, 3), st.sampled_from([0, -1, MAX_SHOTS + 1])),
    st.booleans(),
    _mostly(
        st.just(SID), st.text(_any_char, max_size=3) | st.sampled_from(["s" * MAX_SUBMISSION_ID_LENGTH, "s" * 129])
    ),
    _mostly(st.none() | st.just(CALSET), st.sampled_from([CALSET.upper(), "cal-1", f"{CALSET}\n"])),
)
def test_anything_submit_accepts_has_a_readable_result(
    batch: list[q.Circuit], shots: int, memory: bool, sid: str, calset: str | None
) -> None:
    req = q.RunRequest(schema="qaas.run/1", submission_id=sid, shots=shots, circuits=tuple(batch), memory=memory,
                       calibration_set_id=calset)  # fmt: skip
    try:
        data = q.encode_run_request(req)
    except q.ValidationError:
        return  # refused before anything is sent, with a typed error
    decoded = q.decode_run_request(data)  # the cluster side accepts it too
    doc = answer(decoded)
    back = q.decode_result(q.encode_result(doc))
    assert back == doc
    check_result_against_request(back, decoded)
