"""QaaSDevice: a ``cirq.Device`` built from a qaas calibration (qubits, couplings, native gates, validation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import cirq
import networkx as nx  # type: ignore[import-untyped,unused-ignore]

import qaas_core as q
from qaas_cirq._compile import CompiledCircuit, CompileMode, compile_circuit
from qaas_cirq._convert import NotTemplatable, Slot, instructions_of, native_operation, walk
from qaas_cirq._errors import ConversionError
from qaas_cirq._gates import MoveGate

__all__ = ["QaaSDevice"]

MoveGateValidation = Literal["strict", "allow_prx", "none"]

_NATIVE_GATES: Final = cirq.Gateset(
    cirq.PhasedXPowGate,
    cirq.XPowGate,
    cirq.YPowGate,
    cirq.ZPowGate,
    cirq.PhasedXZGate,
    cirq.CZ,
    cirq.MeasurementGate,
    cirq.ResetChannel,
    MoveGate,
    cirq.WaitGate,
    cirq.IdentityGate,
    cirq.GlobalPhaseGate,
    name="IQM native gates (Z rotations are virtual)",
    unroll_circuit_op=False,
)


class QaaSDevice(cirq.Device):
    """An IQM quantum computer as Cirq sees it, built from a :class:`qaas_core.Calibration`.

    Qubits are ``cirq.NamedQubit("QB1")`` …; computational resonators of star devices are
    ``cirq.NamedQid("CR1", dimension=2)`` — a different type, so a resonator can never be mistaken for a qubit,
    and Cirq's simulators still treat it as a two-level system. ``metadata.nx_graph`` is the physical connectivity
    (CZ and MOVE loci, resonators included); :attr:`routing_graph` is the qubit graph used for routing: the usable
    qubits and couplings of the core's device view (:attr:`view`), where on star devices two qubits are coupled when
    they can meet in a resonator.

    Native operations (see :mod:`qaas_cirq._convert`): PhasedX / X / Y rotations (``prx``), Z rotations (virtual),
    ``PhasedXZGate``, ``CZ``, measurement, reset, :class:`~qaas_cirq.MoveGate`, ``WaitGate`` and classically
    controlled X / Y / PhasedX (``cc_prx``).

    Args:
        calibration: The calibration the device describes.
        move_gate_validation: MOVE sandwich rule used by :meth:`validate_circuit` (``strict``, ``allow_prx`` or
            ``none``), as the server will apply it.
    """

    def __init__(self, calibration: q.Calibration, *, move_gate_validation: MoveGateValidation = "strict") -> None:
        self._calibration = calibration
        self.move_gate_validation = move_gate_validation
        self._qubits = tuple(cirq.NamedQubit(n) for n in calibration.qubits)
        self._resonators = tuple(cirq.NamedQid(n, dimension=2) for n in calibration.computational_resonators)
        self._by_name: dict[str, cirq.Qid] = {cirq_name(c): c for c in (*self._qubits, *self._resonators)}
        self.component_set: frozenset[cirq.Qid] = frozenset(self._by_name.values())
        physical = nx.Graph()
        physical.add_nodes_from(self._by_name.values())
        for gate in ("cz", "move"):
            for a, b in calibration.loci(gate):
                physical.add_edge(self._by_name[a], self._by_name[b])
        self._metadata = cirq.DeviceMetadata(self._by_name.values(), physical)
        self._view = q.DeviceView(calibration)
        routing = nx.Graph()
        routing.add_nodes_from(self._by_name[x] for x in self._view.qubits)
        routing.add_edges_from((self._by_name[a], self._by_name[b]) for a, b in self._view.couplings)
        self._routing_graph = nx.freeze(routing)
        self._loci = {gate: frozenset(calibration.loci(gate)) for gate in calibration.gates}
        self._singles = {gate: frozenset(c for locus in loci for c in locus) for gate, loci in self._loci.items()}

    @classmethod
    def from_profile(cls, name: str, *, move_gate_validation: MoveGateValidation = "strict") -> QaaSDevice:
        """The device of one of qaas's built-in profiles (``garnet20``, ``deneb6`` …, see ``qaas_core.PROFILES``).

        Raises:
            ConfigurationError: unknown profile.
        """
        return cls(q.load_profile(name), move_gate_validation=move_gate_validation)

    # -- description ----------------------------------------------------------------------------------------------

    @property
    def calibration(self) -> q.Calibration:
        """The calibration this device was built from."""
        return self._calibration

    @property
    def view(self) -> q.DeviceView:
        """The core's view of the calibration: usable qubits, couplings, and how a CZ is played (MOVE sandwiches)."""
        return self._view

    @property
    def calibration_set_id(self) -> str:
        """The IQM calibration set id."""
        return self._calibration.calibration_set_id

    @property
    def qubits(self) -> tuple[cirq.NamedQubit, ...]:
        """The qubits, in the server's order."""
        return self._qubits

    @property
    def resonators(self) -> tuple[cirq.NamedQid, ...]:
        """The computational resonators (empty on lattice devices)."""
        return self._resonators

    @property
    def components(self) -> tuple[cirq.Qid, ...]:
        """Qubits, then resonators."""
        return (*self._qubits, *self._resonators)

    def component(self, name: str) -> cirq.Qid:
        """The qubit or resonator called ``name``.

        Raises:
            ConversionError: no such component.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise ConversionError(f"the device has no component {name!r}") from None

    @property
    def metadata(self) -> cirq.DeviceMetadata:
        """Components and their physical connectivity (CZ and MOVE loci)."""
        return self._metadata

    @property
    def routing_graph(self) -> nx.Graph:
        """Qubits that can take a CZ with each other (directly or through a resonator); frozen."""
        return self._routing_graph

    @property
    def gateset(self) -> cirq.Gateset:
        """The native gate families (classically controlled X/Y/PhasedX are native too)."""
        return _NATIVE_GATES

    def __repr__(self) -> str:
        kind = f", resonators {[r.name for r in self._resonators]}" if self._resonators else ""
        return (f"<QaaSDevice {self._calibration.device or 'device'} {self.calibration_set_id}: "
                f"{len(self._qubits)} qubits{kind}>")  # fmt: skip

    # -- validation -----------------------------------------------------------------------------------------------

    def validate_operation(self, operation: cirq.Operation) -> None:
        """Check that ``operation`` is native and calibrated on its qubits.

        Raises:
            ConversionError: (a ``ValueError`` too) it is not.
        """
        name = native_operation(operation)
        if not name:
            return
        for qid in operation.qubits:
            if qid not in self.component_set:
                raise ConversionError(f"{qid!r} is not a component of this device", operation=operation)
        locus = tuple(cirq_name(qid) for qid in operation.qubits)
        if name == "delay":
            return
        loci = self._loci.get(name)
        if loci is None:
            raise ConversionError(f"{name} is not calibrated on this device", operation=operation)
        if name in ("measure", "reset"):
            missing = [c for c in locus if c not in self._singles[name]]
            if missing:
                raise ConversionError(f"{name} is not calibrated on {missing}", operation=operation)
        elif locus not in loci and not (name == "cz" and locus[::-1] in loci):
            raise ConversionError(f"{name} is not calibrated on {locus}", operation=operation)

    def validate_circuit(self, circuit: cirq.AbstractCircuit) -> None:
        """Check the whole circuit as the server will: native operations on calibrated loci, measurement keys,
        classical controls after their measurement, MOVE sandwiches.

        Raises:
            ConversionError: the first problem, naming the moment and the operation.
        """
        origins: list[tuple[int, cirq.Operation]] = []
        try:
            result = walk(circuit, symbolic=True, origins=origins)
        except NotTemplatable:  # a symbol where only resolution can tell (e.g. a symbolic CZ power): check per op
            super().validate_circuit(circuit)
            return
        if result.items:
            self.validate_instructions(result.items, origins)

    def validate_instructions(
        self, items: Iterable[q.Instruction | Slot], origins: list[tuple[int, cirq.Operation]] | None = None
    ) -> None:
        """Check converted instructions against the calibration, reporting problems on the Cirq operations.

        Raises:
            ConversionError: the first problem found.
        """
        try:
            q.validate_circuits(
                [q.Circuit("cirq", instructions_of(items))],
                self._calibration,
                move_gate_validation=self.move_gate_validation,
            )
        except q.CircuitError as exc:
            if origins is not None and exc.index is not None and exc.index < len(origins):
                moment, op = origins[exc.index]
                raise ConversionError(exc.reason, moment=moment, operation=op) from exc
            raise ConversionError(exc.reason) from exc

    # -- compilation ----------------------------------------------------------------------------------------------

    def compile(
        self,
        circuit: cirq.AbstractCircuit,
        *,
        mode: CompileMode = "default",
        route: bool | None = None,
        initial_mapper: cirq.AbstractInitialMapper | None = None,
        qubit_subset: Iterable[cirq.Qid] | None = None,
    ) -> CompiledCircuit:
        """Route and decompose ``circuit`` to this device's native gates (see :mod:`qaas_cirq._compile`).

        Two modes decide how gates become native; routing and MOVE insertion are the same in both:

        * ``"default"`` resynthesises for the fewest gates: runs of one- and two-qubit gates are merged and
          synthesised again, so gates that cancel disappear (``CZ·CZ·CZ`` becomes one ``CZ``). Best for running
          algorithms.
        * ``"faithful"`` maps gate by gate: native gates stay, every other gate becomes its own native
          decomposition, and nothing is merged, cancelled or dropped (``CZ·CZ·CZ`` stays three ``CZ``). Use it
          whenever the gate count is the point: zero-noise extrapolation by gate folding (mitiq), randomized
          benchmarking, echo and decay sequences, any experiment that repeats gates on purpose. The default mode
          would silently undo them.

        Args:
            circuit: Any circuit of one- and two-qubit gates (larger ones are decomposed), measurements, resets
                and classically controlled rotations.
            mode: ``"default"`` or ``"faithful"`` (above).
            route: True to always route, False never, None when needed.
            initial_mapper: Initial placement for ``cirq.RouteCQC``.
            qubit_subset: Device qubits to route onto.

        Returns:
            The native circuit with the initial and final qubit mappings.

        Raises:
            ConversionError: routing or decomposition is impossible.
            ValidationError: unknown ``mode``.
        """
        return compile_circuit(
            self, circuit, mode=mode, route=route, initial_mapper=initial_mapper, qubit_subset=qubit_subset
        )


def cirq_name(qid: cirq.Qid) -> str:
    """Name of a device component."""
    return str(qid.name)  # type: ignore[attr-defined]
