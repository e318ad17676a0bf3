"""The device's compile pipeline: everything PennyLane-side that happens before the device touches the network.

:func:`compile_pipeline` builds, in this order:

1. :func:`require_shots` — hardware returns samples; an analytic tape is an error that says how to set shots.
2. ``defer_measurements`` when the QNode asked for ``mcm_method="deferred"`` (otherwise mid-circuit measurements
   run natively), then :func:`validate_native_mcms` (no post-selection, conditions on a single measurement).
3. ``validate_device_wires`` against the device wires.
4. ``decompose`` to the native gate set (:func:`is_native`), state preparation included; conditional
   operations are decomposed inside their condition, operations with only a matrix become ``QubitUnitary``;
   work wires a decomposition allocates are placed on unused device wires.
5. ``split_non_commuting`` (qubit-wise commuting groups share a tape) and :func:`diagonalize` (Pauli words via
   PennyLane's ``diagonalize_measurements``, other observables via their diagonalising gates and eigenvalues),
   then ``decompose`` again for the basis-change gates. On a device with ``mitigation=``, :func:`mitigable` tapes
   (only expectation values of Pauli words and their sums) skip both: the core's pipeline chooses their bases
   (:mod:`qaas_pennylane._mitigation`).
6. ``validate_measurements`` / ``validate_observables`` (sample-based measurements of Z-basis observables), and
   ``broadcast_expand`` for parameter broadcasting.

No step needs the calibration or the network: the tapes that leave the pipeline are hardware-agnostic, and
placement on physical qubits happens in :mod:`qaas_pennylane._convert` at execution time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import pennylane as qml
from pennylane.devices.preprocess import (
    decompose,
    device_resolve_dynamic_wires,
    validate_device_wires,
    validate_measurements,
    validate_observables,
)
from pennylane.measurements import CountsMP, ExpectationMP, SampleMeasurement
from pennylane.ops import Conditional, MidMeasure
from pennylane.transforms import broadcast_expand, defer_measurements, diagonalize_measurements, split_non_commuting
from pennylane.transforms.core import CompilePipeline

from qaas_pennylane._errors import QaasDeviceError

__all__ = [
    "NATIVE_GATES",
    "compile_pipeline",
    "diagonalize",
    "diagonalize_unless_mitigable",
    "is_native",
    "mitigable",
    "require_shots",
    "split_unless_mitigable",
    "validate_native_mcms",
]

NATIVE_GATES: Final = frozenset(
    {"CZ", "CNOT", "SWAP", "Barrier", "GlobalPhase", "Identity", "RX", "RY", "RZ", "PhaseShift", "U1", "U2", "U3",
     "Rot", "PauliX", "PauliY", "PauliZ", "Hadamard", "S", "T", "SX", "QubitUnitary", "DiagonalQubitUnitary"}
)  # fmt: skip
"""Operations the converter plays directly (single-qubit unitaries only for the two matrix gates)."""

_NOT_ON_HARDWARE = "the IQM hardware path measures samples, so every execution needs shots"


def _postprocess_single(results: Sequence[Any]) -> Any:
    return results[0]


def _is_single_qubit_gate(op: Any) -> bool:
    if len(op.wires) != 1 or op.name.startswith("C("):
        return False
    name = op.name
    while name.startswith("Adjoint("):
        op = op.base
        name = op.name
    return name in NATIVE_GATES or bool(getattr(op, "has_matrix", False) and op.num_wires == 1)


def is_native(op: Any) -> bool:
    """Whether the converter plays ``op`` as it is (the stopping condition of ``decompose``)."""
    if isinstance(op, MidMeasure):
        return True
    if isinstance(op, Conditional):
        return _is_single_qubit_gate(op.base) and op.base.name not in ("Barrier", "SWAP")
    name = op.name
    if name in ("CZ", "CNOT", "SWAP", "Barrier", "GlobalPhase"):
        return True
    if name in ("QubitUnitary", "DiagonalQubitUnitary"):
        return len(op.wires) == 1
    return _is_single_qubit_gate(op)


MATRIX_FALLBACK_WIRES: Final = 4
"""Operations without a decomposition but with a matrix on at most this many wires become a ``QubitUnitary``."""


def _decompose(op: Any) -> Sequence[Any]:
    """Decompose an operation: conditional ones under the same condition, matrix-only ones as a ``QubitUnitary``."""
    if isinstance(op, Conditional):
        with qml.QueuingManager.stop_recording():
            return [Conditional(op.meas_val, o) for o in _decompose(op.base)]
    if not op.has_decomposition and op.has_matrix and 1 < len(op.wires) <= MATRIX_FALLBACK_WIRES:
        with qml.QueuingManager.stop_recording():
            return [qml.QubitUnitary(op.matrix(), wires=op.wires)]
    return op.decomposition()  # type: ignore[no-any-return]


def _require_shots(tape: Any) -> tuple[Sequence[Any], Callable[..., Any]]:
    if not tape.shots and tape.measurements:  # (a tape that measures nothing is only being checked for its gates)
        raise QaasDeviceError(
            f"qaas.iqm cannot run analytically: {_NOT_ON_HARDWARE}. Use qml.set_shots(qnode, shots=1000) or "
            "@qml.set_shots(1000) on the QNode (or give the device shots=...)"
        )
    return (tape,), _postprocess_single


require_shots = qml.transform(_require_shots)
"""Transform: reject tapes without shots, before anything else runs."""


def _validate_native_mcms(tape: Any) -> tuple[Sequence[Any], Callable[..., Any]]:
    measured: set[str] = set()
    for op in tape.operations:
        if isinstance(op, MidMeasure):
            if op.postselect is not None:
                raise QaasDeviceError(
                    f"{op!r}: post-selection is not available on IQM hardware (shots cannot be discarded mid-circuit)"
                )
            measured.add(str(op.meas_uid))
        elif isinstance(op, Conditional):
            mv = op.meas_val
            if len(mv.measurements) != 1:
                raise QaasDeviceError(
                    f"{op!r}: IQM feedback conditions a gate on one measured bit; this condition depends on "
                    f"{len(mv.measurements)} measurements. Use mcm_method='deferred' on the QNode instead"
                )
            if str(mv.measurements[0].meas_uid) not in measured:
                raise QaasDeviceError(f"{op!r}: its mid-circuit measurement is not earlier in the circuit")
        elif op.name == "PauliMeasure":
            raise QaasDeviceError(
                f"{op!r}: Pauli mid-circuit measurements are not supported; rotate and use qml.measure"
            )
    for mp in tape.measurements:
        if mp.mv is not None and not isinstance(mp, SampleMeasurement):
            raise QaasDeviceError(f"{mp!r} of mid-circuit measurement values is not supported")
    return (tape,), _postprocess_single


validate_native_mcms = qml.transform(_validate_native_mcms)
"""Transform: mid-circuit measurements and conditions the hardware can run natively (measure + cc_prx)."""


def _is_pauli_diagonalisable(obs: Any) -> bool:
    return obs.pauli_rep is not None


def _diagonalize(tape: Any) -> tuple[Sequence[Any], Callable[..., Any]]:
    gates: list[Any] = []
    measurements = []
    changed = False
    with qml.QueuingManager.stop_recording():
        for mp in tape.measurements:
            obs = mp.obs
            if obs is None or isinstance(obs, qml.measurements.MeasurementValue) or _is_pauli_diagonalisable(obs):
                measurements.append(mp)
                continue
            if not obs.has_diagonalizing_gates:
                raise QaasDeviceError(f"observable {obs!r} cannot be measured: it has no diagonalising gates")
            gates.extend(obs.diagonalizing_gates())
            eigvals = obs.eigvals()
            if isinstance(mp, CountsMP):
                measurements.append(CountsMP(eigvals=eigvals, wires=obs.wires, all_outcomes=mp.all_outcomes))
            else:
                measurements.append(type(mp)(eigvals=eigvals, wires=obs.wires))
            changed = True
    if changed:
        tape = tape.copy(operations=[*tape.operations, *gates], measurements=measurements)
    (tape,), _ = diagonalize_measurements(tape, supported_base_obs=(qml.Z, qml.Identity))
    return (tape,), _postprocess_single


diagonalize = qml.transform(_diagonalize)
"""Transform: every measurement into the computational basis (tapes must hold qubit-wise commuting groups)."""


def mitigable(tape: Any) -> bool:
    """Whether every measurement of ``tape`` is the expectation value of an observable with a Pauli representation
    (what a device with ``mitigation=`` estimates through the core's pipeline)."""
    return bool(tape.measurements) and all(
        isinstance(mp, ExpectationMP) and mp.mv is None and mp.obs is not None and mp.obs.pauli_rep is not None
        for mp in tape.measurements
    )


def _split_unless_mitigable(tape: Any) -> tuple[Sequence[Any], Callable[..., Any]]:
    if mitigable(tape):
        return (tape,), _postprocess_single
    return split_non_commuting(tape, grouping_strategy="qwc")  # type: ignore[no-any-return]


def _diagonalize_unless_mitigable(tape: Any) -> tuple[Sequence[Any], Callable[..., Any]]:
    if mitigable(tape):
        return (tape,), _postprocess_single
    return _diagonalize(tape)


split_unless_mitigable = qml.transform(_split_unless_mitigable)
"""Transform: ``split_non_commuting`` (qubit-wise commuting groups), except for :func:`mitigable` tapes."""

diagonalize_unless_mitigable = qml.transform(_diagonalize_unless_mitigable)
"""Transform: :func:`diagonalize`, except for :func:`mitigable` tapes (the core changes their bases)."""


def _z_basis_observable(obs: Any) -> bool:
    rep = obs.pauli_rep
    return rep is not None and all(set(word.values()) <= {"Z", "I"} for word in rep)


def _pauli_observable(obs: Any) -> bool:
    return obs.pauli_rep is not None  # Z-basis after diagonalisation, or a mitigable tape's Pauli word or sum


def compile_pipeline(
    device_wires: Any, mcm_method: str | None, name: str, *, mitigation: bool = False
) -> CompilePipeline:
    """The device's compile pipeline (see the module docstring).

    Args:
        device_wires: the device wires, or None for a device without fixed wires.
        mcm_method: the resolved mid-circuit measurement method (``device`` or ``deferred``).
        name: the device name for error messages.
        mitigation: the device mitigates: :func:`mitigable` tapes keep their Pauli observables.
    """
    program = CompilePipeline()
    program.add_transform(require_shots)
    if mcm_method == "deferred":
        program.add_transform(defer_measurements, allow_postselect=False)
    else:
        program.add_transform(validate_native_mcms)
    program.add_transform(validate_device_wires, device_wires, name=name)
    to_native = {
        "stopping_condition": is_native,
        "skip_initial_state_prep": False,
        "decomposer": _decompose,
        "device_wires": device_wires,
        "target_gates": set(NATIVE_GATES) | {"MidMeasureMP"},
        "name": name,
        "error": QaasDeviceError,
    }
    program.add_transform(decompose, **to_native)
    # work wires that decompositions allocate go onto unused device wires (reused after a reset when native MCMs run)
    program.add_transform(device_resolve_dynamic_wires, wires=device_wires, allow_resets=mcm_method != "deferred")
    if mitigation:
        program.add_transform(split_unless_mitigable)
        program.add_transform(diagonalize_unless_mitigable)
    else:
        program.add_transform(split_non_commuting, grouping_strategy="qwc")
        program.add_transform(diagonalize)
    program.add_transform(decompose, **to_native)  # the basis changes of the diagonalisation
    program.add_transform(
        validate_measurements,
        analytic_measurements=lambda mp: False,
        sample_measurements=lambda mp: isinstance(mp, SampleMeasurement),
        name=name,
    )
    measurable = _pauli_observable if mitigation else _z_basis_observable
    program.add_transform(validate_observables, stopping_condition=measurable, name=name)
    program.add_transform(broadcast_expand)
    return program
