"""The ``qaas.result/1`` document: what the cluster side writes as ``result.json`` after a job.

Per circuit, every measurement key keeps its shots compactly: the ``(shots, width)`` bit matrix, row-major, packed
8 bits per byte (most significant first) and base64-encoded. When the request did not ask for per-shot memory the
worker stores only ``counts`` (bitstrings of the keys concatenated in ``keys`` order, each key's bits in locus
order).

The bit order contract: within one measurement key, bit ``j`` is the ``j``-th component of the ``measure``
instruction's locus. Nothing is reversed here; adapters map keys and bits to their framework's conventions.

Limits on names, widths, shots and circuit counts are those of the request (:mod:`qaas_core._circuit`,
:mod:`qaas_core._wire`), so every accepted request has a readable result; :func:`check_result_against_request` then
checks that a result actually answers its request.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import msgspec

from qaas_core._circuit import MAX_MEASURE_WIDTH, MAX_NAME_LENGTH, _show
from qaas_core._errors import PayloadError, ResponseError
from qaas_core._wire import MAX_CIRCUITS, MAX_SHOTS, SubmissionId

if TYPE_CHECKING:
    import numpy as np

    from qaas_core._wire import RunRequest

__all__ = [
    "RESULT_SCHEMA",
    "CircuitResult",
    "Result",
    "ResultDocument",
    "TimelineEntry",
    "check_result_against_request",
    "completed_result",
    "decode_result",
    "encode_result",
    "max_result_bytes",
    "pack_shots",
    "unpack_shots",
]

RESULT_SCHEMA: Final = "qaas.result/1"
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
_Width = Annotated[int, msgspec.Meta(ge=1, le=MAX_MEASURE_WIDTH)]
_Shots = Annotated[int, msgspec.Meta(ge=0, le=MAX_SHOTS)]


class TimelineEntry(msgspec.Struct, frozen=True):
    """One step of a job's history (IQM's timeline, plus the cluster side's own steps)."""

    status: str
    timestamp: str
    source: str = ""


class JobMessage(msgspec.Struct, frozen=True):
    """An error or message reported for a job."""

    message: str
    source: str = ""
    error_code: str | None = None


class CircuitResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Results of one circuit.

    Attributes:
        name: circuit name as submitted.
        shots: shots returned (heralding may return fewer than asked).
        keys: measurement key -> number of measured components, in program order.
        memory: key -> base64 of the packed ``(shots, width)`` bit matrix; None when only counts were kept.
        counts: bitstring (all keys concatenated in ``keys`` order) -> count; None when memory is kept.
    """

    name: _Name
    shots: _Shots
    keys: dict[_Name, _Width]
    memory: dict[str, str] | None = None
    counts: dict[str, _Shots] | None = None

    def bits(self, key: str) -> np.ndarray:
        """The ``(shots, width)`` uint8 bit matrix of one key.

        Raises:
            PayloadError: the key is unknown, only counts were kept, or the stored data is corrupt.
        """
        if key not in self.keys:
            raise PayloadError(f"circuit {self.name!r} has no measurement key {key!r}; keys: {list(self.keys)}")
        if self.memory is None or key not in self.memory:
            raise PayloadError(f"circuit {self.name!r} kept counts only; per-shot memory was not requested")
        return unpack_shots(self.memory[key], self.shots, self.keys[key])

    def bitstring_counts(self) -> dict[str, int]:
        """Counts of the concatenated bitstrings (all keys, ``keys`` order), from memory or stored counts."""
        if self.counts is not None:
            return dict(self.counts)
        import numpy as np

        if not self.keys:
            return {"": self.shots} if self.shots else {}
        matrix = np.concatenate([self.bits(k) for k in self.keys], axis=1)
        rows = ["".join(map(str, row)) for row in matrix.tolist()]
        return dict(Counter(rows))


class ResultDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``qaas.result/1`` document.

    Attributes:
        schema: always ``qaas.result/1``.
        submission_id: the client's id of the submission this answers.
        status: ``completed``, ``failed`` or ``cancelled``.
        iqm_job_id: the IQM server's job id, if a job was created.
        calibration_set_id: calibration set the job ran with.
        circuits: per-circuit results, in submission order (empty unless completed).
        timeline: job history.
        errors: what went wrong, if anything.
        worker: informational versions of the cluster-side software.
    """

    schema: Literal["qaas.result/1"]
    submission_id: SubmissionId
    status: Literal["completed", "failed", "cancelled"]
    iqm_job_id: str | None = None
    calibration_set_id: str | None = None
    circuits: Annotated[tuple[CircuitResult, ...], msgspec.Meta(max_length=MAX_CIRCUITS)] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    errors: tuple[JobMessage, ...] = ()
    worker: dict[str, str] = {}


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(ResultDocument)


