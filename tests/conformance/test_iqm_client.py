"""Conformance of qaas_core's IQM transfer format with the real iqm-client 36.

What is proven here, against iqm-client's own code (pydantic models, ``IQMClient.create_circuit_job_definition``
run offline, ``validate_circuit_instructions``):

1. Forward: the bytes of :func:`qaas_core.encode_iqm_job` parse in ``CircuitJobDefinition``, give
   ``iqm.pulse.Circuit`` / ``CircuitOperation`` objects equal to ours (names, locus, args with their JSON types,
   implementation, metadata), pass iqm-client's validation, and are the very JSON iqm-client writes for the same
   job (less its two deprecated alias fields). Every native operation by hand, then random valid batches
   (hypothesis) on a square lattice, a star without resonator and two devices around a computational resonator.
2. Reverse: requests built from iqm-client objects (``model_dump_json``) decode in :func:`qaas_core.decode_iqm_job`
   to equal circuits and options, deprecated aliases included; a JSON list of iqm circuits decodes in
   :func:`qaas_core.decode_circuits`.
3. The DQA of every profile parses as iqm-client's ``DynamicQuantumArchitecture`` and reads back unchanged.
4. Invalid circuits are rejected by both validators (or, where only we reject, that is said and only our side is
   asserted).
5. ``qubit_mapping`` travels in the legacy list form.

``iqm`` is imported only in this folder: qaas_core itself must never depend on it.
"""

from __future__ import annotations

import json
import math
import types
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import msgspec
import pydantic
import pytest
from exa.common.errors.iqm_error import CircuitValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iqm.iqm_client.iqm_client import IQMClient
from iqm.iqm_client.models import CircuitCompilationOptions
from iqm.iqm_client.validation import validate_circuit_instructions, validate_qubit_mapping
from iqm.pulse import Circuit as IQMCircuit
from iqm.pulse import CircuitOperation
from iqm.station_control.interface.models import (
    DDMode,
    DDStrategy,
    DynamicQuantumArchitecture,
    GateImplementationInfo,
    GateInfo,
    HeraldingMode,
    MoveGateFrameTrackingMode,
    MoveGateValidationMode,
)
from iqm.station_control.interface.models.circuit import CircuitJobDefinition

import qaas_core as q

# iqm-client's CircuitBatch is a union with its deprecated legacy circuit class: pydantic tries that member on every
# parse, which warns even for the JSON iqm-client itself writes. Not ours to fix; every other warning stays an error.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`iqm\.station_control\.interface\.models\.circuit\._(Instruction|Circuit)` is deprecated"
    ":DeprecationWarning"
)

