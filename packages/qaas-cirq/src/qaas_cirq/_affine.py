"""Values affine in the sweep symbols: what a parameterised angle or phase becomes before a sweep fills it in."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sympy

__all__ = ["Affine", "affine_of"]


class Affine:
    """A real value affine in the sweep symbols, ``const + Σ terms[s]·s + Σ c·f(symbols)`` (immutable).

    Most angles of a parameterised circuit are affine in its symbols (``rx(θ)``, frames adding up ``rz(φ)`` …): a
    sweep evaluates them all at once with one matrix product. Anything else is kept as sympy sub-expressions
    (``other``) and evaluated with numpy.

    Attributes:
        const: Constant part.
        terms: Symbol name -> coefficient.
        other: ``(coefficient, sympy expression)`` pairs for non-affine parts.
    """

    __slots__ = ("const", "other", "terms")

    def __init__(
        self, const: float = 0.0, terms: Mapping[str, float] | None = None, other: tuple[tuple[float, Any], ...] = ()
    ) -> None:
        self.const = const
        self.terms: Mapping[str, float] = terms if terms is not None else {}  # never mutated: shared freely
        self.other = other

    @staticmethod
    def of(value: float | Affine) -> Affine:
        """``value`` as an :class:`Affine`."""
        return value if isinstance(value, Affine) else Affine(float(value))

    def __add__(self, other: float | Affine) -> Affine:
        if not isinstance(other, Affine):
            return Affine(self.const + other, self.terms, self.other)
        terms = dict(self.terms)
        for name, coef in other.terms.items():
            terms[name] = terms.get(name, 0.0) + coef
        return Affine(self.const + other.const, terms, self.other + other.other)

    __radd__ = __add__

    def __neg__(self) -> Affine:
        return self.scaled(-1.0)

    def __sub__(self, other: float | Affine) -> Affine:
        if not isinstance(other, Affine):
            return Affine(self.const - other, self.terms, self.other)
        return self + other.scaled(-1.0)

    def __rsub__(self, other: float) -> Affine:
        return self.scaled(-1.0, offset=other)

    def __mul__(self, factor: float) -> Affine:
        return self.scaled(factor)

    __rmul__ = __mul__

    def scaled(self, factor: float, offset: float = 0.0) -> Affine:
        """``offset + factor`` times this value."""
        return Affine(
            offset + self.const * factor,
            {n: c * factor for n, c in self.terms.items()},
            tuple((c * factor, e) for c, e in self.other),
        )

    def symbols(self) -> set[str]:
        """Names of the symbols this value depends on."""
        names = set(self.terms)
        for _, expr in self.other:
            names.update(s.name for s in expr.free_symbols)
        return names

    def __repr__(self) -> str:
        return f"Affine({self.const!r}, {self.terms!r}, {self.other!r})"


@functools.lru_cache(maxsize=4096)
def affine_of(expr: sympy.Expr) -> Affine:
    """Split a sympy expression into its affine part in the symbols and the rest (cached; treat as immutable).

    Raises:
        TypeError: a coefficient is not real.
    """
    const = 0.0
    terms: dict[str, float] = {}
    other: list[tuple[float, Any]] = []
    for term, coef in expr.as_coefficients_dict().items():
        if term.is_number:
            const += float(term * coef)
            continue
        factor, rest = term.as_independent(*term.free_symbols, as_Add=False)
        scale = coef * factor
        if rest.is_Symbol and scale.is_number and scale.is_real:
            terms[rest.name] = terms.get(rest.name, 0.0) + float(scale)
        else:
            other.append((float(coef), term))
    return Affine(const, terms, tuple(other))
