"""JSON wire documents: circuit batches, the IQM job request, and the ``qaas.run/1`` envelope.

* :func:`encode_circuits` / :func:`decode_circuits`: a JSON array of circuits, exactly as the IQM server takes them.
* :class:`RunOptions`: the closed set of IQM execution options (unknown names are an error).
* :func:`encode_iqm_job` / :func:`decode_iqm_job`: the body of ``POST /api/v1/jobs/{qc}/circuit``
  (iqm-client's ``CircuitJobDefinition``), with ``qubit_mapping`` in the legacy list form.
* :class:`RunRequest`: what a client uploads to the cluster (``request.json``), schema ``qaas.run/1``.

Every decoder raises only :class:`~qaas_core.PayloadError` (malformed document) or
:class:`~qaas_core.CircuitError` (a well-formed document that breaks a circuit rule).

The limits of a run request (:data:`MAX_SHOTS`, :data:`MAX_CIRCUITS`, :data:`MAX_SUBMISSION_ID_LENGTH`, and the
circuit limits of :mod:`qaas_core._circuit`) are defined here once and used by the ``qaas.result/1`` decoder too:
whatever :func:`encode_run_request` accepts has a result that :func:`~qaas_core.decode_result` accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from qaas_core._circuit import Circuit, _name_problem, _show, check_circuit
from qaas_core._errors import PayloadError, ValidationError

__all__ = [
    "CALIBRATION_SET_ID_PATTERN",
    "MAX_CIRCUITS",
    "MAX_SHOTS",
    "MAX_SUBMISSION_ID_LENGTH",
    "RUN_SCHEMA",
    "IQMJob",
    "RunOptions",
    "RunRequest",
    "check_calibration_set_id",
    "decode_circuits",
    "decode_iqm_job",
    "decode_run_request",
    "encode_circuits",
    "encode_iqm_job",
    "encode_run_request",
]

RUN_SCHEMA: Final = "qaas.run/1"

MAX_SHOTS: Final = 1_000_000
"""Most shots per circuit of one job."""
MAX_CIRCUITS: Final = 100_000
"""Most circuits in one job."""
MAX_SUBMISSION_ID_LENGTH: Final = 128
"""Most characters in a submission id (a uuid4 string has 36)."""
CALIBRATION_SET_ID_PATTERN: Final = r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
"""A calibration set id is a UUID in canonical form: lower-case hex digits grouped 8-4-4-4-12."""

Shots = Annotated[int, msgspec.Meta(ge=1, le=MAX_SHOTS)]
SubmissionId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SUBMISSION_ID_LENGTH)]
CalibrationSetId = Annotated[str, msgspec.Meta(pattern=CALIBRATION_SET_ID_PATTERN)]
_CALIBRATION_SET_ID: Final = re.compile(CALIBRATION_SET_ID_PATTERN)

HeraldingMode = Literal["none", "zeros"]
MoveGateValidationMode = Literal["strict", "allow_prx", "none"]
MoveGateFrameTracking = Literal["full", "no_detuning_correction", "none"]
DDMode = Literal["disabled", "enabled"]

_encoder: Final = msgspec.json.Encoder()
_circuits_decoder: Final = msgspec.json.Decoder(tuple[Circuit, ...])
T = TypeVar("T")


class RunOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """IQM execution options of a job (closed set: unknown names are rejected).

    Attributes:
        max_circuit_duration_over_t2: reject circuits longer than this fraction of the worst T2
            (0 disables, None uses the server default).
        heralding_mode: ``zeros`` post-selects shots whose qubits were all 0 before the circuit.
        move_gate_validation: MOVE sandwich rule, ``strict``, ``allow_prx`` or ``none``.
        move_gate_frame_tracking: ``full``, ``no_detuning_correction`` or ``none``.
        active_reset_cycles: active reset rounds before each shot (None: reset by waiting).
        dd_mode: dynamical decoupling, ``disabled`` or ``enabled``.
        dd_strategy: IQM ``DDStrategy`` object, or None for the server default.
    """

    max_circuit_duration_over_t2: Annotated[float, msgspec.Meta(ge=0.0)] | None = None
    heralding_mode: HeraldingMode = "none"
    move_gate_validation: MoveGateValidationMode = "strict"
    move_gate_frame_tracking: MoveGateFrameTracking = "full"
    active_reset_cycles: int | None = None
    dd_mode: DDMode = "disabled"
    dd_strategy: dict[str, Any] | None = None

    @classmethod
    def create(cls, **options: Any) -> RunOptions:
        """Build options from keyword arguments, checking names, types and combinations.

        Raises:
            ValidationError: an unknown option, a wrong type or value, or a forbidden combination.
        """
        try:
            opts = msgspec.convert(options, cls)
        except msgspec.ValidationError as exc:
            known = ", ".join(cls.__struct_fields__)
            raise ValidationError(f"invalid run option: {exc}. Known options: {known}") from exc
        problem = _options_problem(opts)
        if problem is not None:
            raise ValidationError(problem)
        return opts

    def to_dict(self) -> dict[str, Any]:
        """Options as a plain dict (all fields)."""
        return {f: getattr(self, f) for f in self.__struct_fields__}


def _options_problem(opts: RunOptions) -> str | None:
    """Why a combination of options is invalid (the checks the types cannot express), or None."""
    limit = opts.max_circuit_duration_over_t2
    if limit is not None and not math.isfinite(limit):
        return "max_circuit_duration_over_t2 must be finite; use 0.0 to disable the check"
    if opts.move_gate_frame_tracking == "full" and opts.move_gate_validation == "none":
        return "move_gate_frame_tracking='full' needs move_gate_validation 'strict' or 'allow_prx'"
    return None


def _calibration_set_message(value: object) -> str:
    return (
        f"calibration_set_id must be a UUID in canonical form (lower-case, 8-4-4-4-12 hex digits, e.g. "
        f"'26c5e70f-bea0-43af-bd37-6212ec7d04cb'), got {_show(value)}"
    )


def check_calibration_set_id(value: object) -> str:
    """Check a calibration set id before it goes anywhere (a request, a job's environment, a file name).

    Args:
        value: the id as given.

    Returns:
        The same id (a canonical UUID string).

    Raises:
        ValidationError: not a string holding a UUID in canonical lower-case 8-4-4-4-12 form.
    """
    if isinstance(value, str) and _CALIBRATION_SET_ID.search(value):
        return value
    raise ValidationError(_calibration_set_message(value))


class _MappingEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    logical_name: str
    physical_name: str


class IQMJob(msgspec.Struct, frozen=True):
    """A decoded IQM circuit job request (``CircuitJobDefinition``)."""

    circuits: tuple[Circuit, ...]
    shots: Shots = 1
    calibration_set_id: str | None = None
    qubit_mapping: dict[str, str] | None = None
    options: RunOptions = RunOptions()


class _IQMJobWire(msgspec.Struct, frozen=True):
    """Exact wire shape of the IQM job request; field order follows iqm-client."""

    circuits: tuple[Circuit, ...]
    calibration_set_id: str | None = None
    qubit_mapping: tuple[_MappingEntry, ...] | None = None
    shots: Shots = 1
    max_circuit_duration_over_t2: Annotated[float, msgspec.Meta(ge=0.0)] | None = None
    heralding_mode: HeraldingMode = "none"
    move_gate_validation: MoveGateValidationMode = "strict"
    move_gate_frame_tracking: MoveGateFrameTracking = "full"
    active_reset_cycles: int | None = None
    dd_mode: DDMode = "disabled"
    dd_strategy: dict[str, Any] | None = None


class _IQMJobWireIn(_IQMJobWire, frozen=True):
    # deprecated aliases that iqm-client still writes next to the new names
    move_validation_mode: MoveGateValidationMode | None = None
    move_gate_frame_tracking_mode: MoveGateFrameTracking | None = None


_iqm_job_decoder: Final = msgspec.json.Decoder(_IQMJobWireIn)


class RunRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``qaas.run/1`` envelope a client uploads as ``request.json``.

    Attributes:
        schema: always ``qaas.run/1``.
        submission_id: client-generated id; the cluster side refuses to run the same id twice.
        shots: shots per circuit.
        circuits: the batch, in the IQM transfer format.
        resource: LEXIS resource name the batch was prepared for.
        calibration_set_id: calibration set the batch was compiled against (None: server default).
        qubit_mapping: logical -> physical names, for circuits written with logical names.
        options: IQM execution options.
        memory: keep every shot (True) or only counts (False) in the result.
        client: informational versions of the submitting software.
    """

    schema: Literal["qaas.run/1"]
    submission_id: SubmissionId
    shots: Shots
    circuits: Annotated[tuple[Circuit, ...], msgspec.Meta(max_length=MAX_CIRCUITS)]
    resource: str | None = None
    calibration_set_id: CalibrationSetId | None = None
    qubit_mapping: dict[str, str] | None = None
    options: RunOptions = RunOptions()
    memory: bool = True
    client: dict[str, str] = {}


_run_decoder: Final = msgspec.json.Decoder(RunRequest)


def _decode(decoder: msgspec.json.Decoder[T], data: bytes | str, what: str) -> T:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise PayloadError(f"invalid {what}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(f"{what} is not valid JSON: {exc}") from exc
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. str with lone surrogates
        raise PayloadError(f"{what} cannot be decoded: {exc}") from exc


def _check_batch(circuits: Sequence[Circuit]) -> None:
    if not circuits:
        raise PayloadError("the batch has no circuits")
    for position, circuit in enumerate(circuits):
        check_circuit(circuit, position=position)


def encode_circuits(circuits: Sequence[Circuit]) -> bytes:
    """Encode circuits as a JSON array in the IQM wire shape (no checks; see :func:`check_circuit`)."""
    return _encoder.encode(circuits)


def decode_circuits(data: bytes | str) -> tuple[Circuit, ...]:
    """Decode and check a JSON array of circuits.

    Raises:
        PayloadError: not JSON, or not shaped like circuits.
        CircuitError: a circuit breaks a transfer-format rule.
    """
    circuits = _decode(_circuits_decoder, data, "circuit batch")
    _check_batch(circuits)
    return circuits


def _check_mapping(mapping: Mapping[str, str] | None, circuits: Sequence[Circuit]) -> None:
    if mapping is None:
        return
    for logical, physical_name in mapping.items():
        problem = _name_problem(logical) or _name_problem(physical_name)
        if problem is not None:
            raise PayloadError(f"qubit_mapping: every logical and physical name {problem}")
    physical = list(mapping.values())
    if len(set(physical)) != len(physical):
        raise PayloadError("qubit_mapping is not injective: two logical names map to one physical component")
    for circuit in circuits:
        for component in circuit.components():
            if component not in mapping:
                raise PayloadError(f"qubit_mapping does not cover {component!r} used in circuit {circuit.name!r}")


def encode_iqm_job(
    circuits: Sequence[Circuit],
    *,
    shots: int,
    options: RunOptions | None = None,
    calibration_set_id: str | None = None,
    qubit_mapping: Mapping[str, str] | None = None,
) -> bytes:
    """Encode the body of an IQM circuit job request.

    Raises:
        PayloadError: no circuits, bad shots, or a qubit mapping that does not fit the circuits.
        CircuitError: a circuit breaks a transfer-format rule.
    """
    if type(shots) is not int or not 1 <= shots <= MAX_SHOTS:
        raise PayloadError(f"shots must be an integer between 1 and {MAX_SHOTS}, got {shots!r}")
    _check_batch(circuits)
    _check_mapping(qubit_mapping, circuits)
    opts = options or RunOptions()
    wire = _IQMJobWire(
        circuits=tuple(circuits),
        calibration_set_id=calibration_set_id,
        qubit_mapping=None if qubit_mapping is None else tuple(_MappingEntry(k, v) for k, v in qubit_mapping.items()),
        shots=shots,
        **opts.to_dict(),
    )
    return _encoder.encode(wire)


def decode_iqm_job(data: bytes | str) -> IQMJob:
    """Decode an IQM circuit job request, as the IQM server would.

    Accepts the deprecated aliases ``move_validation_mode`` and ``move_gate_frame_tracking_mode``.

    Raises:
        PayloadError: malformed request.
        CircuitError: a circuit breaks a transfer-format rule.
    """
    wire = _decode(_iqm_job_decoder, data, "IQM job request")
    _check_batch(wire.circuits)
    mapping = None if wire.qubit_mapping is None else {e.logical_name: e.physical_name for e in wire.qubit_mapping}
    _check_mapping(mapping, wire.circuits)
    fields = {f: getattr(wire, f) for f in RunOptions.__struct_fields__}
    if wire.move_validation_mode is not None or wire.move_gate_frame_tracking_mode is not None:
        # only the deprecated alias given: honour it; both given: the current name wins
        present = _raw_keys(data)
        if wire.move_validation_mode is not None and "move_gate_validation" not in present:
            fields["move_gate_validation"] = wire.move_validation_mode
        if wire.move_gate_frame_tracking_mode is not None and "move_gate_frame_tracking" not in present:
            fields["move_gate_frame_tracking"] = wire.move_gate_frame_tracking_mode
    return IQMJob(
        circuits=wire.circuits,
        shots=wire.shots,
        calibration_set_id=wire.calibration_set_id,
        qubit_mapping=mapping,
        options=RunOptions(**fields),
    )


def _raw_keys(data: bytes | str) -> set[str]:
    raw = msgspec.json.decode(data)
    return set(raw) if isinstance(raw, dict) else set()


def _check_envelope(request: RunRequest) -> None:
    """The checks :func:`decode_run_request` makes through the types, for a request built in Python."""
    sid = request.submission_id
    if type(sid) is not str or not 1 <= len(sid) <= MAX_SUBMISSION_ID_LENGTH:
        raise PayloadError(f"submission_id must be a string of 1 to {MAX_SUBMISSION_ID_LENGTH} characters")
    shots = request.shots
    if type(shots) is not int or not 1 <= shots <= MAX_SHOTS:
        raise PayloadError(f"shots must be an integer between 1 and {MAX_SHOTS}, got {_show(shots)}")
    if len(request.circuits) > MAX_CIRCUITS:
        raise PayloadError(f"the batch has {len(request.circuits)} circuits; at most {MAX_CIRCUITS} fit in one job")
    if request.calibration_set_id is not None:
        try:
            check_calibration_set_id(request.calibration_set_id)
        except ValidationError as exc:
            raise PayloadError(exc.message) from None
    if not isinstance(request.options, RunOptions):
        raise PayloadError(f"options must be RunOptions, got {type(request.options).__name__}")
    try:
        options = msgspec.convert(msgspec.to_builtins(request.options), RunOptions)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        raise PayloadError(f"invalid run option: {exc}") from exc
    problem = _options_problem(options)
    if problem is not None:
        raise PayloadError(problem)


def encode_run_request(request: RunRequest) -> bytes:
    """Encode a ``qaas.run/1`` envelope, after the checks :func:`decode_run_request` will make on the cluster.

    Raises:
        PayloadError: no or too many circuits, bad shots, submission id, calibration set id or options, or a qubit
            mapping that does not fit.
        CircuitError: a circuit breaks a transfer-format rule.
    """
    _check_envelope(request)
    _check_batch(request.circuits)
    _check_mapping(request.qubit_mapping, request.circuits)
    try:
        return _encoder.encode(request)
    except (TypeError, ValueError, RecursionError) as exc:  # e.g. a lone surrogate in `resource` or `client`
        raise PayloadError(f"the run request cannot be encoded as JSON: {exc}") from exc


def decode_run_request(data: bytes | str) -> RunRequest:
    """Decode and check a ``qaas.run/1`` envelope.

    Raises:
        PayloadError: malformed, or another schema.
        CircuitError: a circuit breaks a transfer-format rule.
    """
    request = _decode(_run_decoder, data, "run request")
    _check_batch(request.circuits)
    _check_mapping(request.qubit_mapping, request.circuits)
    return request
