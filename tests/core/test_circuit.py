"""The transfer-format model: builders, structural rules and validation against a calibration."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings

import qaas_core as q
from qaas_core._circuit import MAX_MEASURE_WIDTH, MAX_NAME_LENGTH
from tests.core.strategies import circuits

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")


def test_builders_make_float_args_and_exact_fields() -> None:
    p = q.prx("QB1", 1, 0)
    assert p == q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0})
    assert type(p.args["angle"]) is float
    assert q.measure("QB1", "QB2", key="m", feedback_key="f").args == {"key": "m", "feedback_key": "f"}
    assert q.delay(1e-7, "QB1", "QB2") == q.Instruction("delay", ("QB1", "QB2"), {"duration": 1e-7})
    assert q.move("QB1", "CR1").locus == ("QB1", "CR1")


def test_model_is_immutable() -> None:
    c = q.Circuit("c", (q.prx("QB1", 1.0, 0.0),))
    with pytest.raises(AttributeError):
        c.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        c.instructions[0].locus = ("QB2",)  # type: ignore[misc]


def _err(instructions: list[q.Instruction], name: str = "c") -> q.CircuitError:
    with pytest.raises(q.CircuitError) as info:
        q.check_circuit(q.Circuit(name, tuple(instructions)))
    return info.value


@pytest.mark.parametrize(
    ("instructions", "index", "fragment"),
    [
        ([q.prx("QB1", 1.0, 0.0), q.Instruction("rz", ("QB1",), {"angle": 1.0})], 1, "unknown operation 'rz'"),
        ([q.Instruction("cz", ("QB1",))], 0, "locus must have 2"),
        ([q.Instruction("prx", ("QB1", "QB2"), {"angle": 1.0, "phase": 0.0})], 0, "locus must have 1"),
        ([q.Instruction("prx", ("QB1",), {"angle": 1, "phase": 0.0})], 0, "must be a float, got int"),
        ([q.Instruction("prx", ("QB1",), {"angle": True, "phase": 0.0})], 0, "must be a float, got bool"),
        ([q.Instruction("prx", ("QB1",), {"angle": math.nan, "phase": 0.0})], 0, "must be finite"),
        ([q.Instruction("prx", ("QB1",), {"angle": 1.0})], 0, "missing argument 'phase'"),
        ([q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0, "x": 1.0})], 0, "unknown argument 'x'"),
        ([q.Instruction("measure", ("QB1",), {"key": ""})], 0, "non-empty string"),
        ([q.Instruction("measure", (), {"key": "m"})], 0, "empty locus"),
        ([q.Instruction("cz", ("QB1", "QB1"))], 0, "repeats a component"),
        ([q.measure("QB1", key="m"), q.measure("QB2", key="m")], 1, "used more than once"),
        ([q.delay(-1.0, "QB1")], 0, "duration must be >= 0"),
        ([q.cc_prx("QB2", 1.0, 0.0, feedback_qubit="QB1", feedback_key="f")], 0, "no earlier measurement"),
        (
            [
                q.measure("QB1", key="m", feedback_key="f"),
                q.cc_prx("QB2", 1.0, 0.0, feedback_qubit="QB3", feedback_key="f"),
            ],
            1,
            "is not measured under feedback key",
        ),
        ([q.Instruction("reset", ("QB1",), {}, implementation="")], 0, "implementation"),
    ],
)
def test_structural_rules_name_circuit_and_index(instructions: list[q.Instruction], index: int, fragment: str) -> None:
    err = _err(instructions, name="bell")
    assert err.circuit == "bell"
    assert err.index == index
    assert fragment in str(err)
    assert str(err).startswith(f"circuit 'bell', instruction {index}:")


def test_circuit_level_rules() -> None:
    assert "no instructions" in str(_err([]))
    err = _err([q.prx("QB1", 1.0, 0.0)], name="")
    assert "non-empty" in str(err)
    assert err.index is None


def test_feedback_after_its_measure_is_valid() -> None:
    c = q.Circuit(
        "tele",
        (
            q.prx("QB1", math.pi / 2, 0.0),
            q.measure("QB1", key="m1", feedback_key="f1"),
            q.cc_prx("QB2", math.pi, 0.0, feedback_qubit="QB1", feedback_key="f1"),
            q.measure("QB2", key="m2"),
        ),
    )
    q.validate_circuits([c], GARNET)


def _verr(c: q.Circuit, cal: q.Calibration = GARNET, **kw: str) -> q.CircuitError:
    with pytest.raises(q.CircuitError) as info:
        q.validate_circuits([c], cal, **kw)  # type: ignore[arg-type]
    return info.value


def test_calibration_rules() -> None:
    err = _verr(q.Circuit("c", (q.prx("QB1", 1.0, 0.0), q.prx("QB99", 1.0, 0.0))))
    assert (err.index, "does not exist") == (1, "does not exist") and "QB99" in str(err)
    err = _verr(q.Circuit("c", (q.cz("QB1", "QB3"),)))
    assert "not calibrated on locus ('QB1', 'QB3')" in str(err)
    q.validate_circuits([q.Circuit("c", (q.cz("QB2", "QB1"), q.cz("QB1", "QB2")))], GARNET)  # either order
    err = _verr(q.Circuit("c", (q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0}, "nope"),)))
    assert "implementation 'nope' is not calibrated" in str(err)
    ok = q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0}, "drag_gaussian")
    q.validate_circuits([q.Circuit("c", (ok, q.measure("QB1", "QB20", key="m")))], GARNET)
    # barrier and delay need no calibration but their components must exist
    q.validate_circuits([q.Circuit("c", (q.barrier("QB1", "QB20"), q.delay(1e-6, "QB5")))], GARNET)
    assert "QB21" in str(_verr(q.Circuit("c", (q.barrier("QB1", "QB21"),))))


def test_uncalibrated_operation() -> None:
    err = _verr(q.Circuit("c", (q.move("QB1", "QB2"),)))
    assert "move: operation is not calibrated" in str(err)
    assert GARNET.calibration_set_id in str(err)


def test_move_order_matters_and_sandwiches() -> None:
    err = _verr(q.Circuit("c", (q.move("CR1", "QB1"),)), DENEB)
    assert "not calibrated on locus ('CR1', 'QB1')" in str(err)
    good = q.Circuit("s", (q.move("QB1", "CR1"), q.cz("QB2", "CR1"), q.move("QB1", "CR1")))
    q.validate_circuits([good], DENEB)
    inside = q.Circuit("s", (q.move("QB1", "CR1"), q.prx("QB1", 1.0, 0.0), q.move("QB1", "CR1")))
    err = _verr(inside, DENEB)
    assert (err.index, err.circuit) == (1, "s") and "in a resonator" in str(err)
    q.validate_circuits([inside], DENEB, move_gate_validation="allow_prx")
    inside_cz = q.Circuit("s", (q.move("QB1", "CR1"), q.cz("QB1", "CR1"), q.move("QB1", "CR1")))
    _verr(inside_cz, DENEB, move_gate_validation="allow_prx")
    q.validate_circuits([inside_cz], DENEB, move_gate_validation="none")
    occupied = q.Circuit("s", (q.move("QB1", "CR1"), q.move("QB2", "CR1")))
    assert "already holds the state of QB1" in str(_verr(occupied, DENEB))


@settings(max_examples=60, deadline=None)
@given(circuits(GARNET))
def test_generated_valid_circuits_validate_on_garnet(c: q.Circuit) -> None:
    q.validate_circuits([c], GARNET)


@settings(max_examples=60, deadline=None)
@given(circuits(DENEB))
def test_generated_valid_circuits_validate_on_deneb(c: q.Circuit) -> None:
    q.validate_circuits([c], DENEB)


def test_circuit_helpers() -> None:
    c = q.Circuit("c", (q.prx("QB2", 1.0, 0.0), q.cz("QB2", "QB1"), q.measure("QB1", "QB2", key="m")))
    assert c.components() == ("QB2", "QB1")
    assert c.measurement_keys() == {"m": ("QB1", "QB2")}


# -- limits shared with the result document ---------------------------------------------------------------------------

LONG = "x" * (MAX_NAME_LENGTH + 1)


@pytest.mark.parametrize(
    ("instructions", "index", "fragment"),
    [
        ([q.measure("QB1", key=LONG)], 0, "measure: argument 'key' must have at most 1024 characters"),
        ([q.measure("QB1", key="m", feedback_key=LONG)], 0, "argument 'feedback_key' must have at most 1024"),
        ([q.measure("QB1", key="a\ud800")], 0, "argument 'key' must be valid Unicode text"),
        ([q.prx(LONG, 1.0, 0.0)], 0, "prx: locus component must have at most 1024 characters"),
        ([q.cz("QB1", "Q\udfff")], 0, "cz: locus component must be valid Unicode text"),
        ([q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0}, LONG)], 0, "implementation must have at most"),
        ([q.measure(*(f"Q{i}" for i in range(4097)), key="m")], 0, "at most 4096 components per measurement key"),
    ],
)
def test_names_and_widths_within_the_result_limits(
    instructions: list[q.Instruction], index: int, fragment: str
) -> None:
    err = _err(instructions, name="bell")
    assert (err.circuit, err.index) == ("bell", index)
    assert fragment in str(err)
    assert len(str(err)) < 300  # a long name is shown cut short


def test_limits_are_inclusive() -> None:
    name = "é" * MAX_NAME_LENGTH  # characters, not bytes
    wide = q.measure(*(f"Q{i}" for i in range(MAX_MEASURE_WIDTH)), key=name)
    q.check_circuit(q.Circuit(name, (q.prx(name, 1.0, 0.0), q.cz(name, "QB1"), wide)))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("x" * 1025, "circuit name must have at most 1024 characters, got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'… "
                     "(1025 characters)"),
        ("bad\ud800", "circuit name must be valid Unicode text"),
        ("", "circuit name must be a non-empty string"),
    ],
)  # fmt: skip
def test_an_unusable_circuit_name_is_named_by_position(name: str, fragment: str) -> None:
    with pytest.raises(q.CircuitError) as info:
        q.validate_circuits([q.Circuit("ok", (q.prx("QB1", 1.0, 0.0),)), q.Circuit(name, (q.prx("QB1", 1.0, 0.0),))],
                            GARNET)  # fmt: skip
    assert info.value.circuit == "#1" and info.value.index is None
    assert fragment in str(info.value)


@pytest.mark.parametrize("metadata", [{"x": object()}, {None: 1}, {"\ud800": 1}, {"a": {1, object()}}])
def test_metadata_must_be_json(metadata: dict[object, object]) -> None:
    c = q.Circuit("meta", (q.prx("QB1", 1.0, 0.0),), metadata)  # type: ignore[arg-type]
    with pytest.raises(q.CircuitError, match="metadata is not JSON-serialisable") as info:
        q.check_circuit(c)
    assert info.value.circuit == "meta"
