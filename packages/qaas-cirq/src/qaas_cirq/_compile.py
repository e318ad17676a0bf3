"""Compilation of any Cirq circuit to a device's native gates: route first, then decompose, then place MOVEs.

1. **Prepare**: unroll subcircuits, decompose operations on three or more qubits into one- and two-qubit ones,
   rename ``NamedQid`` qubits that name device qubits to the device's ``NamedQubit``.
2. **Route** (only when needed: qubits that are not device qubits, or two-qubit gates off the coupling graph) with
   ``cirq.RouteCQC`` on the device's routing graph (on star devices: qubit pairs that can meet in a resonator);
   where RouteCQC itself fails (it raises untyped errors on some circuits), SWAPs along shortest paths instead.
   Routing comes *before* decomposition, so its SWAPs are decomposed like every other gate. Routing SWAPs that
   act only on qubits already measured and never used again are dropped (RouteCQC leaves some after terminal
   measurements).
3. **Decompose**, in one of two modes (:data:`CompileMode`):

   ``"default"``
       Resynthesis for the fewest gates: a CZ target gate set that merges every connected run of one- and
       two-qubit gates into one unitary and synthesises it again (so ``CZ·CZ·CZ`` becomes one ``CZ``), merges
       single-qubit runs into ``PhasedXPowGate`` + ``ZPowGate`` and pushes the Z rotations through CZs into later
       phases (``cirq.eject_z``); what is left of them becomes virtual at conversion.
   ``"faithful"``
       Gate by gate: every operation that is native stays as it is (``CZ**-1`` is the native ``CZ``), every other
       one becomes its own native decomposition (a single-qubit gate one ``PhasedXZGate``, a two-qubit gate its
       own CZ synthesis: ``CNOT`` one CZ, ``ISWAP`` two, ``SWAP`` three). Nothing is merged, cancelled or dropped,
       so the native circuit has exactly the gates the circuit asked for — what zero-noise extrapolation by gate
       folding, randomized benchmarking and any experiment whose gate counts are the point need. Z rotations stay
       virtual (they cost nothing either way).

4. **MOVE insertion** on star devices: a ``cz`` between two qubits that only meet in a resonator becomes the MOVE
   sandwich ``move(mover, R) · cz(stay, R) · move(mover, R)`` the core's device view chooses
   (:meth:`qaas_core.DeviceView.cz_route`: best calibrated fidelity, then calibration order — the same code every
   qaas front end emits for that CZ, whatever the operand order).

Routing and MOVE insertion are the same in both modes (routing SWAPs add three CZs each in either).
Measurement keys survive unchanged; the result carries the qubit mappings.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, get_args

import cirq
import networkx as nx  # type: ignore[import-untyped,unused-ignore]

import qaas_core as q
from qaas_cirq._convert import component_name, native_operation
from qaas_cirq._errors import ConversionError
from qaas_cirq._gates import MoveGate

if TYPE_CHECKING:
    from qaas_cirq._device import QaaSDevice

__all__ = ["COMPILE_MODES", "CompileMode", "CompiledCircuit", "check_mode", "compile_circuit"]

CompileMode = Literal["default", "faithful"]
"""How :meth:`QaaSDevice.compile` decomposes: ``"default"`` resynthesises for the fewest gates, ``"faithful"`` maps
gate by gate (see :mod:`qaas_cirq._compile`)."""

COMPILE_MODES: Final[tuple[str, ...]] = get_args(CompileMode)

_KEEP: Final = "qaas_cirq.keep"  # tag: operations the decomposition must leave alone (MOVE)
_USER_SWAP: Final = "qaas_cirq.user_swap"  # tag: SWAPs written by the user (not inserted by the router)
_MOVE: Final = MoveGate()
logger = logging.getLogger(__name__)


class CompiledCircuit(NamedTuple):
    """A circuit compiled for a device.

    Attributes:
        circuit: The native circuit on device qubits (run it, or convert it).
        initial_mapping: Original qubit -> device qubit at the start of the circuit.
        final_mapping: Original qubit -> device qubit holding its state at the end (after routing SWAPs).
    """

    circuit: cirq.Circuit
    initial_mapping: dict[cirq.Qid, cirq.Qid]
    final_mapping: dict[cirq.Qid, cirq.Qid]


def _target_gateset() -> cirq.CompilationTargetGateset:
    return cirq.CZTargetGateset(additional_gates=[cirq.ResetChannel, cirq.WaitGate, MoveGate])


def _is_two_qubit_gate(op: cirq.Operation) -> bool:
    return len(op.qubits) == 2 and not cirq.is_measurement(op) and not isinstance(op.gate, cirq.WaitGate)


def _fits(circuit: cirq.AbstractCircuit, device: QaaSDevice) -> bool:
    """Whether the circuit already sits on device qubits with every two-qubit gate on the routing graph."""
    components = device.component_set
    graph = device.routing_graph
    for op in circuit.all_operations():
        if any(qid not in components for qid in op.qubits):
            return False
        if _is_two_qubit_gate(op) and not isinstance(op.untagged.gate, MoveGate):
            a, b = op.qubits
            if not graph.has_edge(a, b):
                return False
    return True


def _rename_named_qids(circuit: cirq.Circuit, device: QaaSDevice) -> cirq.Circuit:
    by_name = {component_name(c): c for c in device.components}
    renames: dict[cirq.Qid, cirq.Qid] = {}
    for qid in circuit.all_qubits():
        if isinstance(qid, cirq.NamedQid) and qid.dimension == 2 and qid not in device.component_set:
            target = by_name.get(qid.name)
            if target is not None:
                renames[qid] = target
    if not renames:
        return circuit
    return circuit.transform_qubits(lambda qid: renames.get(qid, qid))


def _prepare(circuit: cirq.AbstractCircuit, device: QaaSDevice) -> cirq.Circuit:
    flat = cirq.unroll_circuit_op(circuit.unfreeze(), deep=True, tags_to_check=None)
    flat = cirq.expand_composite(
        flat, no_decomp=lambda op: len(op.qubits) <= 2 or cirq.is_measurement(op) or isinstance(op.gate, cirq.WaitGate)
    )
    for mi, moment in enumerate(flat):
        for op in moment:
            if len(op.qubits) > 2 and not cirq.is_measurement(op) and not isinstance(op.gate, cirq.WaitGate):
                raise ConversionError("cannot decompose this operation into one- and two-qubit gates", moment=mi,
                                      operation=op)  # fmt: skip
    return _rename_named_qids(flat.unfreeze(copy=False), device)


def _tag(circuit: cirq.Circuit) -> cirq.Circuit:
    def tag(op: cirq.Operation) -> cirq.Operation:
        if isinstance(op.untagged.gate, MoveGate):
            return op.with_tags(_KEEP)
        if op.gate == cirq.SWAP:
            return op.with_tags(_USER_SWAP)
        return op

    return circuit.map_operations(tag)


def _untag(circuit: cirq.AbstractCircuit) -> cirq.Circuit:
    def untag(op: cirq.Operation) -> cirq.Operation:
        tags = set(op.tags) & {_KEEP, _USER_SWAP}
        return op.untagged.with_tags(*(t for t in op.tags if t not in tags)) if tags else op

    return cirq.Circuit(circuit.map_operations(untag))


def _route(
    circuit: cirq.Circuit,
    device: QaaSDevice,
    initial_mapper: cirq.AbstractInitialMapper | None,
    qubit_subset: Iterable[cirq.Qid] | None,
) -> tuple[cirq.Circuit, dict[cirq.Qid, cirq.Qid], dict[cirq.Qid, cirq.Qid]]:
    resonators = set(device.resonators)
    for mi, moment in enumerate(circuit):
        for op in moment:
            if resonators & set(op.qubits):
                raise ConversionError(
                    "a circuit that addresses resonators directly cannot be routed; place it yourself and compile "
                    "with route=False",
                    moment=mi,
                    operation=op,
                )
    graph: nx.Graph = device.routing_graph
    if qubit_subset is not None:
        subset = set(qubit_subset)
        unknown = subset - set(graph.nodes)
        if unknown:
            raise ConversionError(f"qubit_subset names qubits that are not on the device: {sorted(map(str, unknown))}")
        graph = graph.subgraph(subset).copy()
    if len(circuit.all_qubits()) > graph.number_of_nodes():
        raise ConversionError(
            f"the circuit uses {len(circuit.all_qubits())} qubits; the device offers {graph.number_of_nodes()}"
        )
    if not nx.is_connected(graph):
        raise ConversionError("the routing graph (device or qubit_subset) is not connected")
    if initial_mapper is None and _controlled_ops(circuit):
        # RouteCQC may move a classically controlled gate ahead of the measurement it reads: place instead
        placed = _place(circuit, graph)
        if placed is None:
            raise ConversionError(
                "this circuit has classically controlled operations and needs SWAP routing, which would reorder them "
                "around their measurements; place its qubits on coupled device qubits and compile with route=False"
            )
        return placed
    try:
        routed, initial, swaps = cirq.RouteCQC(graph).route_circuit(circuit, initial_mapper=initial_mapper)
    except Exception as exc:
        if initial_mapper is not None:
            raise ConversionError(f"routing with the given initial mapper failed ({type(exc).__name__}: {exc}); "
                                  "leave initial_mapper unset to let qaas choose a placement") from exc  # fmt: skip
        logger.info("cirq.RouteCQC failed (%s: %s); routing along shortest paths instead", type(exc).__name__, exc)
        routed, initial = _route_along_paths(circuit, graph)
    else:
        routed = cirq.Circuit(routed)
        del swaps  # recomputed in _drop_dead_swaps from the SWAPs kept
    routed, final = _drop_dead_swaps(routed, initial)
    return routed, initial, final


def _route_along_paths(circuit: cirq.Circuit, graph: nx.Graph) -> tuple[cirq.Circuit, dict[cirq.Qid, cirq.Qid]]:
    """The fallback when ``cirq.RouteCQC`` fails: operations in order, each two-qubit gate between qubits that are not
    coupled preceded by SWAPs that carry its first qubit along a shortest path to the second. The qubits start on a
    breadth-first region around the best-connected device qubit, busiest logical qubit first."""
    logical = sorted(circuit.all_qubits())
    degree: dict[cirq.Qid, int] = dict.fromkeys(logical, 0)
    for op in circuit.all_operations():
        if len(op.qubits) == 2:
            for qid in op.qubits:
                degree[qid] += 1
    hub = max(sorted(graph.nodes), key=graph.degree)
    region = list(nx.bfs_tree(graph, hub))[: len(logical)]
    initial = dict(zip(sorted(logical, key=lambda qid: -degree[qid]), region, strict=True))
    where = dict(initial)
    who = {p: lq for lq, p in where.items()}
    ops: list[cirq.Operation] = []
    for op in circuit.all_operations():
        if len(op.qubits) == 2 and not graph.has_edge(where[op.qubits[0]], where[op.qubits[1]]):
            path = nx.shortest_path(graph, where[op.qubits[0]], where[op.qubits[1]])
            for here, nxt in itertools.pairwise(path[:-1]):
                ops.append(cirq.SWAP(here, nxt))
                a, b = who.pop(here, None), who.pop(nxt, None)
                if a is not None:
                    where[a], who[nxt] = nxt, a
                if b is not None:
                    where[b], who[here] = here, b
        ops.append(op.transform_qubits(where.__getitem__))
    return cirq.Circuit(ops), initial


def _is_controlled(op: cirq.Operation) -> bool:
    return isinstance(op.untagged, cirq.ClassicallyControlledOperation)


def _controlled_ops(circuit: cirq.Circuit) -> list[cirq.Operation]:
    """Classically controlled operations (the ones RouteCQC may move ahead of their measurement)."""
    return [op for op in circuit.all_operations() if _is_controlled(op)]


def _place(
    circuit: cirq.Circuit, graph: nx.Graph
) -> tuple[cirq.Circuit, dict[cirq.Qid, cirq.Qid], dict[cirq.Qid, cirq.Qid]] | None:
    """An injective placement of the circuit's qubits on device qubits with every interaction on an edge, or None."""
    interactions = nx.Graph()
    interactions.add_nodes_from(circuit.all_qubits())
    for op in circuit.all_operations():
        if len(op.qubits) == 2:
            interactions.add_edge(*op.qubits)
    matcher = nx.algorithms.isomorphism.GraphMatcher(graph, interactions)
    found = next(matcher.subgraph_monomorphisms_iter(), None)
    if found is None:
        return None
    mapping: dict[cirq.Qid, cirq.Qid] = {logical: physical for physical, logical in found.items()}
    return circuit.transform_qubits(mapping.__getitem__), dict(mapping), dict(mapping)


