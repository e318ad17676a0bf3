"""Zero-noise extrapolation: from expectation values at noise scales ``λ ≥ 1`` to the value at ``λ = 0``.

Every extrapolator returns the estimate together with its **weights** ``w_i = ∂E(0)/∂E(λ_i)``. For the linear
methods (:class:`Linear`, :class:`Polynomial`, :class:`Richardson`) the estimate is exactly ``Σ w_i E(λ_i)``; for
:class:`Exponential` the weights are the gradient of the fit at the data (the delta method). Either way the
shot-noise variance of the estimate is ``Σ w_i² Var E(λ_i)`` for independent points — or, as the mitigation pipeline
does it, the variance of the per-shot weights of every circuit, which also keeps the covariance of terms measured in
the same shots.

* :class:`Linear` / :class:`Polynomial`: least-squares polynomial of the given order (at least order + 1 points).
* :class:`Richardson`: the polynomial through all points (order = points − 1), ``w_i = ∏_{j≠i} λ_j / (λ_j − λ_i)``.
  Exact for a noise response that is such a polynomial; its weights grow quickly with the number of points, and so
  does the variance.
* :class:`Exponential`: ``E(λ) = a + b·e^{−cλ}``. With a known asymptote ``a`` (default 0: a Pauli expectation under
  depolarising noise) it is a straight line through ``log|E − a|`` (needs at least 2 points, all on one side of
  ``a``); with ``asymptote=None`` all three parameters are fitted (at least 3 points), the rate by a bounded search
  and ``a``, ``b`` by least squares for each rate.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qaas_core._errors import ValidationError

__all__ = ["Exponential", "Extrapolation", "Extrapolator", "Linear", "Polynomial", "Richardson"]


@dataclass(frozen=True)
class Extrapolation:
    """The result of one extrapolation.

    Attributes:
        value: the estimate at zero noise.
        weights: ``∂value/∂values[i]`` for each input point.
        stderr: standard error from the input variances (NaN when none were given).
        curve: the fitted model ``E(λ)`` (for plots).
    """

    value: float
    weights: np.ndarray
    stderr: float
    curve: Callable[[float], float] = field(repr=False)


class Extrapolator(ABC):
    """How a zero-noise estimate is drawn from values at several noise scales."""

    label = "extrapolator"

    def min_points(self) -> int:
        """The fewest noise scales the method needs."""
        return 2

    def extrapolate(
        self,
        scales: Sequence[float] | np.ndarray,
        values: Sequence[float] | np.ndarray,
        variances: Sequence[float] | np.ndarray | None = None,
    ) -> Extrapolation:
        """Fit ``values`` measured at noise ``scales`` and evaluate the fit at zero.

        Raises:
            ValidationError: too few or repeated scales, mismatched lengths, or data the model cannot describe.
        """
        x = np.asarray(scales, dtype=float)
        y = np.asarray(values, dtype=float)
        if x.shape != y.shape or x.ndim != 1:
            raise ValidationError(f"{len(x)} scales for {len(y)} values")
        if len(x) < self.min_points():
            raise ValidationError(f"{self.label} extrapolation needs at least {self.min_points()} noise scales, "
                                  f"got {len(x)}")  # fmt: skip
        if len(np.unique(x)) != len(x):
            raise ValidationError(f"noise scales must be distinct, got {x.tolist()}")
        if not np.all(np.isfinite(y)):
            raise ValidationError(f"cannot extrapolate non-finite values {y.tolist()}")
        value, weights, curve = self._fit(x, y)
        stderr = math.nan
        if variances is not None:
            var = np.asarray(variances, dtype=float)
            stderr = float(math.sqrt(float(np.sum(weights**2 * var))))
        return Extrapolation(float(value), weights, stderr, curve)

    @abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, Callable[[float], float]]:
        """``(value at 0, weights, fitted curve)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _polynomial(x: np.ndarray, y: np.ndarray, order: int) -> tuple[float, np.ndarray, Callable[[float], float]]:
    vander = np.vander(x, order + 1, increasing=True)
    solve = np.linalg.pinv(vander)  # coefficients = solve @ y; the value at 0 is the constant coefficient
    coefficients = solve @ y

    def curve(lam: float) -> float:
        return float(np.polynomial.polynomial.polyval(lam, coefficients))

    return float(coefficients[0]), solve[0].copy(), curve


class Polynomial(Extrapolator):
    """Least-squares polynomial of ``order`` through the points, evaluated at zero noise.

    Raises:
        ValidationError: ``order`` below 1.
    """

    def __init__(self, order: int) -> None:
        if type(order) is not int or order < 1:
            raise ValidationError(f"polynomial order must be an integer >= 1, got {order!r}")
        self.order = order
        self.label = f"polynomial({order})"

    def min_points(self) -> int:
        return self.order + 1

    def _fit(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, Callable[[float], float]]:
        return _polynomial(x, y, self.order)

    def __repr__(self) -> str:
        return f"Polynomial({self.order})"


