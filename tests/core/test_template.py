"""The core template: affine slots instantiated in a batch give the bits of a direct, one-by-one conversion."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qaas_core as q
from qaas_core._template import wrap_phases

numbers = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False, allow_infinity=False)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def direct(constant: float, terms: dict[int, float], values: list[float]) -> float:
    """The documented evaluation order, one float operation at a time: terms by parameter index, then the constant."""
    ordered = sorted(terms.items())
    if not ordered:
        return constant
    total = ordered[0][1] * values[ordered[0][0]]
    for index, coefficient in ordered[1:]:
        total = total + coefficient * values[index]
    return total + constant


affine = st.tuples(numbers, st.dictionaries(st.integers(0, 3), numbers, max_size=4))


@settings(max_examples=200, deadline=None)
@given(
    forms=st.lists(st.tuples(affine, affine, st.booleans()), min_size=1, max_size=6),
    values=st.lists(st.lists(numbers, min_size=4, max_size=4), min_size=1, max_size=5),
)
def test_instantiation_is_the_direct_conversion_bit_for_bit(
    forms: list[tuple[tuple[float, dict[int, float]], tuple[float, dict[int, float]], bool]],
    values: list[list[float]],
) -> None:
    base: list[q.Instruction | None] = [q.measure("QB9", key="k", feedback_key="f")]
    slots = []
    for angle, phase, conditional in forms:
        slots.append(q.TemplateSlot(len(base), ("QB1",), angle, phase, ("QB9", "f") if conditional else None))
        base.append(None)
        base.append(q.cz("QB1", "QB2"))
    template = q.Template(base, slots, 4)
    assert template.num_slots == len(forms)
    batch = template.instantiate(np.array(values))
    for row, circuit in zip(values, batch, strict=True):
        assert circuit == template.instantiate(np.array([row]))[0]  # a circuit never depends on its batch
        for slot, (angle, phase, conditional) in zip(slots, forms, strict=True):
            expected_angle = direct(*angle, row)
            expected_phase = q.wrap_phase(direct(*phase, row))
            if conditional:
                want = q.cc_prx("QB1", expected_angle, expected_phase, feedback_qubit="QB9", feedback_key="f")
            else:
                want = q.prx("QB1", expected_angle, expected_phase)
            got = circuit[slot.position]
            assert got == want
            assert bits(got.args["angle"]) == bits(expected_angle)
            assert bits(got.args["phase"]) == bits(expected_phase)
        assert circuit[0] is base[0] and circuit[2] is base[2]  # fixed instructions are shared
        q.check_circuit(q.Circuit("t", circuit))


@settings(max_examples=300)
@given(st.lists(st.floats(allow_nan=False), max_size=40))
def test_vectorised_wrapping_is_wrap_phase_bit_for_bit(xs: list[float]) -> None:
    ties = [math.pi, -math.pi, 3 * math.pi, -3 * math.pi, 5 * math.pi, 2 * math.pi, -0.0, 1e300, math.inf, -math.inf]
    ties += [math.nextafter(math.pi, 4.0), math.nextafter(-math.pi, -4.0), 0.5 * 2**52 * 2 * math.pi]
    data = [*xs, *ties]
    wrapped = wrap_phases(np.array(data)).tolist()
    assert [bits(x) for x in wrapped] == [bits(q.wrap_phase(x)) for x in data]


def test_placeholders_give_the_structure() -> None:
    template = q.Template(
        [q.prx("QB1", 1.0, 0.0), None, q.measure("QB1", key="m", feedback_key="m"), None],
        [
            q.TemplateSlot(1, ("QB2",), (0.0, {0: 1.0}), (0.0, {})),
            q.TemplateSlot(3, ("QB2",), (1.0, {}), (0.0, {1: -1.0}), ("QB1", "m")),
        ],
        2,
    )
    structure = template.placeholders()
    assert structure[1] == q.prx("QB2", 0.0, 0.0)
    assert structure[3] == q.cc_prx("QB2", 0.0, 0.0, feedback_qubit="QB1", feedback_key="m")
    q.check_circuit(q.Circuit("s", structure))


def test_a_template_without_slots_repeats_its_circuit() -> None:
    base = [q.prx("QB1", 1.0, 0.0), q.measure("QB1", key="m")]
    assert q.Template(base, [], 0).instantiate(np.zeros((3, 0))) == [tuple(base)] * 3


def test_bad_templates_and_values_are_refused() -> None:
    slot = q.TemplateSlot(0, ("QB1",), (0.0, {0: 1.0}), (0.0, {}))
    with pytest.raises(q.ValidationError, match="distinct positions"):
        q.Template([None], [slot, slot], 1)
    with pytest.raises(q.ValidationError, match="neither instructions nor slots"):
        q.Template([None, None], [slot], 1)
    with pytest.raises(q.ValidationError, match="indices must lie in"):
        q.Template([None], [slot._replace(angle=(0.0, {2: 1.0}))], 1)
    with pytest.raises(q.ValidationError, match="finite"):
        q.Template([None], [slot._replace(phase=(math.inf, {}))], 1)
    template = q.Template([None], [slot], 1)
    with pytest.raises(q.ValidationError, match=r"\(circuits, 1\) matrix"):
        template.instantiate(np.zeros((2, 3)))
    with pytest.raises(q.ValidationError, match="#1 make a rotation angle or phase non-finite"):
        template.instantiate(np.array([[0.5], [math.inf]]))
