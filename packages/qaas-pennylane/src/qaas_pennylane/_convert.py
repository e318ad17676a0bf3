"""PennyLane tape → IQM transfer format (:class:`qaas_core.Circuit`).

The input is a tape that went through the device's preprocessing: single-qubit gates (any that have a 2×2
matrix), ``CZ``, ``CNOT``, ``SWAP``, ``Barrier``, mid-circuit measurements and single-qubit ``qml.cond`` operations,
with every measurement in the computational basis.

How it becomes native operations:

* **Single-qubit gates** on a qubit are multiplied into one pending 2×2 unitary, which is emitted (when a
  two-qubit gate, a measurement or a barrier needs the qubit) as at most one ``prx`` plus a *virtual* Z rotation.
  The IQM format has no ``rz``: each qubit carries a Z frame ``z`` (a :class:`qaas_core.Frames`; the logical state
  is ``RZ(z)`` applied to the physical one). The pending unitary ``RZ(λ)·PRX(θ, φ)`` is played as
  ``PRX(θ, φ − z)`` and its ``RZ(λ)`` joins the frame, since ``PRX(θ, φ)·RZ(z) = RZ(z)·PRX(θ, φ − z)`` — frame
  arithmetic on angles, as in every other qaas front end, so the phases are the same numbers. ``cz`` commutes with the
  frames, and a measurement in the Z basis ignores them.
* **CZ** between coupled qubits is the core device view's plan (:meth:`qaas_core.DeviceView.cz`): a ``cz``, or on
  star devices the MOVE sandwich of the best route — the code every qaas front end emits for that CZ. Between
  uncoupled qubits, one operand is carried along a shortest path of the view's routing graph with SWAPs first (three
  CNOTs, two when the target qubit was never used).
  **CNOT** is ``H·CZ·H`` on the target; the Hadamards merge into the neighbouring single-qubit gates.
* **SWAP** is free: it relabels which physical qubit holds which wire.
* **Mid-circuit measurements** are ``measure`` instructions with their own key; ``reset=True`` adds a ``cc_prx``
  flip conditioned on the outcome. A ``qml.cond`` on one measurement becomes ``cc_prx`` pulses by the core's one
  construction (:func:`qaas_core.conditioned`: ``cc_prx(θ, φ − z)`` for ``U = RZ(λ)·PRX(θ, φ)`` and, for the
  ``RZ(λ)`` that a frame cannot absorb in only one branch, two conditioned π pulses). A condition
  on outcome 0 applies ``U`` and then ``U†`` if the outcome was 1.
* The wires the tape measures are read by one final ``measure`` under the key :data:`MEASURE_KEY`, in the order
  of :attr:`Conversion.measured`; trailing single-qubit gates on qubits that are not measured are dropped.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from pennylane.ops import Conditional, MidMeasure

import qaas_core as q
from qaas_pennylane._errors import QaasDeviceError
from qaas_pennylane._layout import Topology, choose_layout

__all__ = [
    "MEASURE_KEY",
    "Conversion",
    "Converter",
    "interaction_graph",
    "matrix_2x2",
    "mcm_key",
    "measured_wires",
]

MEASURE_KEY: Final = "m"
"""Measurement key of the final measurement of every converted circuit."""

Mat = tuple[complex, complex, complex, complex]
"""A 2×2 matrix, row-major."""

_EPS: Final = 1e-10
_R2: Final = 1 / math.sqrt(2)
_I2: Final[Mat] = (1, 0, 0, 1)
_H: Final[Mat] = (_R2, _R2, _R2, -_R2)
_X: Final[Mat] = (0, 1, 1, 0)
_LAYOUT_CACHE: Final = 1024


def mcm_key(index: int) -> str:
    """Measurement key of the ``index``-th mid-circuit measurement of a circuit."""
    return f"mcm{index}"


def _feedback_key(index: int) -> str:
    return f"fb{index}"


# -- 2x2 matrices ---------------------------------------------------------------------------------------------


def _mul(a: Mat, b: Mat) -> Mat:
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
    )


def _dagger(m: Mat) -> Mat:
    return (m[0].conjugate(), m[2].conjugate(), m[1].conjugate(), m[3].conjugate())


def _rx(t: float) -> Mat:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return (c, -1j * s, -1j * s, c)


def _ry(t: float) -> Mat:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return (c, -s, s, c)


def _rz(t: float) -> Mat:
    return (cmath.exp(-0.5j * t), 0, 0, cmath.exp(0.5j * t))


def _phase(p: float) -> Mat:
    return (1, 0, 0, cmath.exp(1j * p))


def _rot(phi: float, theta: float, omega: float) -> Mat:
    return _mul(_rz(omega), _mul(_ry(theta), _rz(phi)))


def _u3(theta: float, phi: float, delta: float) -> Mat:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return (c, -cmath.exp(1j * delta) * s, cmath.exp(1j * phi) * s, cmath.exp(1j * (phi + delta)) * c)


def _u2(phi: float, delta: float) -> Mat:
    return _u3(math.pi / 2, phi, delta)


_FIXED: Final[dict[str, Mat]] = {
    "Identity": _I2,
    "PauliX": _X,
    "PauliY": (0, -1j, 1j, 0),
    "PauliZ": (1, 0, 0, -1),
    "Hadamard": _H,
    "S": (1, 0, 0, 1j),
    "T": (1, 0, 0, cmath.exp(0.25j * math.pi)),
    "SX": (0.5 + 0.5j, 0.5 - 0.5j, 0.5 - 0.5j, 0.5 + 0.5j),
}
_PARAMETRIC: Final[dict[str, Callable[..., Mat]]] = {
    "RX": _rx,
    "RY": _ry,
    "RZ": _rz,
    "PhaseShift": _phase,
    "U1": _phase,
    "U2": _u2,
    "U3": _u3,
    "Rot": _rot,
}


def matrix_2x2(op: Any) -> Mat:
    """The 2×2 matrix of a single-qubit operation (closed forms for the common gates, else ``op.matrix()``).

    Raises:
        QaasDeviceError: the operation has no 2×2 matrix (broadcast parameters, or not a single-qubit gate).
    """
    name = op.name
    fixed = _FIXED.get(name)
    if fixed is not None:
        return fixed
    fn = _PARAMETRIC.get(name)
    if fn is not None:
        try:
            return fn(*(float(p) for p in op.data))
        except TypeError as exc:
            raise QaasDeviceError(f"{op!r}: parameters must be real numbers (got {op.data!r})") from exc
    if name.startswith("Adjoint("):
        return _dagger(matrix_2x2(op.base))
    try:
        mat = np.asarray(op.matrix(), dtype=complex)
    except Exception as exc:  # PennyLane raises several types for "no matrix"
        raise QaasDeviceError(f"{op!r} has no matrix the device can play") from exc
    if mat.shape != (2, 2):
        raise QaasDeviceError(f"{op!r} is not a single-qubit gate with a 2x2 matrix (shape {mat.shape})")
    return (complex(mat[0, 0]), complex(mat[0, 1]), complex(mat[1, 0]), complex(mat[1, 1]))


_Z_FIXED: Final[dict[str, float]] = {"PauliZ": math.pi, "S": math.pi / 2, "T": math.pi / 4}
_Z_PARAMETRIC: Final = frozenset({"RZ", "PhaseShift", "U1"})


def z_angle(op: Any) -> float | None:
    """``λ`` if ``op`` is ``RZ(λ)`` up to a global phase (``RZ``, ``PhaseShift``, ``U1``, ``Z``, ``S``, ``T`` and their
    adjoints), else None: such a gate on a qubit with nothing pending is a pure frame change, exact in angles."""
    name = op.name
    if name in _Z_FIXED:
        return _Z_FIXED[name]
    if name in _Z_PARAMETRIC:
        try:
            return float(op.data[0])
        except TypeError:
            return None  # broadcast or symbolic: matrix_2x2 reports it
    if name.startswith("Adjoint("):
        inner = z_angle(op.base)
        return None if inner is None else -inner
    return None


def _arg(z: complex) -> float:
    return math.atan2(z.imag, z.real)


def _as_prx(m: Mat) -> tuple[float, float, float]:
    """``(θ, φ, λ)`` with ``m ∝ RZ(λ)·PRX(θ, φ)``; θ is 0 when ``m`` is diagonal.

    From the Euler form ``m ∝ RZ(α)·RY(θ)·RZ(γ) = RZ(α + γ)·PRX(θ, π/2 − γ)``. With ``m`` scaled into SU(2),
    ``m[1][0] = e^{i(α−γ)/2} sin(θ/2)`` and ``m[1][1] = e^{i(α+γ)/2} cos(θ/2)``, which fixes ``γ`` modulo 2π.
    """
    a, b, c, d = m
    root = cmath.sqrt(a * d - b * c)
    c, d = c / root, d / root
    rc, rd = abs(c), abs(d)
    if rc < _EPS * max(rd, 1.0):
        return 0.0, 0.0, q.wrap_phase(2 * _arg(d))
    theta = 2 * math.atan2(rc, rd)
    if rd < _EPS * rc:  # θ = π: only α − γ matters; take α + γ = 0
        gamma = -_arg(c)
        total = 0.0
    else:
        gamma = _arg(d) - _arg(c)
        total = 2 * _arg(d)
    return theta, q.wrap_phase(math.pi / 2 - gamma), q.wrap_phase(total)


# -- the native instruction stream ----------------------------------------------------------------------------


class _Emitter:
    """Native instructions on physical qubits, with pending single-qubit unitaries and virtual Z frames."""

    __slots__ = ("frames", "out", "pending", "topology", "touched")

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.out: list[q.Instruction] = []
        self.frames = q.Frames()
        self.pending: dict[str, Mat] = {}
        self.touched: set[str] = set()

    def rotate(self, qubit: str, angle: float) -> None:
        """``RZ(angle)``: into the frame when nothing is pending on ``qubit`` (exact), else queued like any gate."""
        if qubit in self.pending:
            self.apply(qubit, _rz(angle))
        else:
            self.frames.rotate(qubit, angle)
            self.touched.add(qubit)

    def apply(self, qubit: str, m: Mat) -> None:
        """Queue a single-qubit unitary (applied after everything queued before)."""
        current = self.pending.get(qubit)
        self.pending[qubit] = m if current is None else _mul(m, current)
        self.touched.add(qubit)

    def _in_frame(self, qubit: str, m: Mat) -> tuple[float, float, float]:
        """``(θ, φ − z, λ)`` for ``m = RZ(λ)·PRX(θ, φ)``: ``m·RZ(z) = RZ(z)·RZ(λ)·PRX(θ, φ − z)``."""
        theta, phase, lam = _as_prx(m)
        return theta, self.frames.phase(qubit, phase), lam

    def flush(self, qubit: str) -> None:
        """Play the pending unitary of ``qubit``: at most one ``prx``, the rest goes into its frame."""
        m = self.pending.pop(qubit, None)
        if m is None:
            return
        theta, phase, lam = self._in_frame(qubit, m)
        if theta > _EPS:
            self.out.append(q.prx(qubit, theta, phase))
        self.frames.rotate(qubit, lam)

    def cz(self, a: str, b: str) -> None:
        """A CZ between coupled physical qubits."""
        self.flush(a)
        self.flush(b)
        self.out.extend(self.topology.cz(a, b))
        self.touched.update((a, b))

    def cnot(self, control: str, target: str) -> None:
        """A CNOT as ``H·CZ·H`` on the target (the Hadamards join the neighbouring single-qubit gates)."""
        self.apply(target, _H)
        self.cz(control, target)
        self.apply(target, _H)

    def swap(self, a: str, b: str) -> None:
        """Exchange the states of coupled qubits ``a`` and ``b`` (two CNOTs if ``b`` was never used)."""
        fresh = b not in self.touched
        self.cnot(a, b)
        self.cnot(b, a)
        if not fresh:
            self.cnot(a, b)

    def conditional(self, qubit: str, m: Mat, feedback_qubit: str, feedback_key: str) -> None:
        """Apply ``m`` to ``qubit`` only if the measurement under ``feedback_key`` gave 1 (frames stay put): the
        core's construction (:func:`qaas_core.conditioned`) of ``m ∝ RZ(λ)·PRX(θ, φ)``."""
        self.flush(qubit)
        theta, phase, lam = _as_prx(m)
        self.out.extend(q.conditioned(qubit, [(theta, phase), lam], self.frames, feedback_qubit=feedback_qubit,
                                      feedback_key=feedback_key))  # fmt: skip
        self.touched.add(qubit)

    def measure(self, qubits: Sequence[str], key: str, feedback_key: str | None = None) -> None:
        for x in qubits:
            self.flush(x)
        self.out.append(q.measure(*qubits, key=key, feedback_key=feedback_key))
        self.touched.update(qubits)


