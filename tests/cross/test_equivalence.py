"""The four front ends compile each library program to equivalent native IQM circuits (offline, on the bundled
device profiles the emulators also serve).

For programs measured only at the end, each front end's native circuit, read on the logical qubits through the
layout the front end reports (:mod:`tests.cross.frontends`), implements the program's unitary up to a global
phase and Z phases just before measurement: ``U_ref · U^†`` is diagonal (virtual Z frames left at the end of a
circuit are never played). Routing ancillas and resonators start in ``|0>`` and must not end entangled with the
logical qubits. Every front end is compared with the reference unitary (Qiskit's ``Operator``, which
test_library checks against Cirq's and PennyLane's) and with every other front end (``U_a · U_b^†`` diagonal).

For every program, the measurement structure is the same: classical bit ``j`` reads logical qubit
``program.clbits[j]`` (one component per measured logical qubit; ``ipe2``/``ipe3`` read one qubit repeatedly). For
programs with feedback (mid-circuit measurement plus ``cc_prx``) the structure of the corrections is compared instead
of a unitary: which classical bits drive corrections on each logical qubit, in order (corrections on different
qubits commute, and a compiler may order them either way), and every front end plays each correction with pulses of
the same angles (the core's one conditioned construction: an X is one π pulse, a Z rotation two, ``qft_dyn3``'s
rotated bases one π/2 or π/4 pulse); their distributions are compared in test_statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from itertools import combinations
from typing import TypeVar

import numpy as np
import pytest

import qaas_core as q
from tests.cross import cases
from tests.cross.frontends import FRONT_ENDS, Native, front_end
from tests.cross.helpers import assert_equivalent_up_to_output_phases, logical_unitary
from tests.cross.library import Program
from tests.cross.references import UNITARIES

T = TypeVar("T")


@functools.cache
def _calibration(device: str) -> q.Calibration:
    return q.load_profile(device)


@functools.cache
def native(front: str, program: Program) -> Native:
    return front_end(front).native(program, _calibration(program.device))


@functools.cache
def unitary(front: str, program: Program) -> np.ndarray:
    n = native(front, program)
    return logical_unitary(n.circuit, n.initial, n.final)


@pytest.mark.parametrize(("program", "front"), cases.program_front_ends(feedback=False))
def test_native_circuit_implements_the_program(program: Program, front: str) -> None:
    n = native(front, program)
    assert sorted(n.initial) == sorted(n.final) == list(range(program.qubits))
    assert_equivalent_up_to_output_phases(UNITARIES["qiskit"](program), unitary(front, program))


@pytest.mark.parametrize("program", cases.programs(feedback=False))
def test_front_ends_pairwise_equivalent(program: Program) -> None:
    for a, b in combinations([fe.name for fe in FRONT_ENDS], 2):
        try:
            assert_equivalent_up_to_output_phases(unitary(a, program), unitary(b, program))
        except AssertionError as exc:
            raise AssertionError(f"{a} and {b}: {exc}") from None


@pytest.mark.parametrize(("program", "front"), cases.program_front_ends())
def test_measurement_structure(program: Program, front: str) -> None:
    n = native(front, program)
    readout = n.readout()
    assert sorted(readout) == list(range(len(program.clbits)))
    assert len(set(readout.values())) == len(set(program.clbits)), "two logical qubits are read on one component"
    logical_of = {component: i for i, component in n.final.items()}
    assert tuple(logical_of.get(readout[j]) for j in range(len(readout))) == program.clbits


@pytest.mark.parametrize(("program", "front"), cases.program_front_ends(feedback=True))
def test_feedback_structure(program: Program, front: str) -> None:
    n = native(front, program)
    assert n.initial == n.final, "feedback programs fit the device without routing"
    logical_of = {component: i for i, component in n.initial.items()}
    assert _per_qubit((logical_of[c], bit) for bit, c in n.feedback()) == _per_qubit(
        (qubit, bit) for bit, qubit in program.feedback
    )


@pytest.mark.parametrize("program", cases.programs(feedback=True))
def test_front_ends_play_corrections_alike(program: Program) -> None:
    pulses = {}
    for fe in FRONT_ENDS:
        n = native(fe.name, program)
        logical_of = {component: i for i, component in n.initial.items()}
        pulses[fe.name] = _per_qubit((logical_of[c], (bit, round(abs(a), 6))) for bit, c, a in n.corrections())
    for name, per in pulses.items():
        assert per == pulses["qiskit"], f"{name} plays other corrections than qiskit"


def _per_qubit(items: Iterable[tuple[int, T]]) -> dict[int, list[T]]:
    """Logical qubit -> its items, in order."""
    out: dict[int, list[T]] = {}
    for qubit, item in items:
        out.setdefault(qubit, []).append(item)
    return out


@pytest.mark.parametrize(("program", "front"), cases.program_front_ends(device="deneb6"))
def test_star_device_compiles_through_the_resonator(program: Program, front: str) -> None:
    n = native(front, program)
    qubits = set(_calibration(program.device).qubits)
    moves = [inst for inst in n.circuit.instructions if inst.name == "move"]
    assert moves and len(moves) % 2 == 0
    for inst in n.circuit.instructions:
        if inst.name == "cz":
            assert len(set(inst.locus) & qubits) == 1, f"cz {inst.locus} is not between a qubit and a resonator"