def _drop_dead_swaps(
    circuit: cirq.Circuit, initial: dict[cirq.Qid, cirq.Qid]
) -> tuple[cirq.Circuit, dict[cirq.Qid, cirq.Qid]]:
    """Remove routing SWAPs on qubits that were measured and are not used afterwards; compute the final mapping."""
    ops = [(mi, op) for mi, moment in enumerate(circuit) for op in moment]

    def routing_swap(op: cirq.Operation) -> bool:
        return op.gate == cirq.SWAP and _USER_SWAP not in op.tags

    measured: set[cirq.Qid] = set()
    after_measure: list[bool] = []
    for _, op in ops:
        after_measure.append(routing_swap(op) and all(qid in measured for qid in op.qubits))
        if cirq.is_measurement(op):
            measured.update(op.qubits)
    live: set[cirq.Qid] = set()  # qubits whose content is still needed (backwards: swaps exchange liveness)
    dropped: set[int] = set()
    for index in range(len(ops) - 1, -1, -1):
        op = ops[index][1]
        if after_measure[index] and not live.intersection(op.qubits):
            dropped.add(index)
        elif op.gate == cirq.SWAP:
            a, b = op.qubits
            a_live, b_live = a in live, b in live
            live.discard(a)
            live.discard(b)
            live.update([x for x, needed in ((a, b_live), (b, a_live)) if needed])
        else:
            live.update(op.qubits)
    at: dict[cirq.Qid, cirq.Qid] = {phys: logical for logical, phys in initial.items()}
    for index, (_, op) in enumerate(ops):
        if index not in dropped and routing_swap(op):
            a, b = op.qubits
            la, lb = at.pop(a, None), at.pop(b, None)
            if la is not None:
                at[b] = la
            if lb is not None:
                at[a] = lb
    final = {logical: phys for phys, logical in at.items()}
    if not dropped:
        return circuit, final
    moments: list[list[cirq.Operation]] = [[] for _ in circuit]
    for index, (mi, op) in enumerate(ops):
        if index not in dropped:
            moments[mi].append(op)
    return cirq.Circuit(cirq.Moment(m) for m in moments if m), final


