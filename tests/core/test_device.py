"""The device view: usable qubits, couplings, routing graph and the one CZ plan of star devices."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qaas_core as q

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")
VLQ = q.load_profile("vlq24")


def star(
    qubits: int = 3,
    resonators: tuple[str, ...] = ("CR1", "CR2"),
    *,
    cz_fidelity: dict[tuple[str, str], float] | None = None,
    move_fidelity: dict[tuple[str, str], float] | None = None,
    unmeasured: tuple[str, ...] = (),
) -> q.Calibration:
    """A star device: every qubit has a CZ with and a MOVE into every resonator."""
    names = [f"QB{i + 1}" for i in range(qubits)]
    pairs = [(x, r) for r in resonators for x in names]
    gate = lambda loci: q.GateInfo({"default": loci}, "default")  # noqa: E731
    gates = {
        "prx": gate([(x,) for x in names]),
        "measure": gate([(x,) for x in names if x not in unmeasured]),
        "cz": gate(pairs),
        "move": gate(pairs),
    }
    fidelity = {"cz": dict(cz_fidelity or {}), "move": dict(move_fidelity or {})}
    duration = {"cz": dict.fromkeys(pairs, 40e-9), "move": dict.fromkeys(pairs, 100e-9)}
    metrics = q.Metrics(fidelity=fidelity, duration=duration)  # type: ignore[arg-type]
    return q.Calibration(
        calibration_set_id="00000000-0000-0000-0000-000000000001",
        qubits=names,
        computational_resonators=resonators,
        gates=gates,
        metrics=metrics,
        device="star",
    )


def test_usable_qubits_need_prx_and_measure() -> None:
    view = q.DeviceView(star(4, ("CR1",), unmeasured=("QB2",)))
    assert view.qubits == ("QB1", "QB3", "QB4")
    assert view.calibrated("measure") == ("QB1", "QB3", "QB4")
    assert view.calibrated("prx") == ("QB1", "QB2", "QB3", "QB4")
    assert all("QB2" not in pair for pair in view.couplings)
    assert view.neighbours("QB2") == () and not view.coupled("QB1", "QB2")
    assert view.cz("QB1", "QB2")  # a CZ can still be planned; only routing avoids the qubit


def test_couplings_of_the_profiles() -> None:
    assert q.DeviceView(GARNET).couplings == tuple(GARNET.coupling_graph())
    assert len(q.DeviceView(DENEB).couplings) == 15
    view = q.DeviceView(VLQ)
    assert len(view.couplings) == 24 * 23 // 2
    assert view.neighbours("QB5") == tuple(x for x in VLQ.qubits if x != "QB5")


def test_lattice_cz_is_played_as_written() -> None:
    view = q.DeviceView(GARNET)
    a, b = GARNET.loci("cz")[0]
    assert view.cz_route(a, b) is None and view.is_direct(b, a)
    assert view.cz(a, b) == (q.cz(a, b),)
    assert view.cz(b, a) == (q.cz(b, a),)
    assert view.cz_fidelity(b, a) == GARNET.fidelity("cz", (a, b))
    with pytest.raises(q.CalibrationError, match="no calibrated CZ"):
        view.cz("QB1", "QB20")


@pytest.mark.parametrize("calibration", [DENEB, VLQ], ids=["deneb6", "vlq24"])
def test_star_cz_ignores_the_operand_order_and_breaks_ties_by_calibration_order(calibration: q.Calibration) -> None:
    view = q.DeviceView(calibration)
    for a, b in view.couplings:
        assert view.cz(a, b) == view.cz(b, a)
        route = view.cz_route(b, a)
        assert route is not None
        # the profiles give every qubit the same figures: the earlier qubit stays, the later one moves
        assert (route.stay, route.mover, route.resonator) == (a, b, "CR1")
        assert view.cz(a, b) == (q.move(b, "CR1"), q.cz(a, "CR1"), q.move(b, "CR1")) == route.instructions()


def test_the_cz_direction_with_the_higher_fidelity_wins() -> None:
    # QB1 moving is worse than QB2 moving, so QB2 moves although QB1 is earlier
    cal = star(
        2,
        ("CR1",),
        cz_fidelity={("QB1", "CR1"): 0.99, ("QB2", "CR1"): 0.99},
        move_fidelity={("QB1", "CR1"): 0.95, ("QB2", "CR1"): 0.999},
    )
    route = q.DeviceView(cal).cz_route("QB2", "QB1")
    assert route is not None and (route.stay, route.mover) == ("QB1", "QB2")
    assert route.fidelity == pytest.approx(0.999**2 * 0.99)
    # the reverse: QB2's CZ is poor, so QB1 takes the move although QB2's move is better
    cal = star(
        2,
        ("CR1",),
        cz_fidelity={("QB1", "CR1"): 0.999, ("QB2", "CR1"): 0.90},
        move_fidelity={("QB1", "CR1"): 0.995, ("QB2", "CR1"): 0.999},
    )
    route = q.DeviceView(cal).cz_route("QB1", "QB2")
    assert route is not None and (route.stay, route.mover) == ("QB1", "QB2")
    cal = star(
        2,
        ("CR1",),
        cz_fidelity={("QB1", "CR1"): 0.90, ("QB2", "CR1"): 0.999},
        move_fidelity={("QB1", "CR1"): 0.999, ("QB2", "CR1"): 0.995},
    )
    route = q.DeviceView(cal).cz_route("QB1", "QB2")
    assert route is not None and (route.stay, route.mover) == ("QB2", "QB1")


def test_the_better_resonator_wins_and_known_figures_beat_missing_ones() -> None:
    pairs = [(x, r) for r in ("CR1", "CR2") for x in ("QB1", "QB2")]
    fid = dict.fromkeys(pairs, 0.99) | {("QB1", "CR2"): 0.995}
    route = q.DeviceView(star(2, cz_fidelity=fid, move_fidelity=dict.fromkeys(pairs, 0.999))).cz_route("QB1", "QB2")
    assert route is not None and (route.stay, route.resonator) == ("QB1", "CR2")
    # only the route through CR2 has all its figures
    partial = {("QB1", "CR2"): 0.5, ("QB2", "CR2"): 0.5}
    route = q.DeviceView(star(2, cz_fidelity=partial, move_fidelity=partial)).cz_route("QB1", "QB2")
    assert route is not None and route.resonator == "CR2"
    # no figures at all: calibration order decides
    route = q.DeviceView(star(2)).cz_route("QB2", "QB1")
    assert route is not None and (route.stay, route.mover, route.resonator, route.fidelity) == (
        "QB1",
        "QB2",
        "CR1",
        None,
    )


def test_calibration_metrics_of_a_virtual_cz_are_those_of_the_chosen_route() -> None:
    cal = star(
        2,
        ("CR1",),
        cz_fidelity={("QB1", "CR1"): 0.90, ("QB2", "CR1"): 0.999},
        move_fidelity={("QB1", "CR1"): 0.999, ("QB2", "CR1"): 0.995},
    )
    route = q.DeviceView(cal).cz_route("QB1", "QB2")
    assert route is not None
    assert cal.fidelity("cz", ("QB1", "QB2")) == cal.fidelity("cz", ("QB2", "QB1")) == route.fidelity
    assert cal.duration("cz", ("QB2", "QB1")) == route.duration == pytest.approx(240e-9)
    assert q.DeviceView(cal).cz_fidelity("QB2", "QB1") == route.fidelity


figures = st.floats(min_value=0.5, max_value=1.0)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_the_plan_is_the_best_route_whatever_the_figures(data: st.DataObject) -> None:
    pairs = [(x, r) for r in ("CR1", "CR2") for x in ("QB1", "QB2", "QB3")]
    cz_f = {p: data.draw(figures) for p in pairs}
    move_f = {p: data.draw(figures) for p in pairs}
    view = q.DeviceView(star(3, cz_fidelity=cz_f, move_fidelity=move_f))
    for a, b in itertools.permutations(("QB1", "QB2", "QB3"), 2):
        route = view.cz_route(a, b)
        assert route is not None and {route.stay, route.mover} == {a, b}
        best = max(
            move_f[(mover, r)] ** 2 * cz_f[(stay, r)] for stay, mover in ((a, b), (b, a)) for r in ("CR1", "CR2")
        )
        assert route.fidelity == best
        assert view.cz(a, b) == view.cz(b, a) == route.instructions()


def test_paths_and_distances_follow_the_couplings() -> None:
    view = q.DeviceView(GARNET)
    path = view.path("QB1", "QB20")
    assert path[0] == "QB1" and path[-1] == "QB20"
    assert all(view.coupled(x, y) for x, y in itertools.pairwise(path))
    assert view.distance("QB1", "QB20") == len(path) - 1
    assert view.distance("QB1", "QB1") == 0 and view.path("QB3", "QB3") == ["QB3"]
    assert q.DeviceView(DENEB).distance("QB1", "QB6") == 1
    lonely = q.DeviceView(star(3, ("CR1",), unmeasured=("QB3",)))
    assert lonely.distance("QB1", "QB3") == 10**6
    with pytest.raises(q.CalibrationError, match="not connected"):
        lonely.path("QB1", "QB3")


def test_frames_track_virtual_z() -> None:
    frames = q.Frames()
    assert frames.phase("QB1", 0.25) == 0.25
    frames.rotate("QB1", 3.0)
    frames.rotate("QB1", 1.0)  # 4.0 is wrapped to 4.0 - 2π
    assert frames.angles["QB1"] == 4.0 - 2 * math.pi
    assert frames.phase("QB1", 0.5) == q.wrap_phase(0.5 - (4.0 - 2 * math.pi))
    frames.move("QB1", "CR1")
    assert "QB1" not in frames.angles and frames.angles["CR1"] == 4.0 - 2 * math.pi
    frames.move("QB1", "CR1")
    frames.reset(["QB1"])
    assert frames.phase("QB1", 0.5) == 0.5


@given(st.floats(min_value=-1e6, max_value=1e6))
def test_wrap_phase_is_the_remainder_in_the_half_open_range(x: float) -> None:
    wrapped = q.wrap_phase(x)
    assert -math.pi < wrapped <= math.pi
    assert q.wrap_phase(wrapped) == wrapped  # the identity on (-π, π]
    remainder = math.remainder(x, 2 * math.pi)
    assert abs(math.remainder(wrapped - remainder, 2 * math.pi)) <= 4 * math.ulp(max(abs(x), 1.0))


def test_wrap_phase_edges() -> None:
    assert q.wrap_phase(-math.pi) == q.wrap_phase(math.pi) == q.wrap_phase(3 * math.pi) == math.pi
    assert q.wrap_phase(1.5 * math.pi) == -0.5 * math.pi
    assert math.copysign(1.0, q.wrap_phase(-0.0)) == -1.0
    for odd in (math.inf, -math.inf, 1e300):  # left for validation to report
        assert q.wrap_phase(odd) == odd
    assert math.isnan(q.wrap_phase(math.nan))
