"""The core's single-qubit fusion: a run of PRX pulses and Z rotations is the one RZ(a)·PRX(θ, φ) it equals, from
the scalar, the array (per binding) and the matrix entry points alike."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import qaas_core as q

ANGLE = st.floats(-4 * math.pi, 4 * math.pi, allow_nan=False)
ITEM = st.tuples(ANGLE, ANGLE) | ANGLE
RUN = st.lists(ITEM, min_size=1, max_size=6)


def prx(theta: float, phi: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -1j * s * np.exp(-1j * phi)], [-1j * s * np.exp(1j * phi), c]])


def rz(a: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def product(run: list[tuple[float, float] | float]) -> np.ndarray:
    out = np.eye(2, dtype=complex)
    for item in run:  # the later step on the left
        out = (prx(*item) if isinstance(item, tuple) else rz(item)) @ out
    return out


def assert_proportional(a: np.ndarray, b: np.ndarray) -> None:
    overlap = abs(np.trace(a.conj().T @ b)) / 2
    assert overlap > 1 - 1e-9, f"not equal up to a global phase (|tr(A†B)|/2 = {overlap})"


@given(RUN)
def test_fuse_is_the_product_of_the_run(run: list[tuple[float, float] | float]) -> None:
    theta, phi, a = q.fuse(run)
    fused = rz(a) @ (prx(theta, phi) if theta is not None else np.eye(2))
    assert_proportional(fused, product(run))
    assert theta is None or 0 <= theta <= math.pi + 1e-12


@given(st.lists(RUN, min_size=1, max_size=4).filter(lambda runs: len({tuple(map(type, r)) for r in runs}) == 1))
def test_fuse_arrays_is_fuse_per_binding(runs: list[list[tuple[float, float] | float]]) -> None:
    steps = []
    for position, item in enumerate(runs[0]):
        column = [run[position] for run in runs]
        if isinstance(item, tuple):
            steps.append((np.array([c[0] for c in column]), np.array([c[1] for c in column])))  # type: ignore[index]
        else:
            steps.append(np.array(column, dtype=float))
    thetas, phis, turns = q.fuse_arrays(steps, len(runs))
    for k, run in enumerate(runs):
        fused = rz(turns[k]) @ prx(thetas[k], phis[k])
        assert_proportional(fused, product(run))


@given(RUN)
def test_fuse_matrix_reads_the_same_gate_from_its_matrix(run: list[tuple[float, float] | float]) -> None:
    theta, phi, a = q.fuse_matrix(product(run).tolist())
    fused = rz(a) @ (prx(theta, phi) if theta is not None else np.eye(2))
    assert_proportional(fused, product(run))