HYPOTHESIS = settings(
    max_examples=50,
    deadline=None,
    database=None,  # write nothing outside the tree's own files
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# the deprecated names iqm-client 36 writes next to the current ones (computed fields of CircuitJobDefinition)
ALIASES = {"move_validation_mode": "move_gate_validation", "move_gate_frame_tracking_mode": "move_gate_frame_tracking"}

_iqm_circuit_list: pydantic.TypeAdapter[list[IQMCircuit]] = pydantic.TypeAdapter(list[IQMCircuit])


# -- helpers ---------------------------------------------------------------------------------------------------


@cache
def calibration(profile: str) -> q.Calibration:
    return q.load_profile(profile)


@cache
def architecture(profile: str) -> DynamicQuantumArchitecture:
    return DynamicQuantumArchitecture.model_validate(calibration(profile).to_dqa())


def plain(value: Any) -> Any:
    """``value`` as the JSON types it has on the wire (structs as objects, tuples as lists), with no encoder between."""
    value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def assert_same_json(ours: Any, theirs: Any, path: str = "$") -> None:
    """Equal JSON values, telling int from float (``2`` and ``2.0`` differ on the wire) and list from object."""
    assert type(ours) is type(theirs), (
        f"{path}: ours {ours!r} ({type(ours).__name__}) != iqm-client {theirs!r} ({type(theirs).__name__})"
    )
    if isinstance(ours, dict):
        assert set(ours) == set(theirs), f"{path}: keys {sorted(ours)} != iqm-client {sorted(theirs)}"
        for key in ours:
            assert_same_json(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} items != iqm-client {len(theirs)}"
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_json(a, b, f"{path}[{index}]")
    elif isinstance(ours, float):
        assert ours == theirs or (math.isnan(ours) and math.isnan(theirs)), f"{path}: {ours!r} != {theirs!r}"
    else:
        assert ours == theirs, f"{path}: ours {ours!r} != iqm-client {theirs!r}"


def assert_same_circuit(ours: q.Circuit, theirs: Any) -> None:
    """An iqm-client circuit object carries exactly our circuit."""
    assert type(theirs) is IQMCircuit, f"iqm-client parsed {type(theirs)!r}, not iqm.pulse.Circuit"
    assert theirs.name == ours.name
    assert_same_json(plain(ours.metadata), theirs.metadata, f"{ours.name!r}.metadata")
    assert len(theirs.instructions) == len(ours.instructions)
    for index, (a, b) in enumerate(zip(ours.instructions, theirs.instructions, strict=True)):
        where = f"{ours.name!r}[{index}]"
        assert type(b) is CircuitOperation, f"{where}: {type(b)!r}"
        assert b.name == a.name, where
        assert type(b.locus) is tuple, where
        assert b.locus == a.locus, where
        assert b.implementation == a.implementation, where
        assert_same_json(plain(a.args), b.args, f"{where}.args")


def to_iqm(circuit: q.Circuit) -> IQMCircuit:
    """The same circuit built with iqm-client's own classes (no JSON in between)."""
    return IQMCircuit(
        name=circuit.name,
        instructions=tuple(
            CircuitOperation(name=i.name, locus=tuple(i.locus), args=dict(i.args), implementation=i.implementation)
            for i in circuit.instructions
        ),
        metadata=circuit.metadata,
    )


def iqm_options(options: q.RunOptions) -> CircuitCompilationOptions:
    return CircuitCompilationOptions(
        max_circuit_duration_over_t2=options.max_circuit_duration_over_t2,
        heralding_mode=HeraldingMode(options.heralding_mode),
        move_gate_validation=MoveGateValidationMode(options.move_gate_validation),
        move_gate_frame_tracking=MoveGateFrameTrackingMode(options.move_gate_frame_tracking),
        active_reset_cycles=options.active_reset_cycles,
        dd_mode=DDMode(options.dd_mode),
        dd_strategy=None if options.dd_strategy is None else DDStrategy.model_validate(options.dd_strategy),
    )


def iqm_client_job(
    profile: str,
    circuits: list[Any],
    *,
    options: CircuitCompilationOptions,
    shots: int = 1,
    calibration_set_id: uuid.UUID | None = None,
    qubit_mapping: dict[str, str] | None = None,
) -> CircuitJobDefinition:
    """``IQMClient.create_circuit_job_definition``, the client-side half of ``submit_circuits``, run offline.

    It runs iqm-client's static circuit validation, ``validate_qubit_mapping`` and ``validate_circuit_instructions``
    (``must_close_sandwiches=False``) against the DQA of ``profile`` and builds the request it would POST.
    """
    offline = types.SimpleNamespace(get_dynamic_quantum_architecture=lambda _id=None: architecture(profile))
    return IQMClient.create_circuit_job_definition(
        offline,  # type: ignore[arg-type]
        circuits=circuits,
        qubit_mapping=qubit_mapping,
        calibration_set_id=calibration_set_id,
        shots=shots,
        options=options,
    )


def rename(circuit: q.Circuit, names: dict[str, str]) -> q.Circuit:
    """``circuit`` with its components renamed (``feedback_qubit`` too)."""

    def args(inst: q.Instruction) -> dict[str, Any]:
        if "feedback_qubit" in inst.args:
            return {**inst.args, "feedback_qubit": names[inst.args["feedback_qubit"]]}
        return inst.args

    return q.Circuit(
        circuit.name,
        tuple(
            q.Instruction(i.name, tuple(names[c] for c in i.locus), args(i), i.implementation)
            for i in circuit.instructions
        ),
        circuit.metadata,
    )


@dataclass(frozen=True)
class Job:
    """A job on ``profile``: ``physical`` circuits name QPU components, ``circuits`` are what is sent."""

    profile: str
    physical: list[q.Circuit]
    qubit_mapping: dict[str, str] | None
    options: q.RunOptions
    shots: int
    calibration_set_id: str | None

    @property
    def circuits(self) -> list[q.Circuit]:
        if self.qubit_mapping is None:
            return self.physical
        logical = {physical: name for name, physical in self.qubit_mapping.items()}
        return [rename(c, logical) for c in self.physical]

    @property
    def uuid(self) -> uuid.UUID | None:
        return None if self.calibration_set_id is None else uuid.UUID(self.calibration_set_id)


def assert_options_equal(options: q.RunOptions, job: CircuitJobDefinition) -> None:
    assert job.max_circuit_duration_over_t2 == options.max_circuit_duration_over_t2
    assert job.heralding_mode == HeraldingMode(options.heralding_mode)
    assert job.move_gate_validation == MoveGateValidationMode(options.move_gate_validation)
    assert job.move_gate_frame_tracking == MoveGateFrameTrackingMode(options.move_gate_frame_tracking)
    assert job.active_reset_cycles == options.active_reset_cycles
    assert job.dd_mode == DDMode(options.dd_mode)
    if options.dd_strategy is None:
        assert job.dd_strategy is None
    else:
        assert job.dd_strategy == DDStrategy.model_validate(options.dd_strategy)


def assert_iqm_wire_equals_ours(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """iqm-client's JSON of a job is ours plus its deprecated aliases, which repeat the current fields."""
    theirs = dict(theirs)
    for alias, name in ALIASES.items():
        assert theirs.pop(alias) == theirs[name]
    assert_same_json(ours, theirs)


def assert_decoded(decoded: q.IQMJob, job: Job) -> None:
    """Our decoder gives back the job, with the same JSON types in every argument."""
    assert_same_json(plain(decoded.circuits), plain(job.circuits))
    assert decoded.circuits == tuple(job.circuits)
    assert decoded.shots == job.shots
    assert decoded.calibration_set_id == job.calibration_set_id
    assert decoded.qubit_mapping == job.qubit_mapping
    assert decoded.options == job.options


def check_forward(job: Job) -> None:
    """Our encoding of ``job`` is what iqm-client reads, validates and itself writes."""
    q.validate_circuits(job.physical, calibration(job.profile), move_gate_validation=job.options.move_gate_validation)
    circuits = job.circuits
    data = q.encode_iqm_job(
        circuits,
        shots=job.shots,
        options=job.options,
        calibration_set_id=job.calibration_set_id,
        qubit_mapping=job.qubit_mapping,
    )
    raw = json.loads(data)
    # no field iqm-client would silently ignore (its models use extra="ignore")
    assert set(raw) <= set(CircuitJobDefinition.model_fields), set(raw) - set(CircuitJobDefinition.model_fields)
    expected_mapping = (
        None
        if job.qubit_mapping is None
        else [{"logical_name": k, "physical_name": v} for k, v in job.qubit_mapping.items()]
    )
    assert raw["qubit_mapping"] == expected_mapping

    parsed = CircuitJobDefinition.model_validate_json(data)
    assert len(parsed.circuits) == len(circuits)
    for ours, theirs in zip(circuits, parsed.circuits, strict=True):
        assert_same_circuit(ours, theirs)
    assert parsed.shots == job.shots
    assert parsed.calibration_set_id == job.uuid
    assert parsed.qubit_mapping == job.qubit_mapping
    assert_options_equal(job.options, parsed)

    # iqm-client's validation of what it parsed, with the arguments IQMClient.submit_circuits uses
    dqa = architecture(job.profile)
    validate_qubit_mapping(dqa, parsed.circuits, parsed.qubit_mapping)
    validate_circuit_instructions(
        dqa,
        parsed.circuits,
        parsed.qubit_mapping,
        validate_moves=parsed.move_gate_validation,
        must_close_sandwiches=False,
    )
    # our sandwiches are closed: iqm-client's strictest setting agrees
    validate_circuit_instructions(
        dqa,
        parsed.circuits,
        parsed.qubit_mapping,
        validate_moves=parsed.move_gate_validation,
        must_close_sandwiches=True,
    )
    # iqm-client's whole client-side path (static checks too), and the JSON it would send for the same job
    request = iqm_client_job(
        job.profile,
        parsed.circuits,
        options=iqm_options(job.options),
        shots=job.shots,
        calibration_set_id=job.uuid,
        qubit_mapping=parsed.qubit_mapping,
    )
    theirs_json = request.model_dump_json()
    assert_iqm_wire_equals_ours(raw, json.loads(theirs_json))

    # and both documents decode in ours to the job we started from
    assert_decoded(q.decode_iqm_job(data), job)
    assert_decoded(q.decode_iqm_job(theirs_json), job)


def check_reverse(job: Job) -> None:
    """A request built with iqm-client's objects decodes in ours to the same job."""
    iqm_circuits = [to_iqm(c) for c in job.circuits]
    options = iqm_options(job.options)
    request = CircuitJobDefinition(
        circuits=iqm_circuits,
        calibration_set_id=job.uuid,
        qubit_mapping=job.qubit_mapping,
        shots=job.shots,
        max_circuit_duration_over_t2=options.max_circuit_duration_over_t2,
        heralding_mode=options.heralding_mode,
        move_gate_validation=options.move_gate_validation,
        move_gate_frame_tracking=options.move_gate_frame_tracking,
        active_reset_cycles=options.active_reset_cycles,
        dd_mode=options.dd_mode,
        dd_strategy=options.dd_strategy,
    )
    data = request.model_dump_json()
    raw = json.loads(data)
    # the deprecated aliases really are on the wire, and our decoder takes them
    assert raw["move_validation_mode"] == job.options.move_gate_validation
    assert raw["move_gate_frame_tracking_mode"] == job.options.move_gate_frame_tracking
    assert_decoded(q.decode_iqm_job(data), job)
    # a bare JSON list of iqm circuits
    batch = _iqm_circuit_list.dump_json(iqm_circuits)
    decoded = q.decode_circuits(batch)
    assert decoded == tuple(job.circuits)
    assert_same_json(plain(decoded), plain(job.circuits))


# -- 1 and 2: every native operation, by hand -------------------------------------------------------------------

# (id, profile, our instructions, the same built by hand with iqm-client's CircuitOperation)
NATIVE_CASES: list[tuple[str, str, list[q.Instruction], list[CircuitOperation]]] = [
    (
        "prx",
        "garnet20",
        [q.prx("QB1", 0.5, -0.25)],
        [CircuitOperation("prx", ("QB1",), {"angle": 0.5, "phase": -0.25})],
    ),
    (
        "prx-integral-angles",  # the builder makes floats of ints: 3 must go out as 3.0
        "garnet20",
        [q.prx("QB7", 3, -1)],
        [CircuitOperation("prx", ("QB7",), {"angle": 3.0, "phase": -1.0})],
    ),
    (
        "cc_prx",
        "garnet20",
        [
            q.measure("QB1", key="m1", feedback_key="fb1"),
            q.cc_prx("QB2", math.pi, 0.0, feedback_qubit="QB1", feedback_key="fb1"),
        ],
        [
            CircuitOperation("measure", ("QB1",), {"key": "m1", "feedback_key": "fb1"}),
            CircuitOperation(
                "cc_prx", ("QB2",), {"angle": math.pi, "phase": 0.0, "feedback_qubit": "QB1", "feedback_key": "fb1"}
            ),
        ],
    ),
    (
        "cz-both-orders",
        "garnet20",
        [q.cz("QB1", "QB2"), q.cz("QB2", "QB1")],
        [CircuitOperation("cz", ("QB1", "QB2")), CircuitOperation("cz", ("QB2", "QB1"))],
    ),
    (
        "cz-adonis-hub",
        "adonis5",
        [q.cz("QB3", "QB5"), q.cz("QB1", "QB3")],
        [CircuitOperation("cz", ("QB3", "QB5")), CircuitOperation("cz", ("QB1", "QB3"))],
    ),
    (
        "move-sandwich",
        "deneb6",
        [q.move("QB1", "CR1"), q.cz("QB2", "CR1"), q.move("QB1", "CR1")],
        [
            CircuitOperation("move", ("QB1", "CR1")),
            CircuitOperation("cz", ("QB2", "CR1")),
            CircuitOperation("move", ("QB1", "CR1")),
        ],
    ),
    (
        "move-sandwich-barrier-inside",  # a barrier on the moved qubit is allowed inside the sandwich
        "deneb6",
        [q.move("QB3", "CR1"), q.barrier("QB3", "CR1"), q.move("QB3", "CR1")],
        [
            CircuitOperation("move", ("QB3", "CR1")),
            CircuitOperation("barrier", ("QB3", "CR1")),
            CircuitOperation("move", ("QB3", "CR1")),
        ],
    ),
    (
        "measure-multi-qubit",
        "garnet20",
        [q.measure("QB1", "QB2", "QB3", key="m")],
        [CircuitOperation("measure", ("QB1", "QB2", "QB3"), {"key": "m"})],
    ),
    (
        "measure-multi-qubit-feedback",
        "garnet20",
        [q.measure("QB4", "QB5", key="m", feedback_key="fb")],
        [CircuitOperation("measure", ("QB4", "QB5"), {"key": "m", "feedback_key": "fb"})],
    ),
    (
        "reset",
        "garnet20",
        [q.reset("QB1", "QB2")],
        [CircuitOperation("reset", ("QB1", "QB2"))],
    ),
    (
        "barrier",
        "garnet20",
        [q.barrier("QB1", "QB2", "QB20")],
        [CircuitOperation("barrier", ("QB1", "QB2", "QB20"))],
    ),
    (
        "barrier-resonator",
        "deneb6",
        [q.barrier("CR1", "QB6")],
        [CircuitOperation("barrier", ("CR1", "QB6"))],
    ),
    (
        "delay",
        "garnet20",
        [q.delay(4e-8, "QB1", "QB2"), q.delay(0, "QB3")],
        [
            CircuitOperation("delay", ("QB1", "QB2"), {"duration": 4e-8}),
            CircuitOperation("delay", ("QB3",), {"duration": 0.0}),
        ],
    ),
    (
        "delay-resonator",
        "deneb6",
        [q.delay(1e-6, "CR1")],
        [CircuitOperation("delay", ("CR1",), {"duration": 1e-6})],
    ),
    (
        "explicit-implementations",
        "garnet20",
        [
            q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.5}, "drag_gaussian"),
            q.Instruction("cz", ("QB2", "QB1"), {}, "tgss"),
            q.Instruction("delay", ("QB1",), {"duration": 1e-8}, "wait"),
            q.Instruction("reset", ("QB1",), {}, "reset_conditional"),
            q.Instruction("measure", ("QB1", "QB2"), {"key": "m"}, "constant"),
        ],
        [
            CircuitOperation("prx", ("QB1",), {"angle": 1.0, "phase": 0.5}, "drag_gaussian"),
            CircuitOperation("cz", ("QB2", "QB1"), {}, "tgss"),
            CircuitOperation("delay", ("QB1",), {"duration": 1e-8}, "wait"),
            CircuitOperation("reset", ("QB1",), {}, "reset_conditional"),
            CircuitOperation("measure", ("QB1", "QB2"), {"key": "m"}, "constant"),
        ],
    ),
]