def pack_shots(bits: np.ndarray) -> str:
    """Pack a ``(shots, width)`` 0/1 matrix into base64 (row-major, 8 bits per byte, MSB first)."""
    import numpy as np

    return base64.b64encode(np.packbits(np.asarray(bits, dtype=np.uint8), axis=None).tobytes()).decode("ascii")


def unpack_shots(data: str, shots: int, width: int) -> np.ndarray:
    """Inverse of :func:`pack_shots`.

    Raises:
        PayloadError: not base64, or too short for ``shots`` x ``width`` bits.
    """
    import numpy as np

    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"shot data is not valid base64: {exc}") from exc
    need = shots * width
    if len(raw) != (need + 7) // 8:
        raise PayloadError(f"shot data has {len(raw)} bytes, expected {(need + 7) // 8} for {shots}x{width} bits")
    flat = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=need)
    return flat.reshape(shots, width)


def circuit_result(
    name: str, measurements: Mapping[str, Any], shots: int, *, memory: bool, keys: Sequence[tuple[str, int]]
) -> CircuitResult:
    """Build a :class:`CircuitResult` from per-key bit matrices (numpy arrays or nested lists)."""
    import numpy as np

    arrays = {k: np.asarray(measurements[k], dtype=np.uint8).reshape(shots, w) for k, w in keys}
    if memory:
        return CircuitResult(name, shots, dict(keys), memory={k: pack_shots(a) for k, a in arrays.items()})
    if keys:
        matrix = np.concatenate([arrays[k] for k, _ in keys], axis=1)
        uniq, counts = np.unique(matrix, axis=0, return_counts=True)
        table = {"".join(map(str, row)): int(c) for row, c in zip(uniq.tolist(), counts.tolist(), strict=True)}
    else:
        table = {"": shots} if shots else {}
    return CircuitResult(name, shots, dict(keys), counts=table)


_RESULT_OVERHEAD: Final = 1 << 20  # timeline, errors, versions and the envelope
_ENTRY_OVERHEAD: Final = 64  # quotes, separators and a count of up to MAX_SHOTS


