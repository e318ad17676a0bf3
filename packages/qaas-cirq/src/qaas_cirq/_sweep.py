"""Parameter sweeps without re-converting: a circuit becomes a template once, each resolver only fills in angles.

:class:`Template` walks a parameterised circuit once (:func:`qaas_cirq._convert.walk` in symbolic mode). Every
instruction that does not depend on a symbol is built then and shared by all circuits of the sweep; every ``prx`` /
``cc_prx`` that does becomes a slot whose angle and phase are :class:`~qaas_cirq._convert.Affine` in the symbols
(virtual-Z frames included). :meth:`Template.instantiate` evaluates all slots for all resolvers at once — one matrix
product for the affine parts, numpy for anything else — and then only builds the slot instructions.

Circuits whose symbols sit where a template cannot hold them (a symbolic CZ power, a symbolic wait) fall back to
resolving and converting the circuit once per resolver, with the same results.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any, Final

import cirq
import numpy as np
import scipy.sparse  # type: ignore[import-untyped,unused-ignore]
import sympy

import qaas_core as q
from qaas_cirq._affine import Affine
from qaas_cirq._convert import NotTemplatable, Slot, Walk, gc_paused, instructions_of, walk
from qaas_cirq._errors import ConversionError

__all__ = ["Template", "sweep_to_qaas", "to_resolvers"]

_TAU: Final = 2 * math.pi
_Instruction: Final = q.Instruction


class Template:
    """A circuit converted once, ready to be instantiated for many parameter resolvers.

    Args:
        circuit: A native circuit, possibly with sympy symbols in its rotation angles.

    Attributes:
        keys: Wire measurement key -> ``(Cirq key, instance)`` for renamed (repeated) keys.
        measured: Whether the circuit measures anything.
        parameters: Names of the symbols the circuit uses.

    Raises:
        ConversionError: the circuit is not native.
    """

    def __init__(self, circuit: cirq.AbstractCircuit) -> None:
        self.circuit = circuit
        self.parameters: tuple[str, ...] = tuple(sorted(cirq.parameter_names(circuit)))
        try:
            result = walk(circuit, symbolic=True)
        except NotTemplatable:
            # resolved and converted per resolver; keys are known after the first one
            self._fallback = True
            result = Walk([], {}, cirq.is_measurement(circuit))
        else:
            self._fallback = False
        self.keys = result.keys
        self.measured = result.measured
        self.items = result.items
        self._base: list[q.Instruction | None] = [None if isinstance(i, Slot) else i for i in result.items]
        self._positions = [k for k, i in enumerate(result.items) if isinstance(i, Slot)]
        self._slots: list[Slot] = [result.items[k] for k in self._positions]  # type: ignore[misc]
        self._prepare_evaluation()

    @property
    def structure(self) -> tuple[q.Instruction, ...] | None:
        """The instructions with placeholder angles in the slots (for validation against a calibration), or None
        when the circuit is converted per resolver (then each instantiated circuit must be checked)."""
        return None if self._fallback else instructions_of(self.items)

    def _prepare_evaluation(self) -> None:
        values: list[Affine] = []
        for slot in self._slots:
            values.append(Affine.of(slot.angle))
            values.append(Affine.of(slot.phase))
        symbols: set[str] = set()
        for a in values:
            symbols.update(a.terms)
            for _, expr in a.other:
                symbols.update(s.name for s in expr.free_symbols)
        self._symbols = sorted(symbols)
        index = {s: i for i, s in enumerate(self._symbols)}
        rows: list[int] = []
        cols: list[int] = []
        coefs: list[float] = []
        self._const = np.array([a.const for a in values], dtype=float)
        self._other: list[tuple[int, float, Callable[..., Any], list[int]]] = []
        for r, a in enumerate(values):
            for name, coef in a.terms.items():
                rows.append(r)
                cols.append(index[name])
                coefs.append(coef)
            for coef, expr in a.other:
                names = sorted(s.name for s in expr.free_symbols)
                fn = sympy.lambdify([sympy.Symbol(n) for n in names], expr, modules="numpy")
                self._other.append((r, coef, fn, [index[n] for n in names]))
        # sparse: an angle depends on few of the symbols (a phase on the Z rotations before it on its qubit)
        self._matrix = scipy.sparse.csr_matrix((coefs, (rows, cols)), shape=(len(values), len(self._symbols)))

    def _values(self, resolvers: Sequence[cirq.ParamResolver]) -> np.ndarray:
        """Symbol values, shape (symbols, resolvers), checking every circuit parameter is resolved to a real."""
        names = self.parameters
        if not names:
            return np.zeros((0, len(resolvers)))
        try:  # the common case: string keys and real values, looked up in C
            pick = operator.itemgetter(*names)
            table = [pick(resolver.param_dict) for resolver in resolvers]
            full = np.array(table, dtype=float).reshape(len(resolvers), len(names)).T
        except (KeyError, TypeError, ValueError):
            full = self._values_slowly(resolvers)
        position = {n: i for i, n in enumerate(names)}
        return full[[position[s] for s in self._symbols]]

    def _values_slowly(self, resolvers: Sequence[cirq.ParamResolver]) -> np.ndarray:
        names = self.parameters
        table: list[list[float]] = []
        for j, resolver in enumerate(resolvers):
            given = {(k if type(k) is str else getattr(k, "name", k)): v for k, v in resolver.param_dict.items()}
            row = []
            for name in names:
                v = given.get(name)
                if type(v) is not float:
                    v = _resolve(resolver, name, v, j)
                row.append(v)
            table.append(row)
        return np.array(table, dtype=float).reshape(len(resolvers), len(names)).T

    def instantiate(self, resolvers: Sequence[cirq.ParamResolver]) -> list[tuple[q.Instruction, ...]]:
        """The instructions of the circuit for each resolver.

        Raises:
            ConversionError: a resolver leaves a symbol unresolved, or gives a value that makes an angle non-finite.
        """
        values = self._values(resolvers)
        if self._fallback:
            resolved: list[tuple[q.Instruction, ...]] = []
            for r in resolvers:
                result = walk(cirq.resolve_parameters(self.circuit, r))
                self.keys = result.keys
                resolved.append(tuple(result.items))  # type: ignore[arg-type]  # no slots without symbols
            return resolved
        if not self._slots:
            constant = tuple(self._base)
            return [constant] * len(resolvers)  # type: ignore[list-item]
        with np.errstate(all="ignore"):  # non-finite results are reported below
            matrix = self._matrix @ values + self._const[:, None]
            for row, coef, fn, args in self._other:
                matrix[row] += coef * np.asarray(fn(*values[args]), dtype=float)
        if not np.isfinite(matrix).all():
            bad = int(np.nonzero(~np.isfinite(matrix).all(axis=0))[0][0])
            raise ConversionError(f"params #{bad} make a rotation angle non-finite ({dict(resolvers[bad].param_dict)})")
        phases = matrix[1::2]
        phases -= _TAU * np.round(phases / _TAU)
        angles_by_circuit = matrix[0::2].T.tolist()
        phases_by_circuit = phases.T.tolist()
        base = self._base
        positions = self._positions
        loci = [s.locus for s in self._slots]
        conditional = [(k, s.extra) for k, s in enumerate(self._slots) if s.extra]
        out: list[tuple[q.Instruction, ...]] = []
        instruction = _Instruction
        names = ["prx"] * len(loci)
        with gc_paused():
            for angles, phases_ in zip(angles_by_circuit, phases_by_circuit, strict=True):
                arguments = [{"angle": a, "phase": p} for a, p in zip(angles, phases_, strict=True)]
                insts = base.copy()
                for pos, inst in zip(positions, map(instruction, names, loci, arguments), strict=True):
                    insts[pos] = inst
                for k, extra in conditional:  # cc_prx slots: rare, rebuilt with their feedback arguments
                    insts[positions[k]] = instruction("cc_prx", loci[k], {"angle": angles[k], "phase": phases_[k],
                                                                          **extra})  # fmt: skip
                out.append(tuple(insts))  # type: ignore[arg-type]
        return out


def _plain(params: object) -> bool:
    return isinstance(params, dict) and all(isinstance(v, numbers.Number | sympy.Basic) for v in params.values())


def to_resolvers(params: cirq.Sweepable) -> list[cirq.ParamResolver]:
    """``list(cirq.to_resolvers(params))``, with a fast path for lists of plain dicts and resolvers.

    Raises:
        ValidationError: ``params`` is not something Cirq can sweep over.
    """
    if params is None:
        return [cirq.ParamResolver()]
    if isinstance(params, cirq.ParamResolver):
        return [params]
    if _plain(params):
        return [cirq.ParamResolver(params)]  # type: ignore[arg-type]
    if isinstance(params, list | tuple) and all(isinstance(p, cirq.ParamResolver) or _plain(p) for p in params):
        return [p if isinstance(p, cirq.ParamResolver) else cirq.ParamResolver(p) for p in params]
    try:
        return list(cirq.to_resolvers(params))
    except (TypeError, ValueError) as exc:
        raise q.ValidationError(f"params cannot be swept over: {exc}") from exc


def _resolve(resolver: cirq.ParamResolver, name: str, given: object, index: int) -> float:
    if isinstance(given, numbers.Real):
        return float(given)
    value = resolver.value_of(sympy.Symbol(name), recursive=True)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, sympy.Basic) and not value.free_symbols and value.is_real:
        return float(value)
    raise ConversionError(f"params #{index} give no real value for the symbol {name!r} (got {value!r})")


def sweep_to_qaas(
    circuit: cirq.AbstractCircuit, params: cirq.Sweepable = None, *, name: str = "cirq"
) -> list[q.Circuit]:
    """Convert a native circuit once per parameter resolver of ``params``, through a :class:`Template`.

    Args:
        circuit: A native circuit, possibly parameterised.
        params: Anything ``cirq.to_resolvers`` accepts (a sweep, a resolver, a dict, a list of them).
        name: Prefix of the circuit names (``{name}-0``, ``{name}-1`` …).

    Returns:
        One IQM circuit per resolver, in sweep order.

    Raises:
        ConversionError: the circuit is not native, or a resolver leaves a symbol unresolved.
    """
    with gc_paused():
        template = Template(circuit)
        instances = template.instantiate(to_resolvers(params))
        metadata = {"keys": {w: list(v) for w, v in template.keys.items()}} if template.keys else None
        return [q.Circuit(f"{name}-{i}", insts, metadata) for i, insts in enumerate(instances)]