NATIVE_METADATA = {"source": "qaas", "n": 3, "x": 2.0, "tags": ["a", None, True], "nested": {"k": [1.5]}}


def native_job(profile: str, instructions: list[q.Instruction], case: str, **kw: Any) -> Job:
    options = kw.pop("options", q.RunOptions.create())
    return Job(
        profile=profile,
        physical=[q.Circuit(case, tuple(instructions), NATIVE_METADATA)],
        qubit_mapping=kw.pop("qubit_mapping", None),
        options=options,
        shots=kw.pop("shots", 100),
        calibration_set_id=kw.pop("calibration_set_id", calibration(profile).calibration_set_id),
    )


@pytest.mark.parametrize(("case", "profile", "ours", "theirs"), NATIVE_CASES, ids=[c[0] for c in NATIVE_CASES])
def test_native_operation_encodes_as_iqm_client_reads_it(
    case: str, profile: str, ours: list[q.Instruction], theirs: list[CircuitOperation]
) -> None:
    job = native_job(profile, ours, case)
    check_forward(job)
    parsed = CircuitJobDefinition.model_validate_json(q.encode_iqm_job(job.circuits, shots=job.shots))
    assert parsed.circuits == [IQMCircuit(case, tuple(theirs), NATIVE_METADATA)]


