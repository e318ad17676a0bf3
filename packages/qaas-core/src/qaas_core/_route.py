"""Layout and routing of native circuits: virtual qubits placed on the device by calibrated fidelity, and SWAPs
inserted so that every CZ acts on qubits that can take one (on a star device, through the resonator: the device
view's MOVE sandwich).

Input is a native circuit whose components are *virtual* names (any strings): ``prx``, ``cz``, ``measure``,
``reset``, ``barrier``, ``delay`` and ``cc_prx``. ``move`` names physical resonators and is refused. Output is the
same program on physical qubits, in the same order, with:

* **Layout.** Candidates grow from every usable qubit (or from the best few on large devices): the virtual qubits
  are taken in breadth-first order of their interaction graph, most-connected first, and each goes to the free qubit
  closest to the partners already placed (ties: the better calibrated qubit). Each candidate is routed and scored by
  the sum of ``-log(fidelity)`` of every operation it plays (PRX, CZ as played, readout), and the best one is kept.
* **Routing.** Instructions are taken in program order. A CZ between uncoupled qubits first moves its first
  qubit along a shortest path of couplings until it sits next to the second (each step a SWAP: three CNOTs, each a
  CZ between two ``prx`` on the target: ``RY(-π/2)``, ``CZ``, ``RY(π/2)``, exact unitaries, so the virtual-Z frames
  the PRX phases carry travel with their qubits). Nothing is ever moved across a measurement it depends on:
  instructions keep their order, and a ``cc_prx`` follows its measurement's qubit (``feedback_qubit``) wherever
  that qubit is at the time.
* **Results** keep the program's measurement keys, so counts come back in the program's own bit order whatever the
  layout. :class:`Routed` reports the initial and final layout.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from qaas_core._circuit import Circuit, Instruction, prx
from qaas_core._device import DeviceView
from qaas_core._errors import CalibrationError, CircuitError

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration

__all__ = ["Routed", "route"]

MAX_SEEDS: Final = 24  # layout candidates tried on a device with more usable qubits
_HALF_PI: Final = math.pi / 2
_UNKNOWN_ERROR: Final = 1e-3  # -log(fidelity) of an operation the calibration has no fidelity for


@dataclass(frozen=True)
class Routed:
    """A routed circuit.

    Attributes:
        circuit: the program on physical qubits.
        initial: virtual qubit -> physical qubit at the start.
        final: virtual qubit -> physical qubit at the end.
        swaps: SWAPs inserted.
        cost: the layout's score: sum of ``-log(fidelity)`` of the operations played (lower is better).
    """

    circuit: Circuit
    initial: dict[str, str]
    final: dict[str, str]
    swaps: int
    cost: float


class _Router:
    """One routing pass of a circuit from one initial layout (see the module docstring)."""

    def __init__(self, view: DeviceView, layout: Mapping[str, str]) -> None:
        self.view = view
        cal = view.calibration
        self.prx_fid = cal.metrics.fidelity.get("prx", {})
        self.readout = cal.metrics.readout_error
        self.where = dict(layout)  # virtual -> physical
        self.who = {p: v for v, p in layout.items()}  # physical -> virtual
        self.out: list[Instruction] = []
        self.cost = 0.0
        self.swaps = 0

    def _prx(self, p: str, angle: float, phase: float) -> None:
        self.out.append(prx(p, angle, phase))
        self.cost += _error(self.prx_fid.get((p,)))

    def _cz(self, a: str, b: str) -> None:
        self.out.extend(self.view.cz(a, b))
        self.cost += _error(self.view.cz_fidelity(a, b))

    def _cnot(self, control: str, target: str) -> None:
        self._prx(target, -_HALF_PI, _HALF_PI)
        self._cz(control, target)
        self._prx(target, _HALF_PI, _HALF_PI)

    def _swap(self, a: str, b: str) -> None:
        self._cnot(a, b)
        self._cnot(b, a)
        self._cnot(a, b)
        self.swaps += 1
        va, vb = self.who.pop(a, None), self.who.pop(b, None)
        if va is not None:
            self.where[va] = b
            self.who[b] = va
        if vb is not None:
            self.where[vb] = a
            self.who[a] = vb

    def play(self, inst: Instruction) -> None:
        name = inst.name
        if name == "cz":
            a, b = (self.where[v] for v in inst.locus)
            if not self.view.coupled(a, b):
                path = self.view.path(a, b)
                for here, nxt in itertools.pairwise(path[:-1]):
                    self._swap(here, nxt)
                a = self.where[inst.locus[0]]
            self._cz(a, b)
            return
        locus = tuple(self.where[v] for v in inst.locus)
        args = inst.args
        if name == "cc_prx":
            args = {**args, "feedback_qubit": self.where[args["feedback_qubit"]]}
        self.out.append(Instruction(name, locus, args))
        if name in ("prx", "cc_prx"):
            self.cost += _error(self.prx_fid.get(locus))
        elif name == "measure":
            self.cost += sum(_error(1 - sum(self.readout[p]) / 2 if p in self.readout else None) for p in locus)


def _error(fidelity: float | None) -> float:
    if fidelity is None:
        return _UNKNOWN_ERROR
    return -math.log(max(fidelity, 1e-12))


def _virtuals(circuit: Circuit) -> list[str]:
    seen: dict[str, None] = {}
    for inst in circuit.instructions:
        for v in inst.locus:
            seen.setdefault(v, None)
        if inst.name == "cc_prx":
            seen.setdefault(inst.args["feedback_qubit"], None)
    return list(seen)


def _interactions(circuit: Circuit) -> Counter[tuple[str, str]]:
    pairs: Counter[tuple[str, str]] = Counter()
    for inst in circuit.instructions:
        if inst.name == "cz":
            a, b = inst.locus
            pairs[(a, b) if a < b else (b, a)] += 1
    return pairs


def _placement_order(virtuals: Sequence[str], pairs: Counter[tuple[str, str]]) -> list[str]:
    """Virtual qubits in breadth-first order of the interaction graph, each component from its busiest qubit."""
    partners: dict[str, Counter[str]] = {v: Counter() for v in virtuals}
    for (a, b), n in pairs.items():
        partners[a][b] += n
        partners[b][a] += n
    degree = {v: sum(partners[v].values()) for v in virtuals}
    rank = {v: i for i, v in enumerate(virtuals)}
    order: list[str] = []
    placed: set[str] = set()
    for start in sorted(virtuals, key=lambda v: (-degree[v], rank[v])):
        if start in placed:
            continue
        queue = deque([start])
        placed.add(start)
        while queue:
            v = queue.popleft()
            order.append(v)
            for w, _ in sorted(partners[v].items(), key=lambda kv: (-kv[1], rank[kv[0]])):
                if w not in placed:
                    placed.add(w)
                    queue.append(w)
    return order


def _layout(view: DeviceView, seed: str, order: Sequence[str], pairs: Counter[tuple[str, str]],
            quality: Mapping[str, float]) -> dict[str, str] | None:  # fmt: skip
    partners: dict[str, list[tuple[str, int]]] = {v: [] for v in order}
    for (a, b), n in pairs.items():
        partners[a].append((b, n))
        partners[b].append((a, n))
    layout: dict[str, str] = {order[0]: seed}
    free = set(view.qubits) - {seed}
    for v in order[1:]:
        placed = [(layout[w], n) for w, n in partners[v] if w in layout]
        if not free:
            return None

        def cost(p: str, placed: list[tuple[str, int]] = placed) -> tuple[float, float]:
            distance = sum(n * view.distance(p, q) for q, n in placed)
            if not placed:  # a new component of the interaction graph: close to what is placed, on a good qubit
                distance = min(view.distance(p, q) for q in layout.values())
            return (distance, quality[p])

        best = min(sorted(free, key=view.qubits.index), key=cost)
        layout[v] = best
        free.discard(best)
    return layout


def route(
    circuit: Circuit, calibration: Calibration, *, layout: Mapping[str, str] | None = None,
    view: DeviceView | None = None,
) -> Routed:  # fmt: skip
    """Place and route ``circuit`` (on virtual qubits) onto ``calibration``'s device (see the module docstring).

    Args:
        circuit: the program on virtual qubit names.
        calibration: the device.
        layout: a fixed initial layout (virtual -> physical) instead of the search.
        view: the device view to use (built from ``calibration`` if not given).

    Raises:
        CircuitError: the program uses more qubits than the device has usable ones, names a resonator (``move``),
            or its fixed layout is not a layout of usable qubits.
    """
    view = view or DeviceView(calibration)
    virtuals = _virtuals(circuit)
    for index, inst in enumerate(circuit.instructions):
        if inst.name == "move":
            raise CircuitError("move names a physical resonator: write the program on physical qubits ($n) to use "
                               "it, or let the router play CZs through the resonator", circuit=circuit.name,
                               index=index)  # fmt: skip
    if len(virtuals) > len(view.qubits):
        raise CircuitError(f"the program uses {len(virtuals)} qubits; {calibration.device or 'the device'} has "
                           f"{len(view.qubits)} usable ones", circuit=circuit.name)  # fmt: skip
    if layout is not None:
        candidates = [dict(layout)]
        bad = [v for v in virtuals if layout.get(v) not in view.qubits]
        if bad or len(set(layout.values())) != len(layout):
            raise CircuitError(f"the layout must map every qubit of the program ({', '.join(bad) or 'all'}) to a "
                               "distinct usable qubit", circuit=circuit.name)  # fmt: skip
    else:
        pairs = _interactions(circuit)
        order = _placement_order(virtuals, pairs)
        quality = _qubit_quality(view)
        seeds = sorted(view.qubits, key=lambda p: quality[p])
        if len(seeds) > MAX_SEEDS:
            seeds = seeds[:MAX_SEEDS]
        candidates = [c for c in (_layout(view, s, order, pairs, quality) for s in seeds) if c is not None]
    best: _Router | None = None
    best_layout: dict[str, str] = {}
    for candidate in candidates:
        router = _Router(view, candidate)
        try:
            for inst in circuit.instructions:
                router.play(inst)
        except CalibrationError:
            continue  # the candidate straddles parts of the device that are not connected
        if best is None or router.cost < best.cost:
            best, best_layout = router, candidate
    if best is None:
        raise CircuitError(f"no layout on {calibration.device or 'the device'} connects the qubits the program "
                           "makes interact", circuit=circuit.name)  # fmt: skip
    routed = Circuit(circuit.name, tuple(best.out), circuit.metadata)
    return Routed(routed, best_layout, dict(best.where), best.swaps, best.cost)


def _qubit_quality(view: DeviceView) -> dict[str, float]:
    """``-log`` of a qubit's PRX and readout fidelity, plus its best CZ: lower is better."""
    cal = view.calibration
    prx = cal.metrics.fidelity.get("prx", {})
    out: dict[str, float] = {}
    for p in view.qubits:
        readout = cal.metrics.readout_error.get(p)
        cz = [_error(view.cz_fidelity(p, q)) for q in view.neighbours(p)]
        out[p] = (_error(prx.get((p,))) + _error(1 - sum(readout) / 2 if readout else None)
                  + (min(cz) if cz else 1.0))  # fmt: skip
    return out
