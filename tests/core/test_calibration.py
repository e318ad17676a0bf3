"""The calibration model: profiles, IQM shapes, derived views, malformed documents."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qaas_core as q


@pytest.mark.parametrize("name", q.PROFILES)
def test_profiles_load_and_round_trip(name: str) -> None:
    cal = q.load_profile(name)
    assert cal.device == name
    assert q.Calibration.from_json(cal.to_json()) == cal
    again = q.Calibration.from_iqm(cal.to_dqa(), {"observations": cal.to_observations()}, device=name)
    assert again == cal
    for qubit in cal.qubits:  # every qubit has the figures the simulator and the targets need
        assert 0.0 < cal.metrics.t1[qubit] < 1e-3 and 0.0 < cal.metrics.t2[qubit] < 1e-3
        assert 0.99 < cal.fidelity("prx", (qubit,)) <= 1.0
        e01, e10 = cal.metrics.readout_error[qubit]
        assert 0.0 <= e01 < 0.1 and 0.0 <= e10 < 0.1
        assert cal.duration("prx", (qubit,)) is not None


def test_profile_shapes() -> None:
    garnet, adonis, deneb, vlq = (q.load_profile(n) for n in ("garnet20", "adonis5", "deneb6", "vlq24"))
    assert (len(garnet.qubits), len(garnet.computational_resonators), len(garnet.coupling_graph())) == (20, 0, 30)
    assert adonis.coupling_graph() == [("QB1", "QB3"), ("QB2", "QB3"), ("QB3", "QB4"), ("QB3", "QB5")]
    assert deneb.computational_resonators == ("CR1",)
    assert len(deneb.coupling_graph()) == 15  # all pairs of 6 qubits, through the resonator
    assert len(vlq.qubits) == 24 and len(vlq.coupling_graph()) == 24 * 23 // 2
    with pytest.raises(q.ConfigurationError, match="unknown device profile 'nope'"):
        q.load_profile("nope")


def test_figures_follow_the_public_error_profiles() -> None:
    garnet = q.load_profile("garnet20")
    # IQMFakeGarnet: prx depolarising 0.00085 on QB1 -> F = 1 - p/2; cz QB1,QB2 0.00578 -> F = 1 - 3p/4
    assert garnet.fidelity("prx", ("QB1",)) == pytest.approx(1 - 0.00085 / 2)
    assert garnet.error("cz", ("QB2", "QB1")) == pytest.approx(3 * 0.00578 / 4)
    assert garnet.metrics.t1["QB1"] == pytest.approx(37741e-9)
    assert garnet.metrics.readout_error["QB3"] == pytest.approx((0.0285, 0.0245))
    assert garnet.duration("cz", ("QB1", "QB2")) == pytest.approx(40e-9)


def test_virtual_cz_through_the_resonator() -> None:
    deneb = q.load_profile("deneb6")
    e_cz, e_move = deneb.error("cz", ("QB1", "CR1")), deneb.error("move", ("QB2", "CR1"))
    assert deneb.error("cz", ("QB1", "QB2")) == pytest.approx(1 - (1 - e_move) ** 2 * (1 - e_cz))
    assert deneb.duration("cz", ("QB1", "QB2")) == pytest.approx(2 * 96e-9 + 120e-9)
    assert deneb.resonator_for("QB1", "QB2") == "CR1"
    assert q.load_profile("garnet20").resonator_for("QB1", "QB2") is None


def test_from_iqm_reads_observations_and_overrides() -> None:
    dqa = {
        "calibration_set_id": "26c5e70f-bea0-43af-bd37-6212ec7d04cb",
        "qubits": ["QB1", "QB2"],
        "computational_resonators": [],
        "gates": {
            "prx": {
                "implementations": {"drag_gaussian": {"loci": [["QB1"], ["QB2"]]}, "drag_crf": {"loci": [["QB2"]]}},
                "default_implementation": "drag_gaussian",
                "override_default_implementation": {"QB2": "drag_crf"},
            },
            "cz": {
                "implementations": {"tgss": {"loci": [["QB1", "QB2"]]}},
                "default_implementation": "tgss",
                "override_default_implementation": {},
            },
        },
    }
    obs = {
        "observations": [
            {"dut_field": "characterization.model.QB1.t1_time", "value": 5e-5, "unit": "s"},
            {"dut_field": "metrics.irb.cz.tgss.QB1__QB2.fidelity:par=d2", "value": 0.99, "unit": ""},
            {"dut_field": "metrics.ssro.measure.constant.QB2.error_1_to_0", "value": 0.03, "unit": ""},
            {"dut_field": "metrics.rb.prx.drag_gaussian.QB1.fidelity", "value": 0.5, "unit": "", "invalid": True},
            {"dut_field": "controllers.QB1.drive.frequency", "value": 4.1e9, "unit": "Hz"},
        ]
    }
    cal = q.Calibration.from_iqm(dqa, obs)
    assert cal.gates["prx"].implementation_for(("QB2",)) == "drag_crf"
    assert cal.gates["prx"].loci == (("QB1",), ("QB2",))
    assert cal.metrics.t1 == {"QB1": 5e-5}
    assert cal.fidelity("cz", ("QB2", "QB1")) == 0.99
    assert cal.metrics.readout_error["QB2"] == (0.0, 0.03)
    assert cal.fidelity("prx", ("QB1",)) is None  # the invalid observation is ignored
    assert cal.to_dqa()["gates"]["prx"]["override_default_implementation"] == {"QB2": "drag_crf"}


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"schema": "other/1"}', "unsupported calibration schema"),
        ('{"schema": "qaas.calibration/1"}', "malformed dynamic quantum architecture"),
    ],
)
def test_malformed_calibration(doc: str, fragment: str) -> None:
    with pytest.raises(q.CalibrationError, match=fragment):
        q.Calibration.from_json(doc)


def test_inconsistent_calibration() -> None:
    doc = q.load_profile("adonis5").to_dict()
    doc["gates"]["cz"]["implementations"]["tgss"]["loci"].append(["QB1", "QB9"])
    with pytest.raises(q.CalibrationError, match="unknown component"):
        q.Calibration.from_dict(doc)
    doc = q.load_profile("adonis5").to_dict()
    doc["gates"]["cz"]["default_implementation"] = "nope"
    with pytest.raises(q.CalibrationError, match="default implementation 'nope'"):
        q.Calibration.from_dict(doc)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_calibrations_raise_only_calibration_errors(data: st.DataObject) -> None:
    doc = json.loads(q.load_profile("deneb6").to_json())
    junk = st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2) | st.just({})
    node = doc
    path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=5))
    for step in path[:-1]:
        if isinstance(node, dict) and node:
            node = node[sorted(node)[step % len(node)]]
        elif isinstance(node, list) and node:
            node = node[step % len(node)]
    if isinstance(node, dict) and node:
        node[sorted(node)[path[-1] % len(node)]] = data.draw(junk)
    elif isinstance(node, list) and node:
        node[path[-1] % len(node)] = data.draw(junk)
    try:
        q.Calibration.from_dict(doc)
    except q.CalibrationError:
        pass