def check_mode(mode: object) -> CompileMode:
    """``mode`` if it is a compile mode.

    Raises:
        ValidationError: it is not.
    """
    if mode not in COMPILE_MODES:
        raise q.ValidationError(f"unknown compile mode {mode!r}; choose one of {', '.join(map(repr, COMPILE_MODES))}")
    return mode  # type: ignore[return-value]


def _is_native(op: cirq.Operation) -> bool:
    try:
        native_operation(op)
    except ConversionError:
        return False
    return True


def _decompose_faithfully(circuit: cirq.Circuit) -> cirq.Circuit:
    """Each operation to its own native decomposition; native ones stay, nothing is merged, cancelled or dropped."""
    gateset = _target_gateset()

    def one(op: cirq.Operation, moment: int) -> cirq.OP_TREE:
        if _is_native(op):
            return op
        ops = cirq.decompose(
            op,
            intercepting_decomposer=lambda o: gateset.decompose_to_target_gateset(o, moment),
            keep=_is_native,
            on_stuck_raise=None,
        )
        stuck = next((o for o in ops if not _is_native(o)), None)
        if stuck is not None:
            raise ConversionError(f"cannot decompose {stuck!r} into native gates", moment=moment, operation=op)
        return ops

    out = cirq.map_operations_and_unroll(circuit, one, tags_to_ignore=(_KEEP,))
    return cirq.drop_empty_moments(out).unfreeze(copy=False)


