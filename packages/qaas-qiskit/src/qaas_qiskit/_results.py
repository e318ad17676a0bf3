"""``qaas_core.Result`` → ``qiskit.result.Result``, in exactly the shape Qiskit's own simulators produce.

Per experiment: ``data.counts`` (and ``data.memory`` when kept) keyed by hexadecimal strings of the classical
memory, where bit ``i`` of the integer is clbit ``i`` of the circuit (``circuit.clbits`` order); the ``header``
carries ``name``, ``creg_sizes``, ``clbit_labels``, ``memory_slots`` (and the qubit layout), so ``get_counts()`` and
``get_memory()`` print bitstrings little-endian with registers separated by spaces, and ``BackendSamplerV2`` reads
the memory as it reads :class:`~qiskit.providers.basic_provider.BasicSimulator`'s.

Measurement keys map to clbits without client state: keys ``m{clbit}`` / ``m{clbit}_{n}`` come from
:mod:`qaas_qiskit._convert`, and OpenQASM 3 programs carry ``metadata["clbits"] = {key: [creg, index]}``. Keys are
applied in program order, so the last write to a clbit wins; unmeasured clbits read 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.result import Result
from qiskit.result.models import ExperimentResult, ExperimentResultData

import qaas_core as q
from qaas_qiskit._convert import METADATA_KEY

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Layout", "layout_from_circuit", "to_qiskit_result"]


class Layout:
    """How one circuit's measurement keys map to clbits, and the header Qiskit formats results with.

    Attributes:
        header: The experiment header (``name``, ``creg_sizes``, ``clbit_labels``, ``memory_slots`` …).
        clbits: Measurement key → clbit index of each of its columns (None: derive from the key ``m{clbit}``).
    """

    __slots__ = ("clbits", "header")

    def __init__(self, header: dict[str, Any], clbits: Mapping[str, Sequence[int]] | None = None) -> None:
        self.header = header
        self.clbits = clbits

    @property
    def memory_slots(self) -> int:
        """Number of clbits."""
        return int(self.header["memory_slots"])

    def columns(self, key: str, width: int) -> Sequence[int]:
        """Clbit index of each column of ``key``.

        Raises:
            PayloadError: a key this layout cannot place.
        """
        if self.clbits is not None:
            found = self.clbits.get(key)
            if found is None or len(found) != width:
                raise q.PayloadError(f"measurement key {key!r} has no clbit in the circuit's register layout")
            return found
        head = key.partition("_")[0]
        if width == 1 and head[:1] == "m" and head[1:].isdigit() and int(head[1:]) < self.memory_slots:
            return (int(head[1:]),)
        raise q.PayloadError(f"measurement key {key!r} was not written by qaas-qiskit and the circuit has no layout")


def header_from_qiskit(meta: Mapping[str, Any], user_metadata: Any = None) -> dict[str, Any]:
    """The BasicSimulator-shaped header from the register layout stored by :func:`~._convert.circuit_header`."""
    qregs = [list(r) for r in meta.get("qregs", [])]
    cregs = [list(r) for r in meta.get("cregs", [])]
    return {
        "name": meta.get("name", ""),
        "n_qubits": sum(size for _, size in qregs),
        "qreg_sizes": qregs,
        "creg_sizes": cregs,
        "qubit_labels": [[name, j] for name, size in qregs for j in range(size)],
        "clbit_labels": [[name, j] for name, size in cregs for j in range(size)],
        "memory_slots": int(meta.get("clbits", 0)),
        "global_phase": float(meta.get("global_phase", 0.0)),
        "metadata": user_metadata if user_metadata is not None else dict(meta.get("metadata") or {}),
    }


def layout_from_circuit(circuit: q.Circuit, keys: Mapping[str, int] | None = None) -> Layout:
    """The layout of a submitted circuit, from its metadata alone (works in a fresh process).

    Args:
        circuit: The circuit as submitted (e.g. decoded from the ledger's request).
        keys: The result's measurement keys and widths (used when the circuit carries no layout).
    """
    meta = circuit.metadata or {}
    stored = meta.get(METADATA_KEY)
    if isinstance(stored, dict):
        return Layout(header_from_qiskit(stored))
    cregs = meta.get("cregs")
    clbit_of = meta.get("clbits")
    if isinstance(cregs, dict) and isinstance(clbit_of, dict):  # OpenQASM 3 programs (qaas_core.circuit_from_qasm3)
        offsets: dict[str, int] = {}
        total = 0
        for name, size in cregs.items():
            offsets[name] = total
            total += int(size)
        mapping = {key: [offsets[creg] + int(i)] for key, (creg, i) in clbit_of.items()}
        header = {
            "name": circuit.name,
            "creg_sizes": [[name, int(size)] for name, size in cregs.items()],
            "clbit_labels": [[name, j] for name, size in cregs.items() for j in range(int(size))],
            "memory_slots": total,
            "metadata": {},
        }
        return Layout(header, mapping)
    # a circuit from elsewhere: one register "c", its bits in key order
    widths = dict(keys) if keys is not None else {k: len(v) for k, v in circuit.measurement_keys().items()}
    mapping, total = {}, 0
    for key, width in widths.items():
        mapping[key] = list(range(total, total + width))
        total += width
    header = {
        "name": circuit.name,
        "creg_sizes": [["c", total]] if total else [],
        "clbit_labels": [["c", j] for j in range(total)],
        "memory_slots": total,
        "metadata": {},
    }
    return Layout(header, mapping)


def _values(columns: Sequence[tuple[Sequence[int], NDArray[np.uint8]]], rows: int, slots: int) -> NDArray[Any]:
    """The classical memory of every row as integers (bit i = clbit i), keys applied in program order."""
    if slots < 63:
        values: NDArray[Any] = np.zeros(rows, dtype=np.int64)
        for clbits, bits in columns:
            for j, c in enumerate(clbits):
                shift = np.int64(c)
                values = (values & ~(np.int64(1) << shift)) | (bits[:, j].astype(np.int64) << shift)
        return values
    out = [0] * rows  # wide registers: python integers
    for clbits, bits in columns:
        table = bits.tolist()
        for j, c in enumerate(clbits):
            mask = ~(1 << c)
            for r in range(rows):
                out[r] = (out[r] & mask) | (table[r][j] << c)
    return np.array(out, dtype=object)


def experiment_data(circuit: q.CircuitResult, layout: Layout) -> tuple[dict[str, int], list[str] | None]:
    """Hex counts and (if kept) hex per-shot memory of one circuit.

    Raises:
        PayloadError: a measurement key cannot be placed on a clbit.
    """
    slots = layout.memory_slots
    if circuit.memory is not None:
        columns = [(layout.columns(k, w), circuit.bits(k)) for k, w in circuit.keys.items()]
        values = _values(columns, circuit.shots, slots)
        memory = [hex(v) for v in values.tolist()]
        uniq, tally = np.unique(values, return_counts=True)
        return {hex(int(v)): int(n) for v, n in zip(uniq.tolist(), tally.tolist(), strict=True)}, memory
    table = circuit.bitstring_counts()
    strings = list(table)
    if not strings:
        return {}, None
    width = sum(circuit.keys.values())
    matrix = (
        np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).reshape(len(strings), width) - ord("0")
        if width
        else np.zeros((len(strings), 0), dtype=np.uint8)
    )
    columns, start = [], 0
    for key, w in circuit.keys.items():
        columns.append((layout.columns(key, w), matrix[:, start : start + w]))
        start += w
    values = _values(columns, len(strings), slots)
    counts: dict[str, int] = {}
    for v, s in zip(values.tolist(), strings, strict=True):
        label = hex(v)
        counts[label] = counts.get(label, 0) + table[s]
    return counts, None


def _timeline(result: q.Result) -> list[dict[str, str]]:
    return [{"status": e.status, "timestamp": e.timestamp, "source": e.source} for e in result.timeline]


def to_qiskit_result(
    result: q.Result,
    layouts: Sequence[Layout],
    *,
    backend_name: str,
    backend_version: str,
    job_id: str,
) -> Result:
    """Build the Qiskit result of a job.

    Args:
        result: The qaas result (one entry per submitted circuit).
        layouts: One :class:`Layout` per circuit, in submission order.
        backend_name: Name reported in the result.
        backend_version: Version reported in the result.
        job_id: The job id reported in the result (the submission id).

    Raises:
        PayloadError: the result does not match the submitted circuits.
    """
    if len(layouts) != len(result.circuits):
        raise q.PayloadError(f"the result has {len(result.circuits)} circuits, the job submitted {len(layouts)}")
    ids = {
        "calibration_set_id": result.calibration_set_id,
        "submission_id": result.submission_id,
        "heappe_job_id": result.heappe_job_id,
        "iqm_job_id": result.iqm_job_id,
    }
    timeline = _timeline(result)
    experiments = []
    for circuit, layout in zip(result.circuits, layouts, strict=True):
        counts, memory = experiment_data(circuit, layout)
        data = (
            ExperimentResultData(counts=counts, memory=memory)
            if memory is not None
            else ExperimentResultData(counts=counts)
        )
        experiments.append(
            ExperimentResult(
                shots=circuit.shots,
                success=True,
                data=data,
                meas_level=2,
                status="DONE",
                header=layout.header,
                **ids,
                timeline=timeline,
            )
        )
    return Result(
        backend_name=backend_name,
        backend_version=backend_version,
        job_id=job_id,
        success=True,
        results=experiments,
        status="COMPLETED",
        header={"backend_name": backend_name, "backend_version": backend_version},
        **ids,
        timeline=timeline,
    )
