"""The one schedule model: ASAP with the calibrated durations (client estimate, emulated server, simulator)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

import qaas_core as q
from qaas_core._schedule import instruction_duration
from tests.core.strategies import circuits

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")


def d(gate: str, *locus: str, cal: q.Calibration = GARNET) -> float:
    value = cal.duration(gate, locus)
    assert value is not None
    return value


def test_asap_with_calibrated_durations() -> None:
    c = q.Circuit(
        "c",
        (
            q.prx("QB1", 1.0, 0.0),
            q.prx("QB1", 1.0, 0.0),
            q.prx("QB2", 1.0, 0.0),
            q.cz("QB2", "QB1"),  # reversed locus: the calibrated (QB1, QB2) duration
            q.delay(1e-6, "QB3"),
            q.measure("QB2", key="m"),
        ),
    )
    s = q.schedule(c, GARNET)
    prx, cz = d("prx", "QB1"), d("cz", "QB1", "QB2")
    assert s.starts == (0.0, prx, 0.0, 2 * prx, 0.0, 2 * prx + cz)
    assert s.durations == (prx, prx, prx, cz, 1e-6, d("measure", "QB2"))
    assert s.duration == max(2 * prx + cz + d("measure", "QB2"), 1e-6) == q.circuit_duration(c, GARNET)


def test_a_multi_qubit_measure_is_one_parallel_readout() -> None:
    c = q.Circuit("c", (q.prx("QB1", 1.0, 0.0), q.measure("QB1", "QB2", "QB3", key="m"), q.prx("QB2", 1.0, 0.0)))
    s = q.schedule(c, GARNET)
    readout = max(d("measure", x) for x in ("QB1", "QB2", "QB3"))
    assert s.starts[1] == d("prx", "QB1") and s.durations[1] == readout
    assert s.starts[2] == d("prx", "QB1") + readout  # every measured qubit is busy for the whole readout
    # a calibrated duration of the whole locus takes precedence
    metrics = q.Metrics(duration={**GARNET.metrics.duration, "measure": {("QB1", "QB2", "QB3"): 7e-6}})
    custom = q.Calibration(
        calibration_set_id=GARNET.calibration_set_id, qubits=GARNET.qubits, gates=GARNET.gates, metrics=metrics
    )
    assert q.schedule(c, custom).durations[1] == 7e-6


def test_barriers_synchronise_and_reset_is_parallel_too() -> None:
    c = q.Circuit("c", (q.delay(1e-6, "QB1"), q.barrier("QB1", "QB2"), q.prx("QB2", 1.0, 0.0), q.reset("QB1", "QB2")))
    s = q.schedule(c, GARNET)
    assert s.starts[1:3] == (1e-6, 1e-6) and s.durations[1] == 0.0
    assert s.durations[3] == max(d("reset", "QB1"), d("reset", "QB2"))


def test_feedback_waits_for_its_measurement() -> None:
    c = q.Circuit(
        "c",
        (
            q.measure("QB1", key="m", feedback_key="f"),
            q.cc_prx("QB2", 1.0, 0.0, feedback_qubit="QB1", feedback_key="f"),
        ),
    )
    s = q.schedule(c, GARNET)
    assert s.starts[1] == d("measure", "QB1")
    assert s.duration == d("measure", "QB1") + d("cc_prx", "QB2")


def test_move_sandwich_on_a_star_device() -> None:
    plan = q.DeviceView(DENEB).cz("QB1", "QB2")
    c = q.Circuit("c", (*plan, q.measure("QB1", "QB2", key="m")))
    expected = 2 * d("move", "QB2", "CR1", cal=DENEB) + d("cz", "QB1", "CR1", cal=DENEB)
    assert q.schedule(c, DENEB).starts[3] == pytest.approx(expected)
    assert expected == DENEB.duration("cz", ("QB1", "QB2"))  # the virtual CZ's figure is its plan's


def test_unknown_durations_count_as_zero() -> None:
    bare = q.Calibration(calibration_set_id=GARNET.calibration_set_id, qubits=GARNET.qubits, gates=GARNET.gates)
    c = q.Circuit("c", (q.prx("QB1", 1.0, 0.0), q.measure("QB1", "QB2", key="m")))
    assert q.circuit_duration(c, bare) == 0.0


@settings(max_examples=150, deadline=None)
@given(circuits(GARNET))
def test_every_instruction_starts_as_soon_as_its_inputs_are_ready(circuit: q.Circuit) -> None:
    s = q.schedule(circuit, GARNET)
    ends: list[float] = []
    feeding: dict[str, float] = {}
    for inst, start, duration in zip(circuit.instructions, s.starts, s.durations, strict=True):
        before = [e for prev, e in zip(circuit.instructions, ends, strict=False) if set(prev.locus) & set(inst.locus)]
        if inst.name == "cc_prx":
            before.append(feeding[inst.args["feedback_key"]])
        assert start == max(before, default=0.0)  # no slack, and never before what it depends on
        assert duration == instruction_duration(inst, GARNET) >= 0.0
        ends.append(start + duration)
        if inst.name == "measure" and "feedback_key" in inst.args:
            feeding[inst.args["feedback_key"]] = start + duration
    assert s.duration == max(ends, default=0.0) == q.circuit_duration(circuit, GARNET)
