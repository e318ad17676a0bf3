"""Where logical wires live on the QPU: layout costs on top of the core's device view, and the choice of an initial
layout.

:class:`Topology` adds to a :class:`qaas_core.DeviceView` (usable qubits, couplings, the native instructions of a CZ
— a direct ``cz`` or the MOVE sandwich of star devices —, shortest paths for SWAP routing) what placement needs:
per-qubit and per-pair costs from the calibrated fidelities and readout errors.

:func:`choose_layout` places the *slots* of a circuit (its wires before any SWAP relabelling) on physical qubits.
It first searches for an embedding in which every interacting pair is coupled (a bounded branch-and-bound search
for the cheapest such embedding), and otherwise falls back to a greedy placement that keeps interacting slots close,
leaving the converter to route the remaining gates with SWAPs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import qaas_core as q
from qaas_pennylane._errors import LayoutError

__all__ = ["Topology", "choose_layout"]

_DEFAULT_CZ_FIDELITY: Final = 0.99
_DEFAULT_1Q_FIDELITY: Final = 0.999
_DEFAULT_READOUT_ERROR: Final = 0.02
SEARCH_BUDGET: Final = 20_000
"""Search steps :func:`choose_layout` may spend looking for a routing-free embedding before it falls back."""


def _cost(fidelity: float | None, default: float) -> float:
    value = default if fidelity is None else fidelity
    return -math.log(min(max(value, 1e-9), 1.0))


class Topology:
    """The placement view of one calibration: the core's device view plus layout costs.

    Attributes:
        view: the :class:`qaas_core.DeviceView` of the calibration (couplings, CZ plans, routing graph).
        calibration_set_id: the calibration set this view was built from.
        qubits: usable qubits (calibrated ``prx`` and ``measure``), in the calibration's order.
        neighbours: qubit -> qubits it can take a CZ with (directly or through a resonator).
        qubit_cost: qubit -> ``-log`` of its single-qubit gate fidelity times its readout fidelity.
        feedback: qubits with a calibrated ``cc_prx`` (classically controlled rotations).
        resettable: qubits with a calibrated ``reset``.
    """

    def __init__(self, calibration: q.Calibration) -> None:
        cal = calibration
        self.view = view = q.DeviceView(cal)
        self.calibration_set_id = cal.calibration_set_id
        self.qubits: tuple[str, ...] = view.qubits
        self.feedback: frozenset[str] = frozenset(view.calibrated("cc_prx"))
        self.resettable: frozenset[str] = frozenset(view.calibrated("reset"))
        self.qubit_cost: dict[str, float] = {}
        for x in self.qubits:
            readout = cal.metrics.readout_error.get(x)
            err = _DEFAULT_READOUT_ERROR if readout is None else (readout[0] + readout[1]) / 2
            self.qubit_cost[x] = _cost(cal.fidelity("prx", (x,)), _DEFAULT_1Q_FIDELITY) + _cost(1.0 - err, 0.98)
        self._pair_cost: dict[tuple[str, str], float] = {}
        for a, b in view.couplings:
            self._pair_cost[a, b] = self._pair_cost[b, a] = _cost(view.cz_fidelity(a, b), _DEFAULT_CZ_FIDELITY)
        self.neighbours: dict[str, frozenset[str]] = {x: frozenset(view.neighbours(x)) for x in self.qubits}

    def coupled(self, a: str, b: str) -> bool:
        """Whether a CZ between ``a`` and ``b`` needs no routing."""
        return self.view.coupled(a, b)

    def cz(self, a: str, b: str) -> tuple[q.Instruction, ...]:
        """Native instructions of a CZ between coupled qubits ``a`` and ``b`` (the device view's plan).

        Raises:
            KeyError: the qubits are not coupled.
        """
        if not self.view.coupled(a, b):
            raise KeyError((a, b))
        return self.view.cz(a, b)

    def pair_cost(self, a: str, b: str) -> float:
        """``-log`` of the CZ fidelity between coupled qubits (infinite if they are not coupled)."""
        return self._pair_cost.get((a, b), math.inf)

    def path(self, a: str, b: str) -> list[str]:
        """A shortest coupling path from ``a`` to ``b`` (both included).

        Raises:
            LayoutError: ``b`` cannot be reached from ``a``.
        """
        try:
            return self.view.path(a, b)
        except q.CalibrationError as exc:
            raise LayoutError(f"qubits {a} and {b} are not connected on this QPU") from exc

    def distance(self, a: str, b: str) -> int:
        """Number of couplings on a shortest path from ``a`` to ``b`` (a large number if unreachable)."""
        return self.view.distance(a, b)


def _slot_order(n_slots: int, adjacency: Sequence[dict[int, int]]) -> list[int]:
    """Connected components, largest first, each in BFS order from its most connected slot; isolated slots last."""
    seen: set[int] = set()
    components: list[list[int]] = []
    for start in sorted(range(n_slots), key=lambda s: (-sum(adjacency[s].values()), s)):
        if start in seen or not adjacency[start]:
            continue
        order = [start]
        seen.add(start)
        todo = deque([start])
        while todo:
            node = todo.popleft()
            for nxt in sorted(adjacency[node], key=lambda s: (-adjacency[node][s], s)):
                if nxt not in seen:
                    seen.add(nxt)
                    order.append(nxt)
                    todo.append(nxt)
        components.append(order)
    components.sort(key=len, reverse=True)
    isolated = [s for s in range(n_slots) if not adjacency[s]]
    return [s for comp in components for s in comp] + isolated


def choose_layout(
    n_slots: int, edges: Mapping[tuple[int, int], int], topology: Topology, *, budget: int = SEARCH_BUDGET
) -> tuple[str, ...]:
    """Place ``n_slots`` circuit slots on physical qubits.

    Args:
        n_slots: number of slots (wires of the circuit, before SWAP relabelling).
        edges: ``(slot, slot) -> number of two-qubit gates`` between them.
        topology: the QPU.
        budget: search steps for a routing-free embedding before falling back to a greedy placement.

    Returns:
        The physical qubit of each slot.

    Raises:
        LayoutError: more slots than usable qubits.
    """
    if n_slots > len(topology.qubits):
        raise LayoutError(
            f"the circuit needs {n_slots} qubits but the QPU has {len(topology.qubits)} usable ones "
            f"(calibration set {topology.calibration_set_id})"
        )
    adjacency: list[dict[int, int]] = [{} for _ in range(n_slots)]
    for (a, b), weight in edges.items():
        if a != b:
            adjacency[a][b] = adjacency[a].get(b, 0) + weight
            adjacency[b][a] = adjacency[b].get(a, 0) + weight
    order = _slot_order(n_slots, adjacency)
    connected = [s for s in order if adjacency[s]]
    placed = _embed(connected, adjacency, topology, budget)
    if placed is None:
        placed = _greedy(connected, adjacency, topology)
    used = set(placed.values())
    free = sorted((x for x in topology.qubits if x not in used), key=lambda x: (topology.qubit_cost[x], x))
    for slot, qubit in zip((s for s in order if not adjacency[s]), free, strict=False):
        placed[slot] = qubit
    return tuple(placed[s] for s in range(n_slots))


def _embed(
    order: Sequence[int], adjacency: Sequence[dict[int, int]], topo: Topology, budget: int
) -> dict[int, str] | None:
    """The cheapest embedding found within ``budget`` steps in which every interacting pair is coupled, or None."""
    if not order:
        return {}
    best_cost = math.inf
    best: dict[int, str] | None = None
    assignment: dict[int, str] = {}
    used: set[str] = set()
    steps = 0
    by_cost = sorted(topo.qubits, key=lambda x: (topo.qubit_cost[x], x))

    def candidates(slot: int) -> list[tuple[float, str]]:
        placed_nbrs = [(assignment[t], w) for t, w in adjacency[slot].items() if t in assignment]
        unplaced = sum(1 for t in adjacency[slot] if t not in assignment)
        pool: Iterable[str] = by_cost
        if placed_nbrs:
            common = set(topo.neighbours[placed_nbrs[0][0]])
            for phys, _ in placed_nbrs[1:]:
                common &= topo.neighbours[phys]
            pool = common
        out = []
        for x in pool:
            if x in used:
                continue
            if unplaced and sum(1 for n in topo.neighbours[x] if n not in used) < unplaced:
                continue
            cost = topo.qubit_cost[x] + sum(w * topo.pair_cost(x, p) for p, w in placed_nbrs)
            out.append((cost, x))
        out.sort()
        return out

    def search(k: int, cost: float) -> None:
        nonlocal best_cost, best, steps
        if k == len(order):
            if cost < best_cost:
                best_cost, best = cost, dict(assignment)
            return
        slot = order[k]
        for inc, x in candidates(slot):
            steps += 1
            if steps > budget or cost + inc >= best_cost:
                return
            assignment[slot] = x
            used.add(x)
            search(k + 1, cost + inc)
            del assignment[slot]
            used.discard(x)

    search(0, 0.0)
    return best


def _greedy(order: Sequence[int], adjacency: Sequence[dict[int, int]], topo: Topology) -> dict[int, str]:
    """Place slots one by one next to their already placed partners (routing will connect the rest)."""
    assignment: dict[int, str] = {}
    used: set[str] = set()
    for slot in order:
        placed_nbrs = [(assignment[t], w) for t, w in adjacency[slot].items() if t in assignment]
        free = [x for x in topo.qubits if x not in used]
        if placed_nbrs:
            choice = min(
                free, key=lambda x: (sum(w * topo.distance(x, p) for p, w in placed_nbrs), topo.qubit_cost[x], x)
            )
        else:
            choice = min(
                free,
                key=lambda x: (-sum(1 for n in topo.neighbours[x] if n not in used), topo.qubit_cost[x], x),
            )
        assignment[slot] = choice
        used.add(choice)
    return assignment
