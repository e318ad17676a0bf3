"""Dynamical decoupling: pulses only where the ASAP schedule leaves a gap that holds them, nothing else moves."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import DynamicalDecoupling, insert_dd
from qaas_core.mitigation._stage import Context
from tests.mitigation.helpers import CHAIN5, GARNET, ghz
from tests.mitigation.statevector import same_up_to_phase, unitary

PRX = GARNET.duration("prx", ("QB1",)) or 0.0
CZ = GARNET.duration("cz", ("QB1", "QB2")) or 0.0


def originals(before: q.Circuit, after: q.Circuit) -> list[int]:
    """Positions in ``after`` of the instructions of ``before`` (in order)."""
    out, k = [], 0
    for i, inst in enumerate(after.instructions):
        if k < len(before.instructions) and inst == before.instructions[k]:
            out.append(i)
            k += 1
    assert k == len(before.instructions)
    return out


@pytest.mark.parametrize("sequence", ["XY4", "XX"])
def test_nothing_else_moves_and_pulses_fit_their_gaps(sequence: str) -> None:
    c = ghz()
    s0 = q.schedule(c, GARNET)
    dd, inserted = insert_dd(c, GARNET, sequence)  # type: ignore[arg-type]
    assert inserted > 0
    s1 = q.schedule(dd, GARNET)
    assert s1.duration == pytest.approx(s0.duration, rel=1e-12, abs=1e-18)
    keep = originals(c, dd)
    assert np.allclose([s1.starts[i] for i in keep], s0.starts, rtol=0, atol=1e-18)
    added = [i for i in range(len(dd.instructions)) if i not in keep]
    pulses = [i for i in added if dd.instructions[i].name == "prx"]
    assert len(pulses) == inserted * (4 if sequence == "XY4" else 2)
    assert all(dd.instructions[i].args["angle"] == math.pi for i in pulses)
    # each block of pulses lies in an idle gap of its qubit in the original schedule
    for i in pulses:
        qubit = dd.instructions[i].locus[0]
        start, end = s1.starts[i], s1.starts[i] + s1.durations[i]
        for j, inst in enumerate(c.instructions):
            if qubit in inst.locus:
                assert end <= s0.starts[j] + 1e-18 or start >= s0.starts[j] + s0.durations[j] - 1e-18
    assert same_up_to_phase(unitary(dd, CHAIN5), unitary(c, CHAIN5))


def test_only_gaps_that_hold_the_sequence() -> None:
    a, b = "QB1", "QB2"
    # a waits while b plays k prx: a gap of k prx durations before the CZ
    for k, xy4, xx in [(1, 0, 0), (2, 0, 1), (3, 0, 1), (4, 1, 1), (9, 1, 1)]:
        c = q.Circuit("c", (q.prx(a, 1.0, 0.0), *[q.prx(b, 0.5, 0.0)] * (k + 1), q.cz(a, b), q.measure(a, b, key="m")))
        assert insert_dd(c, GARNET, "XY4")[1] == xy4, k
        assert insert_dd(c, GARNET, "XX")[1] == xx, k
    # no pulses on a qubit not yet acted on (still |0>), whatever its wait
    idle = q.Circuit("c", (*[q.prx(b, 0.5, 0.0)] * 20, q.cz(a, b), q.measure(a, b, key="m")))
    assert insert_dd(idle, GARNET)[1] == 0


def test_spacing_is_even_and_symmetric() -> None:
    a, b = "QB1", "QB2"
    c = q.Circuit("c", (q.prx(a, 1.0, 0.0), *[q.prx(b, 0.5, 0.0)] * 11, q.cz(a, b), q.measure(a, b, key="m")))
    dd, n = insert_dd(c, GARNET, "XY4")
    assert n == 1
    block = [i for i in dd.instructions[1:] if i.locus == (a,)]
    assert [i.name for i in block] == ["delay", "prx", "delay", "prx", "delay", "prx", "delay", "prx", "delay"]
    waits = [i.args["duration"] for i in block if i.name == "delay"]
    gap = 10 * PRX  # b ends its 11 prx 10 prx durations after a ends its one
    tau = (gap - 4 * PRX) / 4
    assert waits == pytest.approx([tau / 2, tau, tau, tau, tau / 2], rel=1e-6)
    assert [i.args["phase"] for i in block if i.name == "prx"] == [0.0, math.pi / 2, 0.0, math.pi / 2]


def test_no_pulses_on_moved_qubits_or_resonators() -> None:
    deneb = q.load_profile("deneb6")
    resonator = deneb.computational_resonators[0]
    movers = [x for x, r in deneb.loci("move") if r == resonator]
    qubit = next(a for a, b in deneb.loci("cz") if b == resonator and a != movers[0])
    m = movers[0]
    c = q.Circuit("star", (q.prx(m, 1.0, 0.0), q.prx(qubit, 1.0, 0.0), q.move(m, resonator),
                           *[q.prx(qubit, 0.5, 0.0)] * 30, q.cz(qubit, resonator), q.move(m, resonator),
                           q.measure(qubit, m, key="m")))  # fmt: skip
    dd, inserted = insert_dd(c, deneb)
    assert inserted == 0  # qubit is never idle, m is in the resonator meanwhile, the resonator takes no prx
    q.validate_circuits([dd], deneb)


def test_stage_needs_the_calibration() -> None:
    with pytest.raises(q.ValidationError, match="calibration"):
        DynamicalDecoupling().expand(ghz(), Context(None, (0,)))
    with pytest.raises(q.ValidationError, match="unknown"):
        DynamicalDecoupling("XY8")  # type: ignore[arg-type]
    (variant,) = DynamicalDecoupling("XX").expand(ghz(), Context(GARNET, (0,)))
    assert variant.labels["dd_sequences"] > 0
