"""Native-gate algebra: one prx plus a frame for any single-qubit unitary, inverses, the preserve mark."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import MITIGATION_KEY, is_preserved
from qaas_core.mitigation._native import as_prx, inverse, mark, prx_matrix
from tests.mitigation.statevector import same_up_to_phase


def rz(z: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * z), np.exp(0.5j * z)])


def test_prx_matrix_is_the_simulators() -> None:
    from qaas_core.emulator._simulator import _prx_matrix

    for angle, phase in [(0.3, -1.2), (math.pi, 0.0), (-2.0, 3.0)]:
        assert np.allclose(prx_matrix(angle, phase), _prx_matrix(angle, phase))


def test_any_single_qubit_unitary_is_one_prx_and_a_frame() -> None:
    rng = np.random.default_rng(3)
    specials = [np.eye(2), np.diag([1, -1]), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]])]
    randoms = [np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0] for _ in range(500)]
    for u in [*(np.asarray(s, dtype=complex) for s in specials), *randoms]:
        angle, phase, z = as_prx(u)
        assert 0.0 <= angle <= math.pi + 1e-12
        assert same_up_to_phase(rz(z) @ prx_matrix(angle, phase), u)
    assert as_prx(np.diag([1, -1]).astype(complex))[0] == 0.0  # Z: no pulse, only a frame


def test_inverses() -> None:
    g = q.prx("QB1", 0.7, -0.4)
    assert np.allclose(prx_matrix(**inverse(g).args) @ prx_matrix(**g.args), np.eye(2))
    for inst in (q.cz("QB1", "QB2"), q.move("QB1", "CR1"), q.barrier("QB1"), q.delay(1e-7, "QB1")):
        assert inverse(inst) == inst
    for inst in (q.measure("QB1", key="m"), q.reset("QB1")):
        with pytest.raises(ValueError, match="not unitary"):
            inverse(inst)


def test_mark_keeps_metadata_and_adds_labels() -> None:
    c = q.Circuit("c", (q.measure("QB1", key="m"),), {"user": 1})
    assert not is_preserved(c)
    once = mark(c, c.instructions, "c2", {"twirl": 3})
    twice = mark(once, once.instructions, "c3", {"scale": 3.0})
    assert is_preserved(twice) and twice.name == "c3"
    assert twice.metadata == {"user": 1, MITIGATION_KEY: {"twirl": 3, "scale": 3.0, "preserve": True}}
    q.check_circuit(twice)  # the metadata travels as JSON