def _decompose(circuit: cirq.Circuit) -> cirq.Circuit:
    context = cirq.TransformerContext(tags_to_ignore=(_KEEP,))
    out = cirq.optimize_for_target_gateset(circuit, gateset=_target_gateset(), context=context)
    out = cirq.merge_single_qubit_gates_to_phased_x_and_z(out, context=context)
    out = cirq.eject_z(out, context=context)
    out = cirq.drop_negligible_operations(out, context=context)
    return cirq.drop_empty_moments(out, context=context).unfreeze(copy=False)


def _insert_moves(circuit: cirq.Circuit, device: QaaSDevice) -> cirq.Circuit:
    """Replace each CZ between qubits that only meet in a resonator by the device view's MOVE sandwich."""
    if not device.resonators:
        return circuit
    view = device.view
    ops: list[cirq.Operation] = []
    changed = False
    for mi, moment in enumerate(circuit):
        for op in moment:
            if op.gate == cirq.CZ and len(op.qubits) == 2:
                na, nb = (component_name(qid) for qid in op.qubits)
                try:
                    route = view.cz_route(na, nb)
                except q.CalibrationError as exc:
                    raise ConversionError(f"{na} and {nb} share no resonator", moment=mi, operation=op) from exc
                if route is not None:
                    stay, mover, res = (device.component(c) for c in (route.stay, route.mover, route.resonator))
                    ops += [_MOVE(mover, res), cirq.CZ(stay, res), _MOVE(mover, res)]
                    changed = True
                    continue
            ops.append(op)
    return cirq.Circuit(ops) if changed else circuit


