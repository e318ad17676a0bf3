"""qaas results → ``cirq.ResultDict``, shaped exactly as ``cirq.Simulator`` shapes them.

``measurements[key]`` is a ``(repetitions, qubits)`` int8 array whose columns follow the qubits of the Cirq
measurement (the qaas bit-order contract: column ``j`` is the ``j``-th component of the measure locus). A key that
was measured several times has ``records[key]`` of shape ``(repetitions, instances, qubits)``, as in Cirq.

Everything needed to rebuild the results travels with each circuit in its IQM metadata (schema ``qaas.cirq/1``):
the program index within the batch, the parameter values and, for repeated keys, the wire-key mapping. The ledger
stores the request, so a job can be turned into ``ResultDict`` s again from any process.

:class:`QaaSResult` and :class:`ResultMetadata` follow Cirq's JSON protocol (``cirq.to_json`` / ``cirq.read_json``,
see :mod:`qaas_cirq._json`); a result's JSON carries ``"schema": "qaas.cirq.result/1"``.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import cirq
import numpy as np
import sympy

import qaas_core as q
from qaas_cirq._json import JSON_NAMESPACE

__all__ = [
    "JSON_SCHEMA",
    "METADATA_SCHEMA",
    "CircuitInfo",
    "QaaSResult",
    "ResultMetadata",
    "circuit_metadata",
    "to_cirq_results",
]

METADATA_SCHEMA: Final = "qaas.cirq/1"
JSON_SCHEMA: Final = "qaas.cirq.result/1"  # QaaSResult's Cirq JSON


@dataclass(frozen=True)
class ResultMetadata:
    """Where a result came from.

    Attributes:
        submission_id: The qaas submission id (the job id of :class:`~qaas_cirq.QaaSJob`).
        heappe_job_id: The HEAppE job that ran it.
        iqm_job_id: The IQM job id.
        calibration_set_id: The calibration set the QPU used.
        circuit_index: Position of the circuit in the job.
        circuit_name: Name of the IQM circuit.
        program: Index of the program in the batch (0 for ``run`` / ``run_sweep``).
    """

    submission_id: str
    heappe_job_id: int | None
    iqm_job_id: str | None
    calibration_set_id: str | None
    circuit_index: int
    circuit_name: str
    program: int

    @classmethod
    def _json_namespace_(cls) -> str:
        return JSON_NAMESPACE

    def _json_dict_(self) -> dict[str, Any]:
        return cirq.dataclass_json_dict(self)


class QaaSResult(cirq.ResultDict):
    """A ``cirq.ResultDict`` that also says which job, IQM job and calibration set produced it.

    Attributes:
        metadata: The :class:`ResultMetadata`.
    """

    def __init__(
        self,
        *,
        params: cirq.ParamResolver | None,
        measurements: Mapping[str, np.ndarray] | None = None,
        records: Mapping[str, np.ndarray] | None = None,
        metadata: ResultMetadata,
    ) -> None:
        super().__init__(params=params, measurements=measurements, records=records)
        self.metadata = metadata

    @classmethod
    def _json_namespace_(cls) -> str:
        return JSON_NAMESPACE

    def _json_dict_(self) -> dict[str, Any]:
        return {"schema": JSON_SCHEMA, **super()._json_dict_(), "metadata": self.metadata}  # type: ignore[no-untyped-call]

    @classmethod
    def _from_json_dict_(cls, params: cirq.ParamResolver, **fields: Any) -> QaaSResult:
        """Rebuild a result from its Cirq JSON (``cirq.read_json`` calls this with the fields of ``_json_dict_``).

        Raises:
            PayloadError: the JSON is of another schema, or lacks records or metadata.
        """
        schema = fields.get("schema")
        if schema != JSON_SCHEMA:
            raise q.PayloadError(f"a QaaSResult of schema {schema!r}; this qaas-cirq reads {JSON_SCHEMA!r}")
        if not isinstance(fields.get("metadata"), ResultMetadata) or not isinstance(fields.get("records"), Mapping):
            raise q.PayloadError("a QaaSResult's JSON needs records and metadata")
        result = cls._from_packed_records(params=params, records=fields["records"], metadata=fields["metadata"])  # type: ignore[no-untyped-call]
        return cast("QaaSResult", result)


@dataclass(frozen=True)
class CircuitInfo:
    """What turns the bits of one IQM circuit back into a Cirq result.

    Attributes:
        program: Index of the program in the batch.
        programs: Number of programs in the batch.
        params: The parameter resolver of this circuit.
        keys: Wire key -> ``(Cirq key, instance)`` for repeated keys (empty when every key is sent as is).
    """

    program: int
    programs: int
    params: cirq.ParamResolver
    keys: Mapping[str, tuple[str, int]]

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, name: str) -> CircuitInfo:
        """Read the ``qaas.cirq/1`` metadata of a circuit.

        Raises:
            PayloadError: the circuit was not submitted by qaas-cirq, or its metadata is damaged.
        """
        if not isinstance(metadata, Mapping) or metadata.get("schema") != METADATA_SCHEMA:
            raise q.PayloadError(f"circuit {name!r} carries no {METADATA_SCHEMA} metadata; was it sent by qaas-cirq?")
        try:
            keys = {str(w): (str(k), int(i)) for w, (k, i) in (metadata.get("keys") or {}).items()}
            params = {str(k): v for k, v in (metadata.get("params") or {}).items()}
            program, programs = int(metadata["program"]), int(metadata["programs"])
            if not 0 <= program < programs:
                raise ValueError(f"program {program} of {programs}")
            return cls(program, programs, cirq.ParamResolver(params), keys)
        except (KeyError, TypeError, ValueError) as exc:
            raise q.PayloadError(f"circuit {name!r}: damaged {METADATA_SCHEMA} metadata ({exc})") from exc


def _json_value(value: object) -> float | None:
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, sympy.Basic) and not value.free_symbols and value.is_real:
        return float(value)
    return None


def circuit_metadata(info: CircuitInfo) -> dict[str, Any]:
    """The JSON metadata that lets any process rebuild the results of a circuit (real-valued parameters only)."""
    params: dict[str, float] = {}
    for key, value in info.params.param_dict.items():
        name = key if isinstance(key, str) else getattr(key, "name", str(key))
        number = _json_value(value)
        if number is None:
            number = _json_value(info.params.value_of(sympy.Symbol(name)))
        if number is not None:
            params[name] = number
    out: dict[str, Any] = {
        "schema": METADATA_SCHEMA,
        "program": info.program,
        "programs": info.programs,
        "params": params,
    }
    if info.keys:
        out["keys"] = {w: [k, i] for w, (k, i) in info.keys.items()}
    return out


def _records(circuit: q.CircuitResult, keys: Mapping[str, tuple[str, int]]) -> dict[str, np.ndarray]:
    grouped: dict[str, list[tuple[int, np.ndarray]]] = {}
    for wire in circuit.keys:
        key, instance = keys.get(wire, (wire, 0))
        grouped.setdefault(key, []).append((instance, circuit.bits(wire).view(np.int8)))
    return {key: np.stack([bits for _, bits in sorted(parts, key=lambda p: p[0])], axis=1)
            for key, parts in grouped.items()}  # fmt: skip


def to_cirq_results(result: q.Result, infos: Sequence[CircuitInfo]) -> list[QaaSResult]:
    """One :class:`QaaSResult` per circuit of the job, in submission order.

    Raises:
        PayloadError: the result does not match the submitted circuits, or kept counts only.
    """
    if len(result.circuits) != len(infos):
        raise q.PayloadError(f"the job returned {len(result.circuits)} circuit results for {len(infos)} circuits")
    out = []
    for index, (circuit, info) in enumerate(zip(result.circuits, infos, strict=True)):
        meta = ResultMetadata(
            submission_id=result.submission_id,
            heappe_job_id=result.heappe_job_id,
            iqm_job_id=result.iqm_job_id,
            calibration_set_id=result.calibration_set_id,
            circuit_index=index,
            circuit_name=circuit.name,
            program=info.program,
        )
        if info.keys:
            out.append(QaaSResult(params=info.params, records=_records(circuit, info.keys), metadata=meta))
        else:
            measurements = {key: circuit.bits(key).view(np.int8) for key in circuit.keys}
            out.append(QaaSResult(params=info.params, measurements=measurements, metadata=meta))
    return out