def max_result_bytes(request: RunRequest) -> int:
    """The largest ``result.json`` (decompressed) that can answer ``request``: what a reader may accept at most.

    Per circuit: its name and keys, and either the packed shot matrix of every key in base64 or at most
    ``min(shots, 2**bits)`` counted bitstrings; plus 1 MiB for the rest of the document. A result larger than this
    cannot be an honest answer, so it is refused before it is decoded (a decompression bomb costs nothing).
    """
    total = _RESULT_OVERHEAD
    for circuit in request.circuits:
        keys = [(str(i.args["key"]), len(i.locus)) for i in circuit.instructions if i.name == "measure"]
        total += 6 * len(circuit.name) + _ENTRY_OVERHEAD
        total += sum(6 * len(key) + _ENTRY_OVERHEAD for key, _width in keys)
        if request.memory:
            total += sum(4 * ((request.shots * width + 7) // 8 + 2) // 3 + _ENTRY_OVERHEAD for _key, width in keys)
        else:
            bits = sum(width for _key, width in keys)
            distinct = request.shots if bits >= 20 else min(request.shots, 2**bits)
            total += distinct * (bits + _ENTRY_OVERHEAD)
    return total


def completed_result(
    request: RunRequest,
    measurements: Sequence[Mapping[str, Any]],
    *,
    iqm_job_id: str,
    calibration_set_id: str | None,
    timeline: Sequence[TimelineEntry] = (),
    errors: Sequence[JobMessage] = (),
    worker: Mapping[str, str] | None = None,
) -> ResultDocument:
    """The ``qaas.result/1`` document of a completed IQM job: its per-circuit measurements (IQM's
    ``artifacts/measurements``: key -> shots x bits) kept as the request asked (memory or counts).

    Raises:
        ResponseError: the measurements do not match the request's circuits or keys.
    """
    if len(measurements) != len(request.circuits):
        raise ResponseError(
            f"the IQM server returned measurements of {len(measurements)} circuits for {len(request.circuits)}"
        )
    circuits = []
    for circuit, shots in zip(request.circuits, measurements, strict=True):
        keys = [(str(i.args["key"]), len(i.locus)) for i in circuit.instructions if i.name == "measure"]
        if set(shots) != {k for k, _ in keys}:
            raise ResponseError(f"circuit {circuit.name!r}: measurement keys {sorted(shots)} != {[k for k, _ in keys]}")
        count = len(next(iter(shots.values()))) if shots else 0
        try:
            circuits.append(circuit_result(circuit.name, shots, count, memory=request.memory, keys=keys))
        except ValueError as exc:
            raise ResponseError(f"circuit {circuit.name!r}: malformed measurements ({exc})") from exc
    return ResultDocument(
        schema=RESULT_SCHEMA, submission_id=request.submission_id, status="completed", iqm_job_id=iqm_job_id,
        calibration_set_id=calibration_set_id, circuits=tuple(circuits), timeline=tuple(timeline),
        errors=tuple(errors), worker=dict(worker or {}),
    )  # fmt: skip


def encode_result(document: ResultDocument) -> bytes:
    """Encode a ``qaas.result/1`` document."""
    return _encoder.encode(document)


def decode_result(data: bytes | str) -> ResultDocument:
    """Decode and check a ``qaas.result/1`` document.

    Raises:
        PayloadError: malformed, another schema, or shot data inconsistent with its declared size.
    """
    try:
        doc = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise PayloadError(f"invalid result document: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(f"result document is not valid JSON: {exc}") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(f"result document cannot be decoded: {exc}") from exc
    for c in doc.circuits:
        problem = _data_problem(c)
        if problem is not None:
            raise PayloadError(f"circuit {c.name!r}: {problem}")
    return doc


def _base64_size(text: str) -> int | None:
    """Bytes that a padded base64 text decodes to (from its length alone), or None if the length is impossible."""
    if len(text) % 4:
        return None
    return len(text) // 4 * 3 - (len(text) - len(text.rstrip("=")) if text.endswith("=") else 0)


def _data_problem(c: CircuitResult) -> str | None:
    """Why the stored shots of ``c`` contradict its declared ``shots`` and ``keys``, or None."""
    if (c.memory is None) == (c.counts is None):
        return "exactly one of memory and counts must be present"
    if c.memory is not None:
        if set(c.memory) != set(c.keys):
            return f"memory keys {sorted(c.memory)} != keys {sorted(c.keys)}"
        for key, packed in c.memory.items():
            need = (c.shots * c.keys[key] + 7) // 8
            if type(packed) is not str or _base64_size(packed) != need:
                return f"shot data of key {key!r} has the wrong length for {c.shots} shots x {c.keys[key]} bits"
    elif c.counts is not None:
        width = sum(c.keys.values())
        total = sum(c.counts.values())
        if total != c.shots:
            return f"counts add up to {total}, not {c.shots}"
        for bitstring in c.counts:
            if len(bitstring) != width or set(bitstring) - {"0", "1"}:
                return f"bad bitstring {bitstring[:40]!r} in counts"
    return None


def check_result_against_request(document: ResultDocument, request: RunRequest) -> None:
    """Check that a result document answers ``request``, circuit by circuit and key by key.

    A completed result has exactly the request's circuits, by name and in order; per circuit exactly the measurement
    keys of its ``measure`` instructions, in program order, each as wide as its locus; per-shot memory when the request
    asked for it; and the requested number of shots (fewer only when heralding may discard some, or for a circuit
    without measurements, whose shots nothing counts). A failed or cancelled result carries no circuits. Pure: no I/O.

    Args:
        document: the decoded ``result.json``.
        request: the ``qaas.run/1`` request it claims to answer.

    Raises:
        ResponseError: the result does not fit the request; the message names the circuit and key.
    """
    if document.submission_id != request.submission_id:
        raise ResponseError(
            f"the result answers submission {_show(document.submission_id)}, not {request.submission_id!r}"
        )
    if document.status != "completed":
        if document.circuits:
            raise ResponseError(f"a {document.status} result carries {len(document.circuits)} circuit result(s)")
        return
    got, asked = len(document.circuits), len(request.circuits)
    if got != asked:
        raise ResponseError(f"the result has {got} circuit(s), the request {asked}")
    heralding = request.options.heralding_mode != "none"
    for index, (result, circuit) in enumerate(zip(document.circuits, request.circuits, strict=True)):
        where = f"circuit {index} ({_show(circuit.name)})"
        if result.name != circuit.name:
            names = [c.name for c in request.circuits]
            detail = "out of order" if result.name in names else "not in the request"
            raise ResponseError(f"{where}: the result names it {_show(result.name)} ({detail})")
        measured = circuit.measurement_keys()
        if list(result.keys) != list(measured):
            missing = [k for k in measured if k not in result.keys]
            extra = [k for k in result.keys if k not in measured]
            detail = f"missing {_show(missing)}, unexpected {_show(extra)}" if missing or extra else "in another order"
            raise ResponseError(
                f"{where}: measurement keys {_show(list(result.keys))} != requested {_show(list(measured))} ({detail})"
            )
        for key, locus in measured.items():
            if result.keys[key] != len(locus):
                raise ResponseError(
                    f"{where}, key {_show(key)}: {result.keys[key]} bit(s) per shot, but {len(locus)} qubit(s) measured"
                )
        if request.memory and result.memory is None:
            raise ResponseError(f"{where}: per-shot memory was requested, the result keeps counts only")
        # fewer shots only under heralding; a circuit without measurements has no data to count shots by
        short_ok = heralding or not measured
        if result.shots > request.shots or (result.shots < request.shots and not short_ok):
            allowed = f"at most {request.shots}" if short_ok else str(request.shots)
            raise ResponseError(f"{where}: {result.shots} shots returned, expected {allowed}")
        problem = _data_problem(result)
        if problem is not None:
            raise ResponseError(f"{where}: {problem}")


class Result:
    """The results of one job, as a client sees them.

    Attributes:
        document: the ``qaas.result/1`` document.
        submission_id: the client's id of the submission.
        heappe_job_id: the HEAppE job that ran it (None for results read from a file).
        iqm_job_id: the IQM job id.
        calibration_set_id: the calibration set the QPU used.
    """

    def __init__(self, document: ResultDocument, *, heappe_job_id: int | None = None) -> None:
        self.document = document
        self.submission_id = document.submission_id
        self.heappe_job_id = heappe_job_id
        self.iqm_job_id = document.iqm_job_id
        self.calibration_set_id = document.calibration_set_id

    @property
    def circuits(self) -> tuple[CircuitResult, ...]:
        """Per-circuit results in submission order."""
        return self.document.circuits

    @property
    def timeline(self) -> tuple[TimelineEntry, ...]:
        """The job's history."""
        return self.document.timeline

    @property
    def qpu_seconds(self) -> float | None:
        """The QPU time the server reported (its timeline's ``execution_started`` to ``execution_ended``)."""
        from qaas_core._estimate import qpu_seconds_from_timeline

        return qpu_seconds_from_timeline(self.document.timeline)

    def __len__(self) -> int:
        return len(self.document.circuits)

    def __getitem__(self, index: int) -> CircuitResult:
        return self.document.circuits[index]

    def counts(self, index: int = 0) -> dict[str, int]:
        """Bitstring counts of circuit ``index`` (all measurement keys concatenated in program order)."""
        return self.document.circuits[index].bitstring_counts()

    def memory(self, index: int, key: str) -> np.ndarray:
        """The ``(shots, width)`` bits of one measurement key of circuit ``index``.

        Raises:
            PayloadError: unknown key, or only counts were kept.
        """
        return self.document.circuits[index].bits(key)

    def __repr__(self) -> str:
        return f"<Result {self.submission_id} heappe={self.heappe_job_id} iqm={self.iqm_job_id} {len(self)} circuit(s)>"