@pytest.mark.parametrize(("case", "profile", "ours", "theirs"), NATIVE_CASES, ids=[c[0] for c in NATIVE_CASES])
def test_native_operation_with_logical_names(
    case: str, profile: str, ours: list[q.Instruction], theirs: list[CircuitOperation]
) -> None:
    components = calibration(profile).components
    mapping = {f"log_{c.lower()}": c for c in reversed(components)}
    check_forward(native_job(profile, ours, case, qubit_mapping=mapping))


@pytest.mark.parametrize(("case", "profile", "ours", "theirs"), NATIVE_CASES, ids=[c[0] for c in NATIVE_CASES])
def test_iqm_client_request_decodes_in_ours(
    case: str, profile: str, ours: list[q.Instruction], theirs: list[CircuitOperation]
) -> None:
    cal = calibration(profile)
    request = CircuitJobDefinition(
        circuits=[IQMCircuit(case, tuple(theirs), NATIVE_METADATA)],
        calibration_set_id=uuid.UUID(cal.calibration_set_id),
        qubit_mapping={c: c for c in cal.components},
        shots=1234,
        max_circuit_duration_over_t2=0.5,
        heralding_mode=HeraldingMode.ZEROS,
        move_gate_validation=MoveGateValidationMode.ALLOW_PRX,
        move_gate_frame_tracking=MoveGateFrameTrackingMode.NO_DETUNING_CORRECTION,
        active_reset_cycles=2,
        dd_mode=DDMode.ENABLED,
        dd_strategy=DDStrategy(gate_sequences=[(9, "XYXYYXYX", "asap"), (2, [(math.pi, 0.0)], "center")]),
    )
    data = request.model_dump_json()
    assert {"move_validation_mode", "move_gate_frame_tracking_mode"} <= set(json.loads(data))
    decoded = q.decode_iqm_job(data)
    expected = q.Circuit(case, tuple(ours), NATIVE_METADATA)
    assert decoded.circuits == (expected,)
    assert_same_json(plain(decoded.circuits), [plain(expected)])
    assert decoded.shots == 1234
    assert decoded.calibration_set_id == cal.calibration_set_id
    assert decoded.qubit_mapping == {c: c for c in cal.components}
    assert decoded.options == q.RunOptions.create(
        max_circuit_duration_over_t2=0.5,
        heralding_mode="zeros",
        move_gate_validation="allow_prx",
        move_gate_frame_tracking="no_detuning_correction",
        active_reset_cycles=2,
        dd_mode="enabled",
        dd_strategy=request.model_dump(mode="json")["dd_strategy"],
    )
    # iqm-client's own JSON list of circuits
    batch = _iqm_circuit_list.dump_json(request.circuits)
    assert q.decode_circuits(batch) == (expected,)


def test_iqm_client_defaults_decode_as_our_defaults() -> None:
    circuit = IQMCircuit("c", (CircuitOperation("prx", ("QB1",), {"angle": 1.0, "phase": 0.0}),))
    decoded = q.decode_iqm_job(CircuitJobDefinition(circuits=[circuit]).model_dump_json())
    assert decoded == q.IQMJob(circuits=(q.Circuit("c", (q.prx("QB1", 1.0, 0.0),)),))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # an older client that writes only the deprecated names
        ({"move_validation_mode": "allow_prx"}, ("allow_prx", "full")),
        ({"move_validation_mode": "none", "move_gate_frame_tracking_mode": "none"}, ("none", "none")),
        # both names present: the current one wins, in both implementations
        (
            {"move_validation_mode": "strict", "move_gate_validation": "allow_prx"},
            ("allow_prx", "full"),
        ),
        (
            {
                "move_gate_frame_tracking_mode": "full",
                "move_gate_frame_tracking": "no_detuning_correction",
                "move_gate_validation": "none",
                "move_validation_mode": "strict",
            },
            ("none", "no_detuning_correction"),
        ),
    ],
)
def test_deprecated_alias_fields_read_alike(extra: dict[str, str], expected: tuple[str, str]) -> None:
    doc = json.dumps(
        {
            "circuits": [{"name": "c", "instructions": [{"name": "barrier", "locus": ["QB1"], "args": {}}]}],
            "shots": 3,
            **extra,
        }
    )
    theirs = CircuitJobDefinition.model_validate_json(doc)
    ours = q.decode_iqm_job(doc)
    assert (theirs.move_gate_validation.value, theirs.move_gate_frame_tracking.value) == expected
    assert (ours.options.move_gate_validation, ours.options.move_gate_frame_tracking) == expected


# -- 1 and 2: random valid batches (hypothesis) -----------------------------------------------------------------

_SYMMETRIC = {"cz", "reset", "barrier", "delay"}  # iqm-pulse's op table, written out independently of ours
_FACTORIZABLE = {"measure", "reset"}

names = st.text(min_size=1, max_size=8)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_floats | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
metadata = st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=4)


