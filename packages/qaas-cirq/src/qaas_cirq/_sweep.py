"""Parameter sweeps without re-converting: a circuit becomes a template once, each resolver only fills in angles.

:class:`Template` walks a parameterised circuit once (:func:`qaas_cirq._convert.walk` in symbolic mode). Every
instruction that does not depend on a symbol is built then and shared by all circuits of the sweep; every ``prx`` /
``cc_prx`` that does becomes a slot whose angle and phase are :class:`~qaas_cirq._affine.Affine` in the symbols
(virtual-Z frames included). Their coefficients go into a core :class:`qaas_core.Template`, which evaluates all slots
for all resolvers at once and builds only the slot instructions, with the canonical phases of the direct conversion;
the rare non-affine parts (``sin(t)`` …) are evaluated with numpy and added before that.

Circuits whose symbols sit where a template cannot hold them (a symbolic CZ power, a symbolic wait) fall back to
resolving and converting the circuit once per resolver, with the same results.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import cirq
import numpy as np
import sympy

import qaas_core as q
from qaas_cirq._affine import Affine
from qaas_cirq._convert import NotTemplatable, Slot, Walk, instructions_of, walk
from qaas_cirq._errors import ConversionError

__all__ = ["Template", "sweep_to_qaas", "to_resolvers"]


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
        self._prepare(result.items)

    @property
    def structure(self) -> tuple[q.Instruction, ...] | None:
        """The instructions with placeholder angles in the slots (for validation against a calibration), or None
        when the circuit is converted per resolver (then each instantiated circuit must be checked)."""
        return None if self._fallback else instructions_of(self.items)

    def _prepare(self, items: Sequence[q.Instruction | Slot]) -> None:
        """The core template of the affine parts, and the non-affine parts as numpy functions."""
        slots = [(k, item) for k, item in enumerate(items) if isinstance(item, Slot)]
        forms = [(Affine.of(slot.angle), Affine.of(slot.phase)) for _, slot in slots]
        symbols: set[str] = set()
        for pair in forms:
            for value in pair:
                symbols.update(value.symbols())
        self._symbols = sorted(symbols)
        index = {name: i for i, name in enumerate(self._symbols)}
        core_slots = []
        # (phase?, slot, coefficient, numpy function, symbol rows): the rare parts that are not affine
        self._other: list[tuple[bool, int, float, Callable[..., Any], list[int]]] = []
        for k, ((position, slot), (angle, phase)) in enumerate(zip(slots, forms, strict=True)):
            feedback = (slot.extra["feedback_qubit"], slot.extra["feedback_key"]) if slot.extra else None
            affine = ((angle.const, angle.terms), (phase.const, phase.terms))  # terms keyed by symbol name
            core_slots.append(q.TemplateSlot(position, slot.locus, *affine, feedback))
            for is_phase, value in ((False, angle), (True, phase)):
                for coef, expr in value.other:
                    names = sorted(s.name for s in expr.free_symbols)
                    fn = sympy.lambdify([sympy.Symbol(n) for n in names], expr, modules="numpy")
                    self._other.append((is_phase, k, coef, fn, [index[n] for n in names]))
        base = [None if isinstance(item, Slot) else item for item in items]
        self._template = q.Template(base, core_slots, self._symbols)

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
        angles, phases = self._template.evaluate(values.T)
        with np.errstate(all="ignore"):  # non-finite results are reported below
            for is_phase, k, coef, fn, rows in self._other:
                (phases if is_phase else angles)[:, k] += coef * np.asarray(fn(*values[rows]), dtype=float)
        finite = np.isfinite(angles).all(axis=1) & np.isfinite(phases).all(axis=1)
        if not finite.all():
            bad = int(np.nonzero(~finite)[0][0])
            raise ConversionError(f"params #{bad} make a rotation angle non-finite ({dict(resolvers[bad].param_dict)})")
        return self._template.build(angles, phases)


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
    with q.gc_paused():
        template = Template(circuit)
        instances = template.instantiate(to_resolvers(params))
        metadata = {"keys": {w: list(v) for w, v in template.keys.items()}} if template.keys else None
        return [q.Circuit(f"{name}-{i}", insts, metadata) for i, insts in enumerate(instances)]
