"""The four front ends, each driven only through its public API: compile a library program for a device, and run a
batch of them as one job.

For each front end, :class:`FrontEnd` gives

* ``native(program, calibration)`` — offline: the program compiled by the front end's own compiler and converted to
  the IQM transfer format, with the layout the front end reports (:class:`Native`);
* ``run(programs, client, shots)`` — the programs as **one job** on the client's QPU (the embedded emulator in the
  tests), each result mapped to canonical counts (one character per classical bit, bit 0 leftmost).

Where each layout comes from:

* Qiskit: ``transpile`` (seeded), then ``QaaSBackend.convert`` (``QaaSBackend.template(...).bind`` for a
  parametric circuit; ``run(..., parameter_binds=...)`` when running); layout from ``TranspileLayout``
  (``initial_index_layout`` / ``final_index_layout``; target qubit ``i`` is ``calibration.qubits[i]``).
* Cirq: ``QaaSDevice.compile`` then ``circuit_to_qaas`` (``sweep_to_qaas`` with the resolver for a parametric
  circuit; ``run_batch`` with one resolver per program when running); layout from ``CompiledCircuit.initial_mapping`` /
  ``final_mapping``.
* PennyLane: the device's ``preprocess_transforms()`` then ``QaasDevice.compile``; initial layout from
  ``Conversion.layout``, final positions from the final measurement (its locus, in ``Conversion.measured`` order).
* OpenQASM 3: ``qaas_core.circuit_from_qasm3``; physical qubits stay where the text puts them, declared ones are
  placed and routed by the core when their declaration order does not fit the device (``metadata["layout"]``;
  :func:`tests.cross.library.qasm_programs.layouts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import cirq
import numpy as np
import pennylane as qml
from qiskit import transpile

import qaas_cirq
import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSProvider
from tests.cross.library import Program, cirq_programs, pennylane_programs, qasm_programs, qiskit_programs

__all__ = ["FRONT_ENDS", "TRANSPILER_SEED", "Counts", "FrontEnd", "Native", "canonical_counts", "front_end"]

TRANSPILER_SEED: Final = 11
Counts = dict[str, int]


@dataclass(frozen=True)
class Native:
    """A program as one front end compiled it for a device.

    Attributes:
        circuit: The native circuit (IQM transfer format).
        initial: Logical qubit -> component holding it at the start.
        final: Logical qubit -> component holding it at the end.
        columns: Measurement key -> the classical bit each of its columns is (``None``: not a classical bit).
    """

    circuit: q.Circuit
    initial: dict[int, str]
    final: dict[int, str]
    columns: dict[str, tuple[int | None, ...]]

    def readout(self) -> dict[int, str]:
        """Classical bit -> the component its (last) measurement reads."""
        out: dict[int, str] = {}
        for inst in self.circuit.instructions:
            if inst.name == "measure":
                for column, component in zip(self.columns[inst.args["key"]], inst.locus, strict=True):
                    if column is not None:
                        out[column] = component
        return out

    def corrections(self) -> list[tuple[int, str, float]]:
        """``(classical bit, corrected component, angle)`` of each ``cc_prx`` pulse, in program order.

        A ``cc_prx`` on a qubit right after the measurement that feeds it is a reset by feedback (PennyLane's
        ``qml.measure(w, reset=True)``), not a correction: it is left out.
        """
        bit_of: dict[str, int] = {}
        for inst in self.circuit.instructions:
            if inst.name == "measure" and "feedback_key" in inst.args:
                (column,) = self.columns[inst.args["key"]]
                assert column is not None
                bit_of[inst.args["feedback_key"]] = column
        out: list[tuple[int, str, float]] = []
        last: dict[str, q.Instruction] = {}  # component -> the latest instruction on it
        for inst in self.circuit.instructions:
            if inst.name == "cc_prx":
                key = inst.args["feedback_key"]
                before = last.get(inst.locus[0])
                if not (before is not None and before.name == "measure" and before.args.get("feedback_key") == key):
                    out.append((bit_of[key], inst.locus[0], inst.args["angle"]))
            last.update(dict.fromkeys(inst.locus, inst))
        return out

    def feedback(self) -> list[tuple[int, str]]:
        """``(classical bit, corrected component)`` of each correction (a run of :meth:`corrections` pulses)."""
        out: list[tuple[int, str]] = []
        for bit, component, _ in self.corrections():
            if not out or out[-1] != (bit, component):  # one correction may take several pulses
                out.append((bit, component))
        return out


def canonical_counts(bits: np.ndarray) -> Counts:
    """Counts of a ``(shots, classical bits)`` 0/1 matrix as canonical bitstrings (bit 0 leftmost)."""
    return dict(Counter("".join(map(str, row)) for row in bits.astype(np.int64).tolist()))


@dataclass(frozen=True)
class FrontEnd:
    """One front end: how it compiles a program, and how it runs a batch as one job."""

    name: str
    native: Callable[[Program, q.Calibration], Native]
    run: Callable[[Sequence[Program], q.QaasClient, int], list[Counts]]


# -- Qiskit ----------------------------------------------------------------------------------------------------


def _qiskit_native(program: Program, calibration: q.Calibration) -> Native:
    backend = QaaSBackend.from_calibration(calibration)
    compiled = transpile(qiskit_programs.circuit(program), backend, seed_transpiler=TRANSPILER_SEED)
    names = calibration.qubits
    layout = compiled.layout
    initial = {i: names[p] for i, p in enumerate(layout.initial_index_layout(filter_ancillas=True))}
    final = {i: names[p] for i, p in enumerate(layout.final_index_layout(filter_ancillas=True))}
    binding = qiskit_programs.binding(program)
    circuit = backend.template(compiled).bind([binding])[0] if binding else backend.convert(compiled)
    return Native(circuit, initial, final, {k: (_qiskit_clbit(k),) for k in circuit.measurement_keys()})


def _qiskit_clbit(key: str) -> int:
    return int(key[1:].split("_", maxsplit=1)[0])  # m{clbit} or m{clbit}_{n}: the clbit's n-th re-measurement


def _qiskit_run(programs: Sequence[Program], client: q.QaasClient, shots: int) -> list[Counts]:
    backend = QaaSProvider(client=client).get_backend()
    circuits = transpile([qiskit_programs.circuit(p) for p in programs], backend, seed_transpiler=TRANSPILER_SEED)
    binding = {k: v for p in programs for k, v in qiskit_programs.binding(p).items()}
    # parameter_binds apply to every circuit of the run; one binding keeps one circuit per program
    job = backend.run(circuits, shots=shots, parameter_binds=[binding] if binding else None)
    result = job.result(timeout=300)
    # one register: Qiskit's bitstring has clbit 0 rightmost. (Dropping the [::-1] was tried once: 23 statistics
    # tests fail, see test_statistics.)
    return [{bits[::-1]: n for bits, n in result.get_counts(i).items()} for i in range(len(programs))]


# -- Cirq ------------------------------------------------------------------------------------------------------


def _cirq_native(program: Program, calibration: q.Calibration) -> Native:
    compiled = qaas_cirq.QaaSDevice(calibration).compile(cirq_programs.circuit(program))
    resolver = cirq_programs.resolver(program)
    if resolver.param_dict:
        (circuit,) = qaas_cirq.sweep_to_qaas(compiled.circuit, resolver, name=program.name)
    else:
        circuit = qaas_cirq.circuit_to_qaas(compiled.circuit, name=program.name)
    initial = {_logical(qid): _component(c) for qid, c in compiled.initial_mapping.items()}
    final = {_logical(qid): _component(c) for qid, c in compiled.final_mapping.items()}
    columns: dict[str, tuple[int | None, ...]] = {}
    bit = 0
    for key in cirq_programs.keys(program):
        width = len(circuit.measurement_keys()[key])
        columns[key] = tuple(range(bit, bit + width))
        bit += width
    return Native(circuit, initial, final, columns)


def _logical(qid: cirq.Qid) -> int:
    assert isinstance(qid, cirq.LineQubit), qid
    return qid.x


def _component(qid: cirq.Qid) -> str:
    assert isinstance(qid, cirq.NamedQubit), qid
    return qid.name


def _cirq_run(programs: Sequence[Program], client: q.QaasClient, shots: int) -> list[Counts]:
    sampler = qaas_cirq.QaaSSampler(client=client, timeout=300)
    compiled = [sampler.device.compile(cirq_programs.circuit(p)).circuit for p in programs]
    results = sampler.run_batch(compiled, [cirq_programs.resolver(p) for p in programs], repetitions=shots)
    out = []
    for p, (result,) in zip(programs, results, strict=True):
        out.append(canonical_counts(np.hstack([result.measurements[k] for k in cirq_programs.keys(p)])))
    return out


# -- PennyLane -------------------------------------------------------------------------------------------------


def _pennylane_native(program: Program, calibration: q.Calibration) -> Native:
    # a pinned calibration: the device compiles offline and never starts its emulator
    device = qml.device("qaas.iqm", calibration=calibration, emulator=program.device)
    (tape,), _ = device.preprocess_transforms()((pennylane_programs.tape(program, shots=1),))
    conversion = device.compile(tape)
    (mp,) = tape.measurements
    initial = {int(w): c for w, c in conversion.layout.items()}
    if program.feedback:  # only mid-circuit measurements, no final one to locate the wires at the end
        mcm: dict[str, tuple[int | None, ...]] = {
            conversion.mcm_keys[str(v.measurements[0].meas_uid)]: (bit,) for bit, v in enumerate(mp.mv)
        }
        return Native(conversion.circuit, initial, initial, mcm)
    locus = conversion.circuit.measurement_keys()["m"]  # the final measurement, in Conversion.measured order
    final = {int(w): c for w, c in zip(conversion.measured, locus, strict=True)}
    wires = list(mp.wires)
    columns = {"m": tuple(wires.index(w) if w in wires else None for w in conversion.measured)}
    return Native(conversion.circuit, initial, final, columns)


def _pennylane_run(programs: Sequence[Program], client: q.QaasClient, shots: int) -> list[Counts]:
    device = qml.device("qaas.iqm", client=client, timeout=300)
    results = qml.execute([pennylane_programs.tape(p, shots=shots) for p in programs], device)
    return [{str(bits): int(n) for bits, n in counts.items()} for counts in results]


# -- OpenQASM 3 ------------------------------------------------------------------------------------------------


def _qasm_native(program: Program, calibration: q.Calibration) -> Native:
    circuit = q.circuit_from_qasm3(qasm_programs.text(program), calibration, name=program.name)
    clbits = (circuit.metadata or {})["clbits"]
    columns: dict[str, tuple[int | None, ...]] = {key: (index,) for key, (_, index) in clbits.items()}
    initial, final = qasm_programs.layouts(program, circuit, calibration)
    return Native(circuit, initial, final, columns)


def _qasm_run(programs: Sequence[Program], client: q.QaasClient, shots: int) -> list[Counts]:
    calibration = client.calibration()
    circuits = [q.circuit_from_qasm3(qasm_programs.text(p), calibration, name=p.name) for p in programs]
    result = client.submit(circuits, shots, calibration=calibration, meta={"framework": "qasm3"}).result(timeout=300)
    out = []
    for i, (p, circuit) in enumerate(zip(programs, circuits, strict=True)):
        bits = np.zeros((shots, len(p.clbits)), dtype=np.int64)
        for key, (_, index) in (circuit.metadata or {})["clbits"].items():  # re-measurements: the last one wins
            bits[:, index] = result.memory(i, key)[:, 0]
        out.append(canonical_counts(bits))
    return out


FRONT_ENDS: Final = (
    FrontEnd("qiskit", _qiskit_native, _qiskit_run),
    FrontEnd("cirq", _cirq_native, _cirq_run),
    FrontEnd("pennylane", _pennylane_native, _pennylane_run),
    FrontEnd("qasm3", _qasm_native, _qasm_run),
)
"""Every front end, in the order their jobs are submitted."""


def front_end(name: str) -> FrontEnd:
    """The front end called ``name``."""
    for fe in FRONT_ENDS:
        if fe.name == name:
            return fe
    raise KeyError(name)
