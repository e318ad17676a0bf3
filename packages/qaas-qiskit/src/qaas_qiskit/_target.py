"""Calibration → Qiskit :class:`~qiskit.transpiler.Target`: what ``transpile(circuit, backend)`` compiles to.

Qubit ``i`` of the target is ``calibration.qubits[i]``. What is calibrated where, and which qubits can take a CZ,
come from the core's device view (:class:`qaas_core.DeviceView`), as for every qaas front end. Computational
resonators are not part of the target: on star devices (Deneb, VLQ) the target offers a *virtual* ``cz`` on every
coupling of the view's routing graph, with the error and duration of the MOVE–CZ–MOVE sequence the view plays for
it, and the conversion (:mod:`qaas_qiskit._convert`) expands it into that sequence. So users never write MOVE, and
any Qiskit pass manager routes for star devices without a plugin.

Native instructions:

* ``u`` (:class:`~qiskit.circuit.library.UGate`): any single-qubit gate, which the QPU plays as **one** PRX pulse
  followed by a virtual Z (``U(θ, φ, λ) = RZ(φ)·PRX(θ, π/2)·RZ(λ)`` up to a global phase), so it carries the
  calibrated ``prx`` error and duration;
* ``rz`` (:class:`~qiskit.circuit.library.RZGate`): a *virtual* Z rotation — zero duration, zero error — that the
  conversion folds into the phases of the later pulses (:class:`qaas_core.Frames`, as for every qaas front end);
* ``cz`` on the couplings (both directions), ``measure`` and ``reset`` where calibrated, ``delay`` on every qubit,
  and the ``if_else`` control flow when ``cc_prx`` is calibrated (``if_test`` on one measured bit → ``cc_prx``).

So the transpiler compiles every run of single-qubit gates between two-qubit gates to at most one ``u`` (plus
``rz``), and prices it as the one pulse it is. ``u`` rather than Qiskit's ``r`` (:class:`~qiskit.circuit.library.RGate`
``R(θ, φ)`` ≡ IQM ``prx(θ, φ)``, which :meth:`QaaSBackend.run` still accepts as written) because ``u`` is a name
Qiskit's tools already know: qiskit-experiments' randomized benchmarking looks up a default error ratio per basis
gate name, and has none for ``r``. Durations are seconds, errors are ``1 - fidelity``; ``dt`` is 1 ns, which is
also how ``delay(…, unit="dt")`` is converted.
"""

from __future__ import annotations

from typing import Final

from qiskit.circuit import Delay, IfElseOp, Measure, Parameter, Reset
from qiskit.circuit.library import CZGate, RZGate, UGate
from qiskit.providers import QubitProperties
from qiskit.transpiler import InstructionProperties, Target

import qaas_core as q

__all__ = ["DT", "NATIVE_GATES", "target_from_calibration"]

DT: Final = 1e-9
"""The backend's ``dt`` in seconds: the unit of ``delay(..., unit="dt")`` and of scheduled durations."""

NATIVE_GATES: Final = ("u", "rz", "r", "cz", "measure", "reset", "delay", "barrier", "if_else")
"""Operation names a circuit may contain when it is handed to :meth:`QaaSBackend.run` (``r`` is not in the target
but is accepted: it is the PRX pulse itself)."""


def _properties(calibration: q.Calibration, gate: str, locus: tuple[str, ...]) -> InstructionProperties | None:
    duration = calibration.duration(gate, locus)
    error = calibration.error(gate, locus)
    if duration is None and error is None:
        return None
    return InstructionProperties(duration=duration, error=error)


def _measure_error(calibration: q.Calibration, qubit: str) -> float | None:
    error = calibration.error("measure", (qubit,))
    if error is None and qubit in calibration.metrics.readout_error:
        p01, p10 = calibration.metrics.readout_error[qubit]
        error = (p01 + p10) / 2
    return error


def target_from_calibration(calibration: q.Calibration, *, description: str | None = None) -> Target:
    """Build the Qiskit target of a calibration set.

    Args:
        calibration: The calibration (architecture and metrics) of the QPU.
        description: Free text for ``Target.description`` (default: device and calibration set).

    Returns:
        A target whose qubit ``i`` is ``calibration.qubits[i]``.
    """
    view = q.DeviceView(calibration)
    index = {name: i for i, name in enumerate(calibration.qubits)}
    metrics = calibration.metrics
    target = Target(
        description=description
        or f"{calibration.device or 'IQM QPU'} calibration set {calibration.calibration_set_id}",
        num_qubits=len(calibration.qubits),
        dt=DT,
        qubit_properties=[
            QubitProperties(t1=metrics.t1.get(name), t2=metrics.t2.get(name)) for name in calibration.qubits
        ],
    )
    prx = view.calibrated("prx")
    target.add_instruction(
        UGate(Parameter("θ"), Parameter("φ"), Parameter("λ")),
        {(index[name],): _properties(calibration, "prx", (name,)) for name in prx},
    )
    virtual = {(index[name],): InstructionProperties(duration=0.0, error=0.0) for name in prx}
    target.add_instruction(RZGate(Parameter("λ")), virtual)
    couplings: dict[tuple[int, ...], InstructionProperties | None] = {}
    for a, b in view.couplings:  # a virtual cz is priced as its MOVE sandwich (Calibration asks the view)
        props = _properties(calibration, "cz", (a, b))
        couplings[(index[a], index[b])] = props
        couplings[(index[b], index[a])] = props
    if couplings:
        target.add_instruction(CZGate(), couplings)
    measured = view.calibrated("measure")
    if measured:
        target.add_instruction(
            Measure(),
            {
                (index[name],): InstructionProperties(
                    duration=calibration.duration("measure", (name,)), error=_measure_error(calibration, name)
                )
                for name in measured
            },
        )
    reset = view.calibrated("reset")
    if reset:
        target.add_instruction(Reset(), {(index[name],): _properties(calibration, "reset", (name,)) for name in reset})
    target.add_instruction(Delay(Parameter("t")), {(i,): None for i in range(len(calibration.qubits))})
    if view.calibrated("cc_prx"):
        target.add_instruction(IfElseOp, name="if_else")
    return target
