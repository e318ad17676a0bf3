"""Pauli twirling of CZ: the same circuit up to Z rotations before measurement, Paulis merged into prx."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import Twirl, is_preserved, twirl
from qaas_core.mitigation._stage import Context
from tests.mitigation.helpers import GARNET, TRIANGLE, random_circuit
from tests.mitigation.statevector import unitary


def equal_up_to_final_z(twirled: q.Circuit, original: q.Circuit, qubits: tuple[str, ...]) -> bool:
    """``U_twirled = D·U_original`` with ``D`` diagonal and unimodular: every Z-basis outcome keeps its probability."""
    m = unitary(twirled, qubits) @ unitary(original, qubits).conj().T
    return bool(np.allclose(m, np.diag(np.diag(m)), atol=1e-9) and np.allclose(np.abs(np.diag(m)), 1.0))


@pytest.mark.parametrize("seed", range(6))
def test_twirled_instances_are_equivalent(seed: int) -> None:
    rng = np.random.default_rng(seed)
    circuit = random_circuit(rng, depth=8)
    for _ in range(10):
        t = twirl(circuit, rng)
        assert equal_up_to_final_z(t, circuit, TRIANGLE)
        assert is_preserved(t)
        assert [i for i in t.instructions if i.name == "cz"] == [i for i in circuit.instructions if i.name == "cz"]
        q.validate_circuits([t], GARNET)


def test_paulis_merge_into_neighbouring_prx() -> None:
    # every CZ has a prx on both qubits right before and after it: twirling adds no pulse at all
    a, b = "QB1", "QB2"
    body: list[q.Instruction] = []
    for k in range(5):
        body += [q.prx(a, 0.3 + k, 0.1), q.prx(b, 0.5, -0.2 * k), q.cz(a, b)]
    c = q.Circuit("c", (*body, q.prx(a, 0.4, 0.0), q.prx(b, 1.1, 0.3), q.measure(a, b, key="m")))
    rng = np.random.default_rng(0)
    for _ in range(50):
        t = twirl(c, rng)
        assert sum(i.name == "prx" for i in t.instructions) <= sum(i.name == "prx" for i in c.instructions)
        assert equal_up_to_final_z(t, c, (a, b))


def test_back_to_back_czs_cost_at_most_one_pulse_per_gap() -> None:
    a, b = "QB1", "QB2"
    c = q.Circuit("c", (q.prx(a, 1.0, 0.0), q.cz(a, b), q.cz(a, b), q.cz(a, b), q.measure(a, b, key="m")))
    rng = np.random.default_rng(1)
    for _ in range(50):
        t = twirl(c, rng)
        # b has 4 gaps (start, two between CZs, before measure), a has 3 plus its prx: at most one prx in each
        assert sum(i.name == "prx" for i in t.instructions) <= 8
        assert equal_up_to_final_z(t, c, (a, b))


def test_every_played_twirl_is_drawn_evenly() -> None:
    # Z commutes with CZ: the Z part of a twirl is a frame change before the CZ that the one after it undoes, so the
    # played circuits differ only by the X parts: four, equally likely
    a, b = "QB1", "QB2"
    c = q.Circuit("c", (q.prx(a, 0.3, 0.2), q.prx(b, 0.4, 0.1), q.cz(a, b), q.prx(a, 0.7, 0.5), q.prx(b, 0.9, -0.6),
                        q.measure(a, b, key="m")))  # fmt: skip
    rng = np.random.default_rng(2)
    circuits = {}
    seen: Counter[str] = Counter()
    for _ in range(800):
        t = twirl(c, rng)
        key = str([(i.locus, round(i.args["angle"], 9), round(i.args["phase"], 9)) for i in t.instructions[:-1]
                   if i.name == "prx"])  # fmt: skip
        circuits[key] = t
        seen[key] += 1
    assert len(seen) == 4
    assert min(seen.values()) > 800 / 4 * 0.8
    for t in circuits.values():
        assert equal_up_to_final_z(t, c, (a, b))


def test_czs_with_a_resonator_are_not_twirled() -> None:
    deneb = q.load_profile("deneb6")
    qubit, resonator = next((a, b) for a, b in deneb.loci("cz") if b in deneb.computational_resonators)
    other = next(x for x, r in deneb.loci("move") if r == resonator and x != qubit)
    c = q.Circuit("star", (q.prx(other, 1.0, 0.0), q.move(other, resonator), q.cz(qubit, resonator),
                           q.move(other, resonator), q.measure(qubit, other, key="m")))  # fmt: skip
    variants = Twirl(4).expand(c, Context(deneb, (0,)))
    assert all(v.circuit.instructions == c.instructions for v in variants)


def test_stage_is_reproducible_and_labels_instances() -> None:
    c = random_circuit(np.random.default_rng(5))
    first = Twirl(3, seed=7).expand(c, Context(GARNET, (0, 1)))
    again = Twirl(3, seed=7).expand(c, Context(GARNET, (0, 1)))
    other = Twirl(3, seed=7).expand(c, Context(GARNET, (1, 1)))
    assert [v.circuit for v in first] == [v.circuit for v in again]
    assert [v.circuit for v in first] != [v.circuit for v in other]
    assert [v.labels for v in first] == [{"twirl": 0}, {"twirl": 1}, {"twirl": 2}]
    with pytest.raises(q.ValidationError, match="instances"):
        Twirl(0)