class Linear(Polynomial):
    """Least-squares straight line (first-order polynomial)."""

    def __init__(self) -> None:
        super().__init__(1)
        self.label = "linear"

    def __repr__(self) -> str:
        return "Linear()"


class Richardson(Extrapolator):
    """Richardson extrapolation: the polynomial through all points (order = number of points − 1)."""

    label = "richardson"

    def _fit(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, Callable[[float], float]]:
        weights = np.array([np.prod([xj / (xj - xi) for j, xj in enumerate(x) if j != i]) for i, xi in enumerate(x)])
        _, _, curve = _polynomial(x, y, len(x) - 1)
        return float(weights @ y), weights, curve


class Exponential(Extrapolator):
    """``E(λ) = a + b·e^{−cλ}`` fitted to the points; the estimate is ``a + b``.

    Args:
        asymptote: the known ``a`` (0 for Pauli expectations under depolarising noise), or None to fit it too.
    """

    def __init__(self, asymptote: float | None = 0.0) -> None:
        self.asymptote = asymptote
        self.label = "exponential" if asymptote is None else f"exponential(a={asymptote:g})"

    def min_points(self) -> int:
        return 3 if self.asymptote is None else 2

    def __repr__(self) -> str:
        return f"Exponential(asymptote={self.asymptote!r})"

    def _fit(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, Callable[[float], float]]:
        if self.asymptote is not None:
            return self._fixed(x, y, float(self.asymptote))
        value, params = _free_fit(x, y)
        h = 1e-6 * max(1.0, float(np.max(np.abs(y))))
        weights = np.empty(len(y))
        for i in range(len(y)):
            up, down = y.copy(), y.copy()
            up[i] += h
            down[i] -= h
            weights[i] = (_free_fit(x, up)[0] - _free_fit(x, down)[0]) / (2 * h)
        a, b, c = params

        def curve(lam: float) -> float:
            return float(a + b * math.exp(-c * lam))

        return value, weights, curve

    @staticmethod
    def _fixed(x: np.ndarray, y: np.ndarray, a: float) -> tuple[float, np.ndarray, Callable[[float], float]]:
        z = y - a
        sign = float(np.sign(z[0]))
        if sign == 0.0 or not np.all(np.sign(z) == sign):
            raise ValidationError(
                f"exponential extrapolation with asymptote {a:g} needs every value on one side of it, got "
                f"{y.tolist()}; use Linear() or Richardson(), or Exponential(None)"
            )
        solve = np.linalg.pinv(np.stack([np.ones_like(x), x], axis=1))
        intercept, slope = solve @ np.log(sign * z)
        amplitude = sign * math.exp(float(intercept))
        weights = amplitude * solve[0] / z

        def curve(lam: float) -> float:
            return float(a + amplitude * math.exp(float(slope) * lam))

        return a + amplitude, weights, curve


def _free_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, tuple[float, float, float]]:
    """Fit ``a + b·e^{−cλ}`` by a bounded search over ``c`` with ``a, b`` from least squares; returns ``(a + b,
    (a, b, c))``."""
    span = float(np.max(x) - np.min(x))
    c_max = 20.0 / span

    def solve(c: float) -> tuple[float, float, float]:
        design = np.stack([np.ones_like(x), np.exp(-c * x)], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        residual = float(np.sum((design @ np.array([a, b]) - y) ** 2))
        return residual, float(a), float(b)

    grid = np.geomspace(1e-4 / span, c_max, 200)
    residuals = [solve(float(c))[0] for c in grid]
    k = int(np.argmin(residuals))
    lo, hi = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, len(grid) - 1)])
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(80):  # golden-section refinement between the grid neighbours
        c1, c2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if solve(c1)[0] <= solve(c2)[0]:
            hi = c2
        else:
            lo = c1
    c = (lo + hi) / 2
    _, a, b = solve(c)
    start = params = np.array([a, b, c])
    for _ in range(20):  # Gauss-Newton polish: the rate to machine precision, so that gradients are accurate
        decay = np.exp(-params[2] * x)
        residual = params[0] + params[1] * decay - y
        jacobian = np.stack([np.ones_like(x), decay, -params[1] * x * decay], axis=1)
        step, *_ = np.linalg.lstsq(jacobian, -residual, rcond=None)
        params = params + step
        if np.max(np.abs(step)) < 1e-15 * max(1.0, float(np.max(np.abs(params)))):
            break

    def cost(p: np.ndarray) -> float:
        return float(np.sum((p[0] + p[1] * np.exp(-p[2] * x) - y) ** 2))

    if not (np.all(np.isfinite(params)) and cost(params) <= cost(start) * (1 + 1e-9) + 1e-30):
        params = start  # the polish wandered off: keep the searched fit
    a, b, c = (float(v) for v in params)
    return a + b, (a, b, c)