# -- tape analysis --------------------------------------------------------------------------------------------


def measured_wires(tape: Any, device_wires: Iterable[Hashable] | None) -> tuple[Hashable, ...]:
    """The wires a tape's terminal measurements read, in result-column order.

    A measurement without wires (``qml.sample()``, ``qml.probs()``, ``qml.counts()``) reads every device wire (or
    every tape wire on a device without fixed wires), as on ``default.qubit``.
    """
    out: dict[Hashable, None] = {}
    everything = False
    for mp in tape.measurements:
        if mp.mv is not None:
            continue
        if len(mp.wires) == 0:
            everything = True
        for w in mp.wires:
            out.setdefault(w, None)
    if everything:
        base = tuple(device_wires) if device_wires is not None else tuple(tape.wires)
        return base + tuple(w for w in out if w not in set(base))
    return tuple(out)


def interaction_graph(operations: Iterable[Any], slot_of: Mapping[Hashable, int]) -> dict[tuple[int, int], int]:
    """Two-qubit gate counts between *slots* (initial wire positions), following SWAP relabelling."""
    where = dict(slot_of)
    edges: dict[tuple[int, int], int] = {}
    for op in operations:
        name = op.name
        if name == "SWAP":
            a, b = op.wires
            where[a], where[b] = where[b], where[a]
        elif name in ("CZ", "CNOT"):
            a, b = op.wires
            sa, sb = where[a], where[b]
            key = (sa, sb) if sa < sb else (sb, sa)
            edges[key] = edges.get(key, 0) + 1
    return edges


