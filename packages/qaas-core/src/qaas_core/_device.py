"""The device view: what a calibration lets a compiler do — usable qubits, couplings, routing, and how a CZ is played.

Every front end compiles against this one view, so the same program gets the same native code whichever framework it
was written in:

* **Usable qubits** are the qubits with a calibrated ``prx`` and a calibrated ``measure`` (what IQM's own Qiskit
  target keeps), in the calibration's order.
* **Couplings** are the pairs of usable qubits that can take a CZ: a calibrated ``cz`` between them (lattice
  devices), or, on star devices (Deneb, VLQ), a computational resonator ``R`` such that one of them can MOVE into
  ``R`` and the other has a CZ with ``R``. They form the **routing graph** (:meth:`DeviceView.neighbours`,
  :meth:`DeviceView.path`).
* **The CZ plan** (:meth:`DeviceView.cz`). A calibrated CZ is played as it is, in the operands' order. Otherwise the
  CZ becomes the MOVE sandwich ``move(mover, R) · cz(stay, R) · move(mover, R)`` of the best :class:`CZRoute`:
  highest calibrated fidelity ``F_move(mover, R)² · F_cz(stay, R)`` first (routes with a missing figure after those
  with all figures), then — on a tie — the qubit earlier in the calibration's order stays, and the resonator earlier
  in the calibration's order is used. The choice never depends on the order of the operands (CZ is symmetric), so
  ``cz(a, b)`` and ``cz(b, a)`` give the same code.

:meth:`qaas_core.Calibration.fidelity` / :meth:`~qaas_core.Calibration.duration` of a CZ between two qubits that only
meet in a resonator describe the route chosen here.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from qaas_core._circuit import Instruction
from qaas_core._errors import CalibrationError

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration

__all__ = ["CZRoute", "DeviceView", "cz_routes"]

_UNREACHABLE = 10**6


class CZRoute(NamedTuple):
    """A CZ between two qubits played through a computational resonator: ``move(mover, R) cz(stay, R) move(mover, R)``.

    Attributes:
        stay: The qubit that takes the CZ with the resonator.
        mover: The qubit whose state is moved into the resonator and back.
        resonator: The computational resonator ``R``.
        fidelity: ``F_move(mover, R)² · F_cz(stay, R)``, or None if a figure is missing.
        duration: ``2 · t_move(mover, R) + t_cz(stay, R)`` in seconds, or None if a figure is missing.
    """

    stay: str
    mover: str
    resonator: str
    fidelity: float | None
    duration: float | None

    def instructions(self) -> tuple[Instruction, Instruction, Instruction]:
        """The MOVE sandwich."""
        move = Instruction("move", (self.mover, self.resonator))
        return (move, Instruction("cz", (self.stay, self.resonator)), move)


def _metric(table: dict[tuple[str, ...], float], locus: tuple[str, str], symmetric: bool) -> float | None:
    value = table.get(locus)
    if value is None and symmetric:
        value = table.get(locus[::-1])
    return value


def cz_routes(calibration: Calibration, a: str, b: str) -> list[CZRoute]:
    """Every way to play a CZ between qubits ``a`` and ``b`` through a resonator, best first (see the module).

    Empty when the two qubits share no resonator (or when ``a == b``).
    """
    if a == b:
        return []
    resonators = set(calibration.computational_resonators)
    moves: dict[str, set[str]] = {}
    for locus in calibration.loci("move"):
        if len(locus) == 2 and locus[1] in resonators:
            moves.setdefault(locus[0], set()).add(locus[1])
    czs: dict[str, set[str]] = {}
    for locus in calibration.loci("cz"):
        if len(locus) == 2:
            for qubit, other in (locus, locus[::-1]):
                if other in resonators and qubit not in resonators:
                    czs.setdefault(qubit, set()).add(other)
    metrics = calibration.metrics
    f_move, f_cz = metrics.fidelity.get("move", {}), metrics.fidelity.get("cz", {})
    d_move, d_cz = metrics.duration.get("move", {}), metrics.duration.get("cz", {})
    index = calibration.qubit_index
    ranked: list[tuple[tuple[int, float, int, int], CZRoute]] = []
    for stay, mover in ((a, b), (b, a)):
        for resonator in czs.get(stay, set()) & moves.get(mover, set()):
            fm, fc = _metric(f_move, (mover, resonator), False), _metric(f_cz, (stay, resonator), True)
            dm, dc = _metric(d_move, (mover, resonator), False), _metric(d_cz, (stay, resonator), True)
            fidelity = None if fm is None or fc is None else fm * fm * fc
            duration = None if dm is None or dc is None else 2 * dm + dc
            key = (fidelity is None, -(fidelity or 0.0), index[stay], index[resonator])
            ranked.append((key, CZRoute(stay, mover, resonator, fidelity, duration)))
    ranked.sort(key=lambda item: item[0])
    return [route for _, route in ranked]


class DeviceView:
    """The compiler's view of one calibration (see the module docstring).

    Build one per calibration and keep it: plans and shortest paths are cached.

    Args:
        calibration: The calibration the view describes.

    Attributes:
        calibration: The calibration.
        qubits: Usable qubits (calibrated ``prx`` and ``measure``), in the calibration's order.
        resonators: Computational resonators (empty on lattice devices).
        couplings: Pairs of usable qubits that can take a CZ (directly or through a resonator), each pair once, the
            earlier qubit (calibration order) first, sorted.
    """

    def __init__(self, calibration: Calibration) -> None:
        cal = calibration
        self.calibration = cal
        prx = {locus[0] for locus in cal.loci("prx")}
        measured = {c for locus in cal.loci("measure") for c in locus}
        self.qubits: tuple[str, ...] = tuple(x for x in cal.qubits if x in prx and x in measured)
        self.resonators: tuple[str, ...] = cal.computational_resonators
        usable = frozenset(self.qubits)
        self._direct: frozenset[frozenset[str]] = frozenset(frozenset(locus) for locus in cal.loci("cz"))
        self.couplings: tuple[tuple[str, str], ...] = tuple(
            (a, b) for a, b in cal.coupling_graph() if a in usable and b in usable
        )
        neighbours: dict[str, list[str]] = {x: [] for x in self.qubits}
        for a, b in self.couplings:
            neighbours[a].append(b)
            neighbours[b].append(a)
        order = {x: i for i, x in enumerate(self.qubits)}
        self._neighbours: dict[str, tuple[str, ...]] = {
            x: tuple(sorted(nbrs, key=order.__getitem__)) for x, nbrs in neighbours.items()
        }
        self._coupled: frozenset[tuple[str, str]] = frozenset(
            p for a, b in self.couplings for p in ((a, b), (b, a))
        )  # fmt: skip
        self._plans: dict[tuple[str, str], tuple[Instruction, ...]] = {}
        self._routes: dict[frozenset[str], CZRoute | None] = {}
        self._parents: dict[str, dict[str, str | None]] = {}

    def __repr__(self) -> str:
        kind = f", resonators {list(self.resonators)}" if self.resonators else ""
        return f"<DeviceView {self.calibration.device or 'device'}: {len(self.qubits)} usable qubits{kind}>"

    # -- what is calibrated -----------------------------------------------------------------------------------------

    def calibrated(self, gate: str) -> tuple[str, ...]:
        """Qubits on which ``gate`` is calibrated on its own, in the calibration's order.

        For single-component operations (``prx``, ``cc_prx``) the qubit of each locus; for factorisable ones
        (``measure``, ``reset``) every qubit of every locus.
        """
        qubits = set(self.calibration.qubits)
        seen: dict[str, None] = {}
        for locus in self.calibration.loci(gate):
            for component in locus:
                if component in qubits:
                    seen.setdefault(component, None)
        index = self.calibration.qubit_index
        return tuple(sorted(seen, key=index.__getitem__))

    def is_direct(self, a: str, b: str) -> bool:
        """Whether ``cz`` is calibrated between ``a`` and ``b`` themselves (in either order)."""
        return frozenset((a, b)) in self._direct

    # -- the CZ plan ------------------------------------------------------------------------------------------------

    def cz_route(self, a: str, b: str) -> CZRoute | None:
        """How a CZ between qubits ``a`` and ``b`` is played: None for a calibrated CZ, else the chosen route.

        Raises:
            CalibrationError: the qubits have neither a calibrated CZ nor a shared resonator.
        """
        key = frozenset((a, b))
        if key in self._routes:
            return self._routes[key]
        if key in self._direct:
            route = None
        else:
            routes = cz_routes(self.calibration, a, b)
            if not routes:
                raise CalibrationError(
                    f"qubits {a} and {b} have no calibrated CZ and share no computational resonator on "
                    f"{self.calibration.device or 'the device'}"
                )
            route = routes[0]
        self._routes[key] = route
        return route

    def cz(self, a: str, b: str) -> tuple[Instruction, ...]:
        """The native instructions of a CZ between qubits ``a`` and ``b``: ``cz(a, b)``, or the MOVE sandwich.

        Raises:
            CalibrationError: the qubits can take no CZ.
        """
        plan = self._plans.get((a, b))
        if plan is None:
            route = self.cz_route(a, b)
            plan = (Instruction("cz", (a, b)),) if route is None else route.instructions()
            self._plans[(a, b)] = plan
        return plan

    def cz_fidelity(self, a: str, b: str) -> float | None:
        """Fidelity of the CZ between ``a`` and ``b`` as :meth:`cz` plays it (None if unknown).

        Raises:
            CalibrationError: the qubits can take no CZ.
        """
        route = self.cz_route(a, b)
        return self.calibration.fidelity("cz", (a, b)) if route is None else route.fidelity

    def cz_duration(self, a: str, b: str) -> float | None:
        """Duration in seconds of the CZ between ``a`` and ``b`` as :meth:`cz` plays it (None if unknown).

        Raises:
            CalibrationError: the qubits can take no CZ.
        """
        route = self.cz_route(a, b)
        return self.calibration.duration("cz", (a, b)) if route is None else route.duration

    # -- the routing graph ------------------------------------------------------------------------------------------

    def coupled(self, a: str, b: str) -> bool:
        """Whether usable qubits ``a`` and ``b`` can take a CZ without routing."""
        return (a, b) in self._coupled

    def neighbours(self, qubit: str) -> tuple[str, ...]:
        """The usable qubits ``qubit`` can take a CZ with, in the calibration's order (empty if not usable)."""
        return self._neighbours.get(qubit, ())

    def _tree(self, source: str) -> dict[str, str | None]:
        """Breadth-first tree of the routing graph from ``source``: qubit -> next qubit towards ``source``."""
        parents = self._parents.get(source)
        if parents is None:
            parents = {source: None}
            todo = deque([source])
            while todo:
                node = todo.popleft()
                for nxt in self._neighbours.get(node, ()):
                    if nxt not in parents:
                        parents[nxt] = node
                        todo.append(nxt)
            self._parents[source] = parents
        return parents

    def path(self, a: str, b: str) -> list[str]:
        """A shortest path of couplings from ``a`` to ``b``, both included (ties: earlier qubits first).

        Raises:
            CalibrationError: ``b`` cannot be reached from ``a``.
        """
        parents = self._tree(b)
        if a not in parents:
            raise CalibrationError(f"qubits {a} and {b} are not connected on {self.calibration.device or 'the QPU'}")
        out = [a]
        node = parents[a]
        while node is not None:
            out.append(node)
            node = parents[node]
        return out

    def distance(self, a: str, b: str) -> int:
        """Couplings on a shortest path from ``a`` to ``b`` (``10**6`` if ``b`` cannot be reached)."""
        parents = self._tree(b)
        if a not in parents:
            return _UNREACHABLE
        hops = 0
        node = parents[a]
        while node is not None:
            node = parents[node]
            hops += 1
        return hops
