"""Extrapolators: exact on the models they assume, weights that are the gradient, error bars that match the spread."""

from __future__ import annotations

import numpy as np
import pytest

import qaas_core as q
from qaas_core.mitigation import Exponential, Linear, Polynomial, Richardson

SCALES = [1.0, 2.0, 3.0, 5.0]


def test_each_method_is_exact_on_its_model() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = rng.normal(size=4)
        x = np.array(SCALES)
        assert Linear().extrapolate(x, c[0] + c[1] * x).value == pytest.approx(c[0])
        assert Polynomial(2).extrapolate(x, c[0] + c[1] * x + c[2] * x**2).value == pytest.approx(c[0])
        assert Richardson().extrapolate(x, np.polyval(c[::-1], x)).value == pytest.approx(c[0])  # cubic, 4 points
        a, rate = rng.uniform(0.3, 1.0), rng.uniform(0.05, 0.5)
        assert Exponential().extrapolate(x, a * np.exp(-rate * x)).value == pytest.approx(a)
        assert Exponential().extrapolate(x, -a * np.exp(-rate * x)).value == pytest.approx(-a)
        off = rng.uniform(-0.2, 0.2)
        fit = Exponential(None).extrapolate(x, off + a * np.exp(-rate * x))
        assert fit.value == pytest.approx(off + a, abs=1e-5)
        assert fit.curve(2.5) == pytest.approx(off + a * np.exp(-rate * 2.5), abs=1e-5)


def test_richardson_weights() -> None:
    fit = Richardson().extrapolate([1, 3, 5], [0.9, 0.7, 0.55])
    assert np.allclose(fit.weights, [15 / 8, -10 / 8, 3 / 8])
    assert fit.value == pytest.approx(15 / 8 * 0.9 - 10 / 8 * 0.7 + 3 / 8 * 0.55)


@pytest.mark.parametrize("method", [Linear(), Polynomial(2), Richardson(), Exponential(), Exponential(None)])
def test_weights_are_the_gradient(method: Linear) -> None:
    x = np.array(SCALES)
    y = 0.05 + 0.9 * np.exp(-0.3 * x) + np.array([0.01, -0.02, 0.015, 0.0])
    fit = method.extrapolate(x, y)
    for i in range(len(y)):
        bumped = y.copy()
        bumped[i] += 1e-6
        assert (method.extrapolate(x, bumped).value - fit.value) / 1e-6 == pytest.approx(fit.weights[i], rel=1e-3,
                                                                                          abs=1e-6)  # fmt: skip
    if not isinstance(method, Exponential):
        assert fit.weights.sum() == pytest.approx(1.0)  # a constant is extrapolated to itself


@pytest.mark.parametrize("method", [Linear(), Richardson(), Exponential()])
def test_stderr_matches_the_spread(method: Linear) -> None:
    rng = np.random.default_rng(1)
    x = np.array([1.0, 3.0, 5.0])
    truth = 0.9 * np.exp(-0.12 * x)
    sigma = np.array([0.01, 0.015, 0.02])
    values = [method.extrapolate(x, truth + rng.normal(0, sigma)).value for _ in range(3000)]
    predicted = method.extrapolate(x, truth, sigma**2).stderr
    assert np.std(values) == pytest.approx(predicted, rel=0.06)


def test_refusals() -> None:
    with pytest.raises(q.ValidationError, match="at least 3"):
        Polynomial(2).extrapolate([1, 3], [1.0, 0.5])
    with pytest.raises(q.ValidationError, match="distinct"):
        Linear().extrapolate([1, 1, 3], [1.0, 0.9, 0.5])
    with pytest.raises(q.ValidationError, match="one side"):
        Exponential().extrapolate([1, 3, 5], [0.2, 0.05, -0.01])
    with pytest.raises(q.ValidationError, match="at least 3"):
        Exponential(None).extrapolate([1, 3], [0.5, 0.3])
    with pytest.raises(q.ValidationError, match=">= 1"):
        Polynomial(0)
    with pytest.raises(q.ValidationError, match="non-finite"):
        Linear().extrapolate([1, 3], [1.0, float("nan")])