@dataclass(frozen=True)
class Conversion:
    """One tape as a native circuit, with what is needed to read its results back.

    Attributes:
        circuit: the circuit in the IQM transfer format.
        measured: wires read by the final measurement (key :data:`MEASURE_KEY`), in column order.
        mcm_keys: ``meas_uid`` of each mid-circuit measurement -> its measurement key.
        layout: wire -> physical qubit at the start of the circuit.
    """

    circuit: q.Circuit
    measured: tuple[Hashable, ...]
    mcm_keys: Mapping[str, str]
    layout: Mapping[Hashable, str]


class Converter:
    """Converts preprocessed tapes for one calibration, caching layouts by circuit structure.

    Args:
        calibration: the calibration the circuits will run with.
        device_wires: the device's wires (None: the device has no fixed wires).
    """

    def __init__(self, calibration: q.Calibration, device_wires: Iterable[Hashable] | None = None) -> None:
        self.calibration = calibration
        self.topology = Topology(calibration)
        self.device_wires = None if device_wires is None else tuple(device_wires)
        self._layouts: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def layout(self, tape: Any, measured: Sequence[Hashable]) -> dict[Hashable, str]:
        """Wire -> physical qubit for a tape (cached for tapes with the same wires and two-qubit structure)."""
        wires: dict[Hashable, None] = dict.fromkeys(tape.wires)
        for w in measured:
            wires.setdefault(w, None)
        order = list(wires)
        slot_of = {w: i for i, w in enumerate(order)}
        edges = interaction_graph(tape.operations, slot_of)
        key = (len(order), tuple(sorted(edges.items())))
        placed = self._layouts.get(key)
        if placed is None:
            placed = choose_layout(len(order), edges, self.topology)
            if len(self._layouts) >= _LAYOUT_CACHE:
                self._layouts.clear()
            self._layouts[key] = placed
        return dict(zip(order, placed, strict=True))

    def convert(self, tape: Any, name: str) -> Conversion:
        """Convert one preprocessed tape.

        Raises:
            LayoutError: the tape does not fit the QPU.
            QaasDeviceError: an operation the device cannot play (only if preprocessing was skipped), or a
                feedback operation on a qubit without calibrated ``cc_prx``.
        """
        measured = measured_wires(tape, self.device_wires)
        layout = self.layout(tape, measured)
        topo = self.topology
        wmap = dict(layout)
        holder: dict[str, Hashable] = {p: w for w, p in wmap.items()}
        em = _Emitter(topo)
        feedback_uids = _feedback_uids(tape.operations)
        mcm_keys: dict[str, str] = {}
        mcm_at: dict[str, tuple[str, str]] = {}  # meas_uid -> (physical qubit measured, feedback key)

        for op in tape.operations:
            name_ = op.name
            if name_ in ("CZ", "CNOT"):
                a, b = op.wires
                pb = wmap[b]
                if not topo.coupled(wmap[a], pb):
                    self._route(em, wmap, holder, a, pb)
                if name_ == "CZ":
                    em.cz(wmap[a], pb)
                else:
                    em.cnot(wmap[a], pb)
            elif name_ == "SWAP":
                a, b = op.wires
                wmap[a], wmap[b] = wmap[b], wmap[a]
                holder[wmap[a]], holder[wmap[b]] = a, b
            elif isinstance(op, MidMeasure):
                index = len(mcm_keys)
                uid = str(op.meas_uid)
                p = wmap[op.wires[0]]
                fb = _feedback_key(index) if (uid in feedback_uids or op.reset) else None
                if fb is not None and p not in topo.feedback:
                    raise QaasDeviceError(f"{op!r}: qubit {p} has no calibrated cc_prx for feedback or reset")
                mcm_keys[uid] = mcm_key(index)
                em.measure((p,), mcm_key(index), fb)
                if fb is not None:
                    mcm_at[uid] = (p, fb)
                if op.reset and fb is not None:
                    em.conditional(p, _X, p, fb)
            elif isinstance(op, Conditional):
                self._conditional(em, wmap, mcm_at, op)
            elif name_ == "Barrier":
                phys = [wmap[w] for w in op.wires]
                for p in phys:
                    em.flush(p)
                if not op.hyperparameters.get("only_visual", False) and phys:
                    em.out.append(q.barrier(*phys))
            elif name_ == "GlobalPhase":
                continue
            else:
                if len(op.wires) != 1:
                    raise QaasDeviceError(f"{op!r} is not a native operation of the device (preprocess the tape)")
                angle = z_angle(op)
                if angle is None:
                    em.apply(wmap[op.wires[0]], matrix_2x2(op))
                else:
                    em.rotate(wmap[op.wires[0]], angle)

        if measured:
            em.measure([wmap[w] for w in measured], MEASURE_KEY)
        if not em.out:
            raise QaasDeviceError("the circuit measures nothing")
        metadata = {"layout": {str(w): p for w, p in layout.items()}}
        return Conversion(q.Circuit(name, tuple(em.out), metadata), measured, mcm_keys, layout)

    def _route(
        self, em: _Emitter, wmap: dict[Hashable, str], holder: dict[str, Hashable], wire: Hashable, target: str
    ) -> None:
        """Carry ``wire`` with SWAPs along a shortest path until it sits next to ``target``."""
        path = self.topology.path(wmap[wire], target)
        for nxt in path[1:-1]:
            cur = wmap[wire]
            em.swap(cur, nxt)
            other = holder.get(nxt)
            holder[nxt] = wire
            wmap[wire] = nxt
            if other is None:
                del holder[cur]
            else:
                holder[cur] = other
                wmap[other] = cur

    def _conditional(
        self, em: _Emitter, wmap: Mapping[Hashable, str], mcm_at: Mapping[str, tuple[str, str]], op: Any
    ) -> None:
        base = op.base
        if base.name in {"GlobalPhase", "Identity"}:
            return
        if len(base.wires) != 1:
            raise QaasDeviceError(f"{op!r}: only single-qubit gates can be classically controlled on IQM hardware")
        mv = op.meas_val
        if len(mv.measurements) != 1:
            raise QaasDeviceError(f"{op!r}: a condition may depend on one mid-circuit measurement only")
        on0, on1 = bool(mv.processing_fn(0)), bool(mv.processing_fn(1))
        target = wmap[base.wires[0]]
        m = matrix_2x2(base)
        if on0 and on1:
            em.apply(target, m)
            return
        if not (on0 or on1):
            return
        uid = str(mv.measurements[0].meas_uid)
        if uid not in mcm_at:
            raise QaasDeviceError(f"{op!r}: its mid-circuit measurement is not earlier in the circuit")
        if target not in self.topology.feedback:
            raise QaasDeviceError(f"{op!r}: qubit {target} has no calibrated cc_prx")
        feedback_qubit, key = mcm_at[uid]
        if on1:
            em.conditional(target, m, feedback_qubit, key)
        else:  # apply always, undo when the outcome was 1
            em.apply(target, m)
            em.conditional(target, _dagger(m), feedback_qubit, key)


def _feedback_uids(operations: Iterable[Any]) -> set[str]:
    """``meas_uid`` of the mid-circuit measurements that some ``qml.cond`` depends on."""
    out: set[str] = set()
    for op in operations:
        if isinstance(op, Conditional):
            out.update(str(m.meas_uid) for m in op.meas_val.measurements)
    return out
