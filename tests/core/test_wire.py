"""Wire documents: golden files, round trips, and malformed input."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qaas_core as q
from tests.core.strategies import circuits

GOLDEN = Path(__file__).parent / "golden"
GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")

BELL = q.Circuit(
    "bell",
    (
        q.prx("QB1", math.pi / 2, math.pi / 2),
        q.prx("QB2", math.pi / 2, math.pi / 2),
        q.cz("QB1", "QB2"),
        q.prx("QB2", math.pi / 2, 3 * math.pi / 2),
        q.measure("QB1", "QB2", key="m"),
    ),
    {"source": "test"},
)
EVERY_OP = q.Circuit(
    "every-op",
    (
        q.reset("QB1", "QB2"),
        q.prx("QB1", 0.25, -1.5),
        q.barrier("QB1", "QB2"),
        q.delay(2.5e-8, "QB1"),
        q.measure("QB1", key="mid", feedback_key="fb"),
        q.cc_prx("QB2", math.pi, 0.0, feedback_qubit="QB1", feedback_key="fb"),
        q.move("QB3", "CR1"),
        q.cz("QB2", "CR1"),
        q.move("QB3", "CR1"),
        q.measure("QB1", "QB2", "QB3", key="final"),
    ),
)


def _golden(name: str, data: bytes) -> bytes:
    path = GOLDEN / name
    pretty = json.dumps(json.loads(data), indent=1, ensure_ascii=False) + "\n"
    if os.environ.get("QAAS_REGEN_GOLDEN"):
        path.write_text(pretty)
    return path.read_bytes()


def test_golden_circuit_batch() -> None:
    data = q.encode_circuits([BELL, EVERY_OP])
    golden = _golden("circuits.json", data)
    assert json.loads(data) == json.loads(golden)
    assert q.decode_circuits(golden) == (BELL, EVERY_OP)
    # the exact IQM shape: every instruction carries name, locus, args, implementation
    first = json.loads(data)[0]["instructions"][0]
    assert list(first) == ["name", "locus", "args", "implementation"]
    assert first == {
        "name": "prx",
        "locus": ["QB1"],
        "args": {"angle": math.pi / 2, "phase": math.pi / 2},
        "implementation": None,
    }


def test_golden_iqm_job_request() -> None:
    opts = q.RunOptions.create(heralding_mode="zeros", move_gate_validation="allow_prx", active_reset_cycles=1)
    data = q.encode_iqm_job(
        [BELL],
        shots=1000,
        options=opts,
        calibration_set_id=GARNET.calibration_set_id,
        qubit_mapping={"QB1": "QB1", "QB2": "QB2"},
    )
    golden = _golden("iqm_job.json", data)
    assert json.loads(data) == json.loads(golden)
    doc = json.loads(data)
    assert doc["qubit_mapping"] == [
        {"logical_name": "QB1", "physical_name": "QB1"},
        {"logical_name": "QB2", "physical_name": "QB2"},
    ]
    job = q.decode_iqm_job(golden)
    assert job.circuits == (BELL,)
    assert (job.shots, job.options, job.qubit_mapping) == (1000, opts, {"QB1": "QB1", "QB2": "QB2"})


def test_golden_run_request() -> None:
    req = q.RunRequest(
        schema="qaas.run/1",
        submission_id="9f0c2c1e-2f40-4c1b-9a55-1f7f2d1c0a11",
        shots=100,
        circuits=(BELL, EVERY_OP),
        resource="EQE1-CZ-P0001",
        calibration_set_id=DENEB.calibration_set_id,
        options=q.RunOptions.create(max_circuit_duration_over_t2=0.0),
        client={"qaas-core": "0.1.0"},
    )
    data = q.encode_run_request(req)
    golden = _golden("run_request.json", data)
    assert json.loads(data) == json.loads(golden)
    assert q.decode_run_request(golden) == req
    assert json.loads(data)["schema"] == "qaas.run/1"


def test_deprecated_aliases_are_honoured() -> None:
    body = json.loads(q.encode_iqm_job([BELL], shots=5))
    del body["move_gate_validation"]
    body["move_validation_mode"] = "none"
    body["move_gate_frame_tracking"] = "none"
    assert q.decode_iqm_job(json.dumps(body)).options.move_gate_validation == "none"
    body["move_gate_validation"] = "strict"  # both given: the current name wins
    assert q.decode_iqm_job(json.dumps(body)).options.move_gate_validation == "strict"


def test_options_are_closed() -> None:
    with pytest.raises(q.ValidationError, match="Known options"):
        q.RunOptions.create(heralding="zeros")
    with pytest.raises(q.ValidationError, match="heralding_mode"):
        q.RunOptions.create(heralding_mode="ones")
    with pytest.raises(q.ValidationError, match="move_gate_frame_tracking='full'"):
        q.RunOptions.create(move_gate_validation="none")
    assert q.RunOptions.create(move_gate_validation="none", move_gate_frame_tracking="none").dd_mode == "disabled"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"shots": 0}, "shots must be"),
        ({"shots": 1.5}, "shots must be"),
        ({"shots": 10, "qubit_mapping": {"a": "QB1", "b": "QB1"}}, "not injective"),
        ({"shots": 10, "qubit_mapping": {"QB1": "QB1"}}, "does not cover 'QB2'"),
    ],
)
def test_iqm_job_rejects_bad_parameters(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(q.PayloadError, match=fragment):
        q.encode_iqm_job([BELL], **kwargs)  # type: ignore[arg-type]


def test_empty_batch_rejected() -> None:
    with pytest.raises(q.PayloadError, match="no circuits"):
        q.encode_iqm_job([], shots=1)
    with pytest.raises(q.PayloadError, match="no circuits"):
        q.decode_circuits(b"[]")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(circuits(GARNET) | circuits(DENEB), min_size=1, max_size=3))
def test_round_trip(batch: list[q.Circuit]) -> None:
    assert q.decode_circuits(q.encode_circuits(batch)) == tuple(batch)
    job = q.decode_iqm_job(q.encode_iqm_job(batch, shots=7))
    assert job.circuits == tuple(batch)
    req = q.RunRequest(schema="qaas.run/1", submission_id="s", shots=3, circuits=tuple(batch))
    assert q.decode_run_request(q.encode_run_request(req)) == req


def test_int_angle_on_the_wire_is_a_circuit_error() -> None:
    data = b'[{"name":"c","instructions":[{"name":"prx","locus":["QB1"],"args":{"angle":1,"phase":0.0}}]}]'
    with pytest.raises(q.CircuitError, match="must be a float, got int"):
        q.decode_circuits(data)


def _mutations(doc: object) -> st.SearchStrategy[object]:
    junk = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4) | st.just([]) | st.just({})
    return st.recursive(
        junk, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    )


def _mutate(doc: object, draw: st.DrawFn) -> object:
    """Replace one random node of a JSON document by junk."""
    if isinstance(doc, dict) and doc and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(doc)))
        return {**doc, key: _mutate(doc[key], draw)}
    if isinstance(doc, list) and doc and draw(st.booleans()):
        i = draw(st.integers(0, len(doc) - 1))
        return [*doc[:i], _mutate(doc[i], draw), *doc[i + 1 :]]
    if draw(st.integers(0, 9)) == 0 and isinstance(doc, dict) and doc:
        return {k: v for k, v in doc.items() if k != draw(st.sampled_from(sorted(doc)))}
    return draw(_mutations(doc))


SEEDS = {
    "circuits": q.encode_circuits([BELL, EVERY_OP]),
    "iqm": q.encode_iqm_job([BELL], shots=3, qubit_mapping={"QB1": "QB1", "QB2": "QB2"}),
    "run": q.encode_run_request(q.RunRequest(schema="qaas.run/1", submission_id="s", shots=3, circuits=(BELL,))),
}
DECODERS = {"circuits": q.decode_circuits, "iqm": q.decode_iqm_job, "run": q.decode_run_request}


@settings(max_examples=int(os.environ.get("QAAS_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.sampled_from(sorted(SEEDS)), st.data())
def test_malformed_documents_raise_only_qaas_errors(kind: str, data: st.DataObject) -> None:
    doc = _mutate(msgspec.json.decode(SEEDS[kind]), data.draw)
    try:
        DECODERS[kind](msgspec.json.encode(doc))
    except q.QaasError:
        pass


@settings(max_examples=int(os.environ.get("QAAS_FUZZ_EXAMPLES", "300")), deadline=None)
@given(st.sampled_from(sorted(SEEDS)), st.binary(max_size=64) | st.text(max_size=64), st.integers(0, 400))
def test_garbled_bytes_raise_only_qaas_errors(kind: str, junk: bytes | str, cut: int) -> None:
    seed = SEEDS[kind]
    raw = junk.encode("utf-8", "surrogatepass") if isinstance(junk, str) else junk
    for data in (raw, seed[:cut], seed[:cut] + raw + seed[cut:]):
        try:
            DECODERS[kind](data)
        except q.QaasError:
            pass


# -- the run request: limits and the calibration set id ---------------------------------------------------------------

CALSET = "26c5e70f-bea0-43af-bd37-6212ec7d04cb"


def test_check_calibration_set_id_accepts_only_canonical_uuids() -> None:
    from qaas_core._wire import check_calibration_set_id

    assert check_calibration_set_id(CALSET) == CALSET
    for bad in (CALSET.upper(), CALSET.replace("-", ""), f"{{{CALSET}}}", f"urn:uuid:{CALSET}", f"{CALSET}\n",
                f" {CALSET}", "cal-1", "", "x;rm -rf /", "$(id)", 42, None, CALSET[:-1] + "g"):  # fmt: skip
        with pytest.raises(q.ValidationError, match="calibration_set_id must be a UUID in canonical form"):
            check_calibration_set_id(bad)


def _run(**fields: object) -> q.RunRequest:
    values: dict[str, object] = {"schema": "qaas.run/1", "submission_id": "s", "shots": 3, "circuits": (BELL,)}
    values.update(fields)
    return q.RunRequest(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"calibration_set_id": "cal-1"}, "calibration_set_id must be a UUID"),
        ({"calibration_set_id": CALSET.upper()}, "calibration_set_id must be a UUID"),
        ({"shots": 0}, "shots must be an integer between 1 and 1000000"),
        ({"shots": 1_000_001}, "shots must be an integer between 1 and 1000000"),
        ({"shots": True}, "shots must be an integer"),
        ({"submission_id": ""}, "submission_id must be a string of 1 to 128 characters"),
        ({"submission_id": "s" * 129}, "submission_id must be a string of 1 to 128 characters"),
        ({"options": q.RunOptions(heralding_mode="ones")}, "invalid run option"),  # type: ignore[arg-type]
        ({"options": q.RunOptions(move_gate_validation="none")}, "move_gate_frame_tracking='full'"),
        ({"qubit_mapping": {"QB1": "QB1", "QB2\ud800": "QB2"}}, "qubit_mapping: every logical and physical name"),
        ({"client": {"x": "\ud800"}}, "cannot be encoded as JSON"),
        ({"circuits": (BELL,) * 100_001}, "at most 100000 fit in one job"),
    ],
)
def test_run_request_is_checked_before_it_is_sent(fields: dict[str, object], fragment: str) -> None:
    with pytest.raises(q.PayloadError, match=re.escape(fragment)):
        q.encode_run_request(_run(**fields))


def test_run_request_decoder_enforces_the_same_limits() -> None:
    good = json.loads(q.encode_run_request(_run(calibration_set_id=CALSET)))
    assert q.decode_run_request(json.dumps(good)).calibration_set_id == CALSET
    for field, value in (("calibration_set_id", "cal-1"), ("calibration_set_id", f"{CALSET}\n"), ("shots", 10**7),
                         ("submission_id", "s" * 129)):  # fmt: skip
        with pytest.raises(q.PayloadError, match=field):
            q.decode_run_request(json.dumps({**good, field: value}))
    one = q.encode_circuits([BELL])[1:-1]
    many = (
        json.dumps({**good, "circuits": "MANY"}).encode().replace(b'"MANY"', b"[" + b",".join([one] * 100_001) + b"]")
    )
    with pytest.raises(q.PayloadError, match="circuits"):
        q.decode_run_request(many)