@dataclass(frozen=True)
class Device:
    """Calibrated loci of one profile, as plain lists for sampling."""

    components: tuple[str, ...]
    prx: list[str]
    cc_prx: list[str]
    measure: list[str]
    reset: list[str]
    cz: list[tuple[str, ...]]
    move: list[tuple[str, ...]]


@cache
def device(profile: str) -> Device:
    cal = calibration(profile)

    def singles(gate: str) -> list[str]:
        loci = cal.loci(gate)
        return [c for c in cal.components if (c,) in loci]

    return Device(
        cal.components,
        singles("prx"),
        singles("cc_prx"),
        singles("measure"),
        singles("reset"),
        list(cal.loci("cz")),
        list(cal.loci("move")),
    )


def implementations(cal: q.Calibration, name: str, locus: tuple[str, ...]) -> list[str | None]:
    """Explicit implementation names that are valid for ``name`` on ``locus`` (None: the default)."""
    if name == "delay":
        return [None, "wait"]
    gate = cal.gates.get(name)
    if gate is None:
        return [None]
    out: list[str | None] = [None]
    for impl, loci in gate.implementations.items():
        allowed = set(loci)
        if name in _FACTORIZABLE:
            ok = all((c,) in allowed for c in locus)
        else:
            ok = locus in allowed or (name in _SYMMETRIC and locus[::-1] in allowed)
        if ok:
            out.append(impl)
    return out


@st.composite
def instruction_lists(draw: st.DrawFn, profile: str, mode: str, max_ops: int = 12) -> tuple[q.Instruction, ...]:
    """A valid instruction sequence on ``profile`` under MOVE validation ``mode``.

    Calibrated loci only, unique measurement and feedback keys, ``cc_prx`` after a measurement that feeds it,
    MOVE sandwiches that hold one qubit per resonator, touch the moved qubit with nothing but barriers (and PRX
    when the mode allows it) and are all closed at the end.
    """
    cal = calibration(profile)
    dev = device(profile)
    kinds = ["prx", "cc_prx", "cc_prx", "cz", "measure", "reset", "barrier", "delay"] + (
        ["move"] * 3 if dev.move else []
    )
    ops: list[q.Instruction] = []
    occupied: dict[str, str] = {}  # resonator -> moved qubit
    feedback: list[tuple[str, tuple[str, ...]]] = []

    def add(name: str, locus: tuple[str, ...], args: dict[str, Any]) -> None:
        impl = draw(st.sampled_from(implementations(cal, name, locus)))
        ops.append(q.Instruction(name, locus, args, impl))

    def subset(candidates: list[str], most: int) -> tuple[str, ...]:
        return tuple(draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=most, unique=True)))

    for count in range(draw(st.integers(1, max_ops))):
        moved = set(occupied.values())
        kind = draw(st.sampled_from(kinds))
        if kind == "prx":
            candidates = dev.prx if mode != "strict" else [c for c in dev.prx if c not in moved]
            if candidates:
                add(
                    "prx",
                    (draw(st.sampled_from(candidates)),),
                    {"angle": draw(finite_floats), "phase": draw(finite_floats)},
                )
        elif kind == "cc_prx":
            candidates = [c for c in dev.cc_prx if c not in moved]
            if candidates and feedback:
                key, measured = draw(st.sampled_from(feedback))
                args = {
                    "angle": draw(finite_floats),
                    "phase": draw(finite_floats),
                    "feedback_qubit": draw(st.sampled_from(measured)),
                    "feedback_key": key,
                }
                add("cc_prx", (draw(st.sampled_from(candidates)),), args)
        elif kind == "cz":
            loci = [lc for lc in dev.cz if not set(lc) & moved]
            if loci:
                locus = draw(st.sampled_from(loci))
                add("cz", locus if draw(st.booleans()) else locus[::-1], {})
        elif kind == "measure":
            candidates = [c for c in dev.measure if c not in moved]
            if candidates:
                locus = subset(candidates, 3)
                args = {"key": f"{draw(names)}#{count}"}
                if draw(st.booleans()):
                    args["feedback_key"] = f"{draw(names)}@{count}"
                    feedback.append((args["feedback_key"], locus))
                add("measure", locus, args)
        elif kind == "reset":
            candidates = [c for c in dev.reset if c not in moved]
            if candidates:
                add("reset", subset(candidates, 2), {})
        elif kind == "barrier":
            add("barrier", subset(list(dev.components), 4), {})
        elif kind == "delay":
            candidates = [c for c in dev.components if c not in moved]
            if candidates:
                add("delay", subset(candidates, 3), {"duration": draw(st.floats(0.0, 1e-3))})
        else:  # move: close an open sandwich or open a new one
            closing = [(qb, r) for r, qb in occupied.items()]
            opening = [(qb, r) for qb, r in dev.move if r not in occupied and qb not in moved]
            if closing or opening:
                qubit, resonator = draw(st.sampled_from(closing + opening))
                if occupied.get(resonator) == qubit:
                    del occupied[resonator]
                else:
                    occupied[resonator] = qubit
                add("move", (qubit, resonator), {})
    for resonator, qubit in list(occupied.items()):
        add("move", (qubit, resonator), {})
    if not ops:
        add("barrier", (dev.components[0],), {})
    return tuple(ops)


def dd_strategies(profile: str) -> st.SearchStrategy[dict[str, Any] | None]:
    """Complete DDStrategy documents (every field given, so both sides write the same JSON)."""
    small = st.floats(-4.0, 4.0)
    sequence = st.tuples(
        st.integers(1, 20),
        st.sampled_from(["XX", "YXYX", "XYXYYXYX"])
        | st.lists(st.tuples(small, small).map(list), min_size=1, max_size=3),
        st.sampled_from(["asap", "center", "alap"]),
    ).map(list)
    return st.none() | st.fixed_dictionaries(
        {
            "merge_contiguous_waits": st.booleans(),
            "target_qubits": st.none() | st.sampled_from(calibration(profile).qubits).map(lambda x: [x]),
            "skip_leading_wait": st.booleans(),
            "skip_trailing_wait": st.booleans(),
            "gate_sequences": st.lists(sequence, max_size=3),
        }
    )