def compile_circuit(
    device: QaaSDevice,
    circuit: cirq.AbstractCircuit,
    *,
    mode: CompileMode = "default",
    route: bool | None = None,
    initial_mapper: cirq.AbstractInitialMapper | None = None,
    qubit_subset: Iterable[cirq.Qid] | None = None,
) -> CompiledCircuit:
    """Compile ``circuit`` for ``device``: the steps of the module docstring; arguments, result and errors as for
    :meth:`QaaSDevice.compile` (``route=None`` routes only when needed)."""
    faithful = check_mode(mode) == "faithful"
    prepared = _tag(_prepare(circuit, device))
    if route is None:
        route = initial_mapper is not None or qubit_subset is not None or not _fits(prepared, device)
    if route:
        routed, initial, final = _route(prepared, device, initial_mapper, qubit_subset)
    else:
        unknown = sorted(str(qid) for qid in prepared.all_qubits() if qid not in device.component_set)
        if unknown:
            raise ConversionError(f"qubits {unknown} are not on the device; compile with routing (route=None)")
        routed = prepared
        initial = final = {qid: qid for qid in prepared.all_qubits()}
    native = _insert_moves(_decompose_faithfully(routed) if faithful else _decompose(routed), device)
    return CompiledCircuit(_untag(native), dict(initial), dict(final))