@st.composite
def jobs(draw: st.DrawFn, profile: str) -> Job:
    cal = calibration(profile)
    mode = draw(st.sampled_from(["strict", "allow_prx", "none"]))
    tracking = ["full", "no_detuning_correction", "none"] if mode != "none" else ["no_detuning_correction", "none"]
    options = q.RunOptions.create(
        max_circuit_duration_over_t2=draw(st.none() | st.floats(0.0, 100.0)),
        heralding_mode=draw(st.sampled_from(["none", "zeros"])),
        move_gate_validation=mode,
        move_gate_frame_tracking=draw(st.sampled_from(tracking)),
        active_reset_cycles=draw(st.none() | st.integers(0, 10)),
        dd_mode=draw(st.sampled_from(["disabled", "enabled"])),
        dd_strategy=draw(dd_strategies(profile)),
    )
    physical = [
        q.Circuit(draw(names), draw(instruction_lists(profile, mode)), draw(metadata))
        for _ in range(draw(st.integers(1, 3)))
    ]
    mapping = None
    if draw(st.booleans()):
        n = len(cal.components)
        logical = draw(st.permutations(cal.components) | st.lists(names, min_size=n, max_size=n, unique=True))
        mapping = dict(zip(logical, cal.components, strict=True))
    return Job(
        profile=profile,
        physical=physical,
        qubit_mapping=mapping,
        options=options,
        shots=draw(st.integers(1, 1_000_000)),
        calibration_set_id=draw(st.sampled_from([None, cal.calibration_set_id])),
    )


# one device of each kind: square lattice, star without resonator, star around a computational resonator (two sizes)
RANDOM_PROFILES = ("garnet20", "adonis5", "deneb6", "vlq24")


@pytest.mark.parametrize("profile", RANDOM_PROFILES)
def test_random_valid_jobs_encode_as_iqm_client_reads_and_writes_them(profile: str) -> None:
    @HYPOTHESIS
    @given(jobs(profile))
    def check(job: Job) -> None:
        check_forward(job)

    check()


@pytest.mark.parametrize("profile", RANDOM_PROFILES)
def test_random_iqm_client_requests_decode_in_ours(profile: str) -> None:
    @HYPOTHESIS
    @given(jobs(profile))
    def check(job: Job) -> None:
        check_reverse(job)

    check()


# -- 3: the DQA ---------------------------------------------------------------------------------------------------


def assert_same_architecture(cal: q.Calibration, dqa: DynamicQuantumArchitecture) -> None:
    assert str(dqa.calibration_set_id) == cal.calibration_set_id
    assert dqa.qubits == list(cal.qubits)
    assert dqa.computational_resonators == list(cal.computational_resonators)
    assert set(dqa.components) == cal.component_set
    assert set(dqa.gates) == set(cal.gates)
    for name, gate in cal.gates.items():
        info = dqa.gates[name]
        assert info.default_implementation == gate.default_implementation
        assert {k: v.loci for k, v in info.implementations.items()} == gate.implementations
        assert info.override_default_implementation == gate.override_default_implementation
        assert set(info.loci) == gate.locus_set
        for locus in gate.loci:
            assert info.get_default_implementation(locus) == gate.implementation_for(locus)


@pytest.mark.parametrize("profile", q.PROFILES)
def test_profile_dqa_is_iqm_client_dqa(profile: str) -> None:
    cal = calibration(profile)
    dqa = DynamicQuantumArchitecture.model_validate(cal.to_dqa())
    assert_same_architecture(cal, dqa)
    assert DynamicQuantumArchitecture.model_validate_json(msgspec.json.encode(cal.to_dqa())) == dqa
    for doc in (dqa.model_dump(mode="json"), json.loads(dqa.model_dump_json())):
        back = q.Calibration.from_iqm(doc)
        assert back.to_dqa() == cal.to_dqa()
        assert_same_architecture(back, dqa)


def test_dqa_with_several_implementations_and_overrides() -> None:
    # built with iqm-client's classes, tuple keys in override_default_implementation
    dqa = DynamicQuantumArchitecture(
        calibration_set_id=uuid.UUID("cd4dd889-b88b-4370-ba01-eb8262ad9c53"),
        qubits=["QB1", "QB2", "QB3"],
        computational_resonators=["COMP_R"],
        gates={
            "prx": GateInfo(
                implementations={
                    "drag_gaussian": GateImplementationInfo(loci=(("QB1",), ("QB2",), ("QB3",))),
                    "drag_crf": GateImplementationInfo(loci=(("QB2",),)),
                },
                default_implementation="drag_gaussian",
                override_default_implementation={("QB2",): "drag_crf"},
            ),
            "cz": GateInfo(
                implementations={
                    "tgss": GateImplementationInfo(loci=(("QB1", "COMP_R"), ("QB2", "COMP_R"))),
                    "crf": GateImplementationInfo(loci=(("QB1", "COMP_R"), ("QB3", "COMP_R"))),
                },
                default_implementation="tgss",
                override_default_implementation={("QB3", "COMP_R"): "crf"},
            ),
            "move": GateInfo(
                implementations={"tgss_crf": GateImplementationInfo(loci=(("QB2", "COMP_R"),))},
                default_implementation="tgss_crf",
                override_default_implementation={},
            ),
        },
    )
    for doc in (dqa.model_dump(mode="json"), json.loads(dqa.model_dump_json())):
        cal = q.Calibration.from_iqm(doc)
        assert_same_architecture(cal, dqa)
        assert cal.gates["cz"].implementation_for(("QB3", "COMP_R")) == "crf"
        assert DynamicQuantumArchitecture.model_validate(cal.to_dqa()) == dqa
    # and a circuit using the non-default implementation validates alike
    cal = q.Calibration.from_iqm(dqa.model_dump(mode="json"))
    circuit = q.Circuit(
        "c",
        (
            q.Instruction("prx", ("QB2",), {"angle": 1.0, "phase": 0.0}, "drag_crf"),
            q.Instruction("cz", ("COMP_R", "QB3"), {}, "crf"),
            q.move("QB2", "COMP_R"),
            q.cz("QB1", "COMP_R"),
            q.move("QB2", "COMP_R"),
        ),
    )
    q.validate_circuits([circuit], cal)
    validate_circuit_instructions(dqa, [to_iqm(circuit)], must_close_sandwiches=True)
    wrong = q.Circuit("c", (q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": 0.0}, "drag_crf"),))
    with pytest.raises(q.CircuitError):
        q.validate_circuits([wrong], cal)
    with pytest.raises(CircuitValidationError):
        validate_circuit_instructions(dqa, [to_iqm(wrong)])


# -- 4: negative agreement --------------------------------------------------------------------------------------

_P = {"angle": 1.0, "phase": 0.0}

# (id, profile, MOVE validation mode, instructions, regex iqm-client's error must match)
BOTH_REJECT: list[tuple[str, str, str, list[q.Instruction], str]] = [
    ("uncalibrated-cz-locus", "garnet20", "strict", [q.cz("QB1", "QB3")], r"not allowed as locus for 'cz'"),
    ("unknown-component-prx", "garnet20", "strict", [q.prx("QB99", 1.0, 0.0)], r"not allowed as locus for 'prx'"),
    ("unknown-component-barrier", "garnet20", "strict", [q.barrier("QB1", "QB99")], r"QB99 does not exist"),
    ("measure-resonator", "deneb6", "strict", [q.measure("CR1", key="m")], r"CR1 is not allowed as locus"),
    (
        "uncalibrated-implementation",
        "garnet20",
        "strict",
        [q.Instruction("prx", ("QB1",), _P, "drag_crf")],
        r"implementation 'drag_crf' is not supported",
    ),
    ("move-on-lattice", "garnet20", "strict", [q.move("QB1", "QB2")], r"not supported by the dynamic quantum"),
    ("move-reversed-locus", "deneb6", "none", [q.move("CR1", "QB1")], r"not allowed as locus for 'move'"),
    (
        "duplicate-measurement-key",
        "garnet20",
        "strict",
        [q.measure("QB1", key="m"), q.measure("QB2", key="m")],
        r"non-unique measurement key",
    ),
    (
        "sandwich-prx-strict",
        "deneb6",
        "strict",
        [q.move("QB1", "CR1"), q.prx("QB1", 1.0, 0.0), q.move("QB1", "CR1")],
        r"prx acts on .* while the state",
    ),
    (
        "sandwich-measure-allow-prx",
        "deneb6",
        "allow_prx",
        [q.move("QB1", "CR1"), q.measure("QB1", key="m"), q.move("QB1", "CR1")],
        r"measure acts on .* while the state",
    ),
    (
        "sandwich-cz-on-moved-qubit",
        "deneb6",
        "strict",
        [q.move("QB1", "CR1"), q.cz("QB1", "CR1"), q.move("QB1", "CR1")],
        r"cz acts on .* while the state",
    ),
    (
        "sandwich-occupied-resonator",
        "deneb6",
        "strict",
        [q.move("QB1", "CR1"), q.move("QB2", "CR1")],
        r"already occupied resonator",
    ),
    (
        "int-angle",
        "garnet20",
        "strict",
        [q.Instruction("prx", ("QB1",), {"angle": 1, "phase": 0.0})],
        r"'angle' should be of one of the following supported types",
    ),
    (
        "bool-phase",
        "garnet20",
        "strict",
        [q.Instruction("prx", ("QB1",), {"angle": 1.0, "phase": True})],
        r"'phase' should be of one of the following supported types",
    ),
    (
        "int-delay",
        "garnet20",
        "strict",
        [q.Instruction("delay", ("QB1",), {"duration": 100})],
        r"'duration' should be of one of the following supported types",
    ),
    ("missing-key", "garnet20", "strict", [q.Instruction("measure", ("QB1",), {})], r"requires the argument"),
    (
        "unknown-argument",
        "garnet20",
        "strict",
        [q.Instruction("measure", ("QB1",), {"key": "m", "basis": "x"})],
        r"allows the arguments",
    ),
    ("cz-arity", "garnet20", "strict", [q.Instruction("cz", ("QB1",))], r"acts on 2 qubit"),
    ("repeated-component", "garnet20", "strict", [q.reset("QB1", "QB1")], r"Repeated locus components"),
    ("unknown-operation", "garnet20", "strict", [q.Instruction("swap", ("QB1", "QB2"))], r"Unknown operation"),
    (
        "empty-implementation",
        "garnet20",
        "strict",
        [q.Instruction("prx", ("QB1",), _P, "")],
        r"should be None, or a non-empty string",
    ),
]


def iqm_client_checks(profile: str, mode: str, instructions: list[q.Instruction]) -> None:
    """iqm-client's parse and client-side validation of a batch, bypassing our encoder's own checks."""
    raw = msgspec.json.encode([q.Circuit("bad", tuple(instructions))])
    parsed = _iqm_circuit_list.validate_json(raw)
    tracking = MoveGateFrameTrackingMode.NONE if mode == "none" else MoveGateFrameTrackingMode.FULL
    options = CircuitCompilationOptions(
        move_gate_validation=MoveGateValidationMode(mode), move_gate_frame_tracking=tracking
    )
    iqm_client_job(profile, parsed, options=options)


@pytest.mark.parametrize(
    ("case", "profile", "mode", "instructions", "iqm_error"), BOTH_REJECT, ids=[c[0] for c in BOTH_REJECT]
)
def test_invalid_circuit_rejected_by_both(
    case: str, profile: str, mode: str, instructions: list[q.Instruction], iqm_error: str
) -> None:
    circuit = q.Circuit(case, tuple(instructions))
    with pytest.raises(q.CircuitError):
        q.validate_circuits([circuit], calibration(profile), move_gate_validation=mode)  # type: ignore[arg-type]
    with pytest.raises((CircuitValidationError, pydantic.ValidationError), match=iqm_error):
        iqm_client_checks(profile, mode, instructions)


@pytest.mark.parametrize("mode", ["allow_prx", "none"])
def test_relaxed_move_validation_accepted_by_both(mode: str) -> None:
    instructions = [q.move("QB1", "CR1"), q.prx("QB1", 1.0, 0.0), q.move("QB1", "CR1")]
    q.validate_circuits([q.Circuit("c", tuple(instructions))], calibration("deneb6"), move_gate_validation=mode)  # type: ignore[arg-type]
    iqm_client_checks("deneb6", mode, instructions)


def test_our_encoder_refuses_what_iqm_client_refuses_statically() -> None:
    """encode_iqm_job checks the batch itself: an int angle or a repeated key never reaches the wire."""
    for instructions in (
        [q.Instruction("prx", ("QB1",), {"angle": 1, "phase": 0.0})],
        [q.measure("QB1", key="m"), q.measure("QB2", key="m")],
    ):
        with pytest.raises(q.CircuitError):
            q.encode_iqm_job([q.Circuit("c", tuple(instructions))], shots=1)


# Circuits only we reject. iqm-client 36 lets each of them through its client-side checks (verified when this
# test was written); the server may or may not refuse them, so only our side is asserted:
# * cc_prx before any measurement with its feedback_key, or with a feedback_qubit that measurement does not
#   measure: iqm-client checks neither order nor feedback keys.
# * a repeated feedback_key: iqm-client checks uniqueness of measurement keys only.
# * a negative delay, a NaN angle: iqm-client checks only that the value is a float.
# * an empty measurement key: iqm-client checks only that it is a str.
# * reset on a resonator or where the calibration has no reset: iqm-pulse's default reset implementation
#   (reset_conditional) needs no calibration, so iqm-client only checks that the component exists.
# * rz / u / sx: iqm-pulse 15 defines these virtual operations and iqm-client accepts them uncalibrated; they are
#   not among our eight native operations.
ONLY_WE_REJECT: list[tuple[str, str, list[q.Instruction]]] = [
    ("cc_prx-before-measure", "garnet20", [q.cc_prx("QB2", 1.0, 0.0, feedback_qubit="QB1", feedback_key="f")]),
    (
        "cc_prx-wrong-feedback-qubit",
        "garnet20",
        [
            q.measure("QB1", key="m", feedback_key="f"),
            q.cc_prx("QB2", 1.0, 0.0, feedback_qubit="QB3", feedback_key="f"),
        ],
    ),
    (
        "duplicate-feedback-key",
        "garnet20",
        [q.measure("QB1", key="m1", feedback_key="f"), q.measure("QB2", key="m2", feedback_key="f")],
    ),
    ("negative-delay", "garnet20", [q.Instruction("delay", ("QB1",), {"duration": -1e-9})]),
    ("nan-angle", "garnet20", [q.Instruction("prx", ("QB1",), {"angle": math.nan, "phase": 0.0})]),
    ("empty-key", "garnet20", [q.Instruction("measure", ("QB1",), {"key": ""})]),
    ("reset-resonator", "deneb6", [q.reset("CR1")]),
    ("rz", "garnet20", [q.Instruction("rz", ("QB1",), {"angle": 1.0})]),
]


@pytest.mark.parametrize(("case", "profile", "instructions"), ONLY_WE_REJECT, ids=[c[0] for c in ONLY_WE_REJECT])
def test_invalid_circuit_rejected_by_us(case: str, profile: str, instructions: list[q.Instruction]) -> None:
    with pytest.raises(q.CircuitError):
        q.validate_circuits([q.Circuit(case, tuple(instructions))], calibration(profile))


@pytest.mark.parametrize(
    "instruction",
    [
        q.Instruction("barrier", ("QB1",), {}, "bogus"),
        q.Instruction("barrier", ("QB1",), {}, "wait"),
        q.Instruction("delay", ("QB1",), {"duration": 1e-8}, "bogus"),
    ],
    ids=["barrier-bogus", "barrier-wait", "delay-bogus"],
)
def test_unknown_implementation_of_uncalibrated_operation_rejected_by_both(instruction: q.Instruction) -> None:
    """barrier and delay need no calibration, but an implementation name must still exist.

    iqm-client rejects these twice: statically ("Unknown implementation 'bogus' for quantum operation 'delay'") and
    against the DQA ("Operation 'delay' is not supported by the dynamic quantum architecture"). Only ``delay``'s
    ``wait`` (and ``barrier`` with no implementation) pass.
    """
    with pytest.raises(CircuitValidationError, match=r"Unknown implementation"):
        iqm_client_checks("garnet20", "strict", [instruction])
    with pytest.raises(q.CircuitError):
        q.validate_circuits([q.Circuit("c", (instruction,))], calibration("garnet20"))


# -- 5: qubit_mapping on the wire -------------------------------------------------------------------------------


def test_qubit_mapping_is_written_in_legacy_list_form() -> None:
    mapping = {"alice": "QB2", "bob": "QB1", "carol": "QB4"}
    circuit = q.Circuit("c", (q.cz("alice", "bob"), q.prx("carol", 1.0, 0.0), q.measure("alice", "carol", key="m")))
    data = q.encode_iqm_job([circuit], shots=10, qubit_mapping=mapping)
    legacy = [
        {"logical_name": "alice", "physical_name": "QB2"},
        {"logical_name": "bob", "physical_name": "QB1"},
        {"logical_name": "carol", "physical_name": "QB4"},
    ]
    assert json.loads(data)["qubit_mapping"] == legacy
    theirs = CircuitJobDefinition(circuits=[to_iqm(circuit)], shots=10, qubit_mapping=mapping)
    assert json.loads(theirs.model_dump_json())["qubit_mapping"] == legacy
    parsed = CircuitJobDefinition.model_validate_json(data)
    assert parsed.qubit_mapping == mapping
    validate_qubit_mapping(architecture("garnet20"), parsed.circuits, parsed.qubit_mapping)
    validate_circuit_instructions(architecture("garnet20"), parsed.circuits, parsed.qubit_mapping)
    # no mapping: null on both sides
    plain = q.encode_iqm_job([q.Circuit("c", (q.prx("QB1", 1.0, 0.0),))], shots=1)
    assert json.loads(plain)["qubit_mapping"] is None
    assert json.loads(CircuitJobDefinition(circuits=[to_iqm(circuit)]).model_dump_json())["qubit_mapping"] is None


def test_qubit_mapping_errors_agree() -> None:
    circuit = q.Circuit("c", (q.cz("alice", "bob"),))
    for mapping in ({"alice": "QB1", "bob": "QB1"}, {"alice": "QB1"}):
        with pytest.raises(q.PayloadError):
            q.encode_iqm_job([circuit], shots=1, qubit_mapping=mapping)
        with pytest.raises(CircuitValidationError):
            validate_qubit_mapping(architecture("garnet20"), [to_iqm(circuit)], mapping)


# -- run options that do not survive the trip -------------------------------------------------------------------


def test_infinite_duration_limit_is_not_silently_dropped() -> None:
    """``max_circuit_duration_over_t2=inf`` must either be refused or reach the server as infinity.

    iqm-client writes it as ``Infinity`` and reads it back as ``inf``. Refusing it in ``RunOptions.create`` is an
    equally good answer; turning it into ``null`` (the server default limit) is not.
    """
    try:
        options = q.RunOptions.create(max_circuit_duration_over_t2=math.inf)
    except q.ValidationError:
        return
    data = q.encode_iqm_job([q.Circuit("c", (q.prx("QB1", 1.0, 0.0),))], shots=1, options=options)
    parsed = CircuitJobDefinition.model_validate_json(data)
    assert parsed.max_circuit_duration_over_t2 == math.inf, (
        f"RunOptions(max_circuit_duration_over_t2=inf) went out as "
        f"{json.loads(data)['max_circuit_duration_over_t2']!r}, which iqm-client reads as "
        f"{parsed.max_circuit_duration_over_t2!r}"
    )
