"""The direct transport (``qaas_core._iqm``) against iqm-client 36's own models: every request body qaas sends and
every answer it parses.

1. The submit body (with the ``qaas_submission_id`` tag in the first circuit's metadata) is a valid
   ``CircuitJobDefinition`` and keeps every option.
2. ``JobData`` as iqm-client's model writes it, in every status, with queue position, compilation, errors, messages
   and timeline, parses in ours with the same facts; unknown future fields are ignored.
3. The measurements artifact as iqm-client's ``CircuitMeasurementResultsBatch`` writes it parses in ours and builds
   the result document the worker would build.
4. The quantum-computers listing as iqm-client's model writes it gives the ids and aliases.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from iqm.iqm_server_client.iqm_server_client import CircuitMeasurementResultsBatchAdapter
from iqm.station_control.interface.models.circuit import CircuitJobDefinition
from iqm.station_control.interface.models.jobs_new import JobData, JobStatus

import qaas_core as q
from qaas_core._iqm import IQMProtocol
from qaas_core._result import completed_result

pytestmark = pytest.mark.filterwarnings(
    r"ignore:`iqm\.station_control\.interface\.models\.circuit\._(Instruction|Circuit)` is deprecated"
)
HALF = math.pi / 2
BELL = q.Circuit("bell", (q.prx("QB1", HALF, HALF), q.cz("QB1", "QB2"), q.measure("QB1", "QB2", key="m")),
                 {"label": "x"})  # fmt: skip
GHZ = q.Circuit("ghz", (q.prx("QB3", HALF, HALF), q.measure("QB3", key="a"), q.measure("QB4", key="b")))


def _response(body: object) -> httpx.Response:
    return httpx.Response(200, content=body if isinstance(body, bytes) else json.dumps(body).encode())


def test_the_submit_body_is_a_circuit_job_definition(tmp_path: object) -> None:
    from qaas_core._submit import iqm_submit_flow

    request = q.RunRequest(
        schema="qaas.run/1", submission_id=str(uuid.uuid4()), shots=123, circuits=(BELL, GHZ),
        calibration_set_id="26c5e70f-bea0-43af-bd37-6212ec7d04cb",
        options=q.RunOptions.create(heralding_mode="zeros", max_circuit_duration_over_t2=0.5, active_reset_cycles=2),
    )  # fmt: skip

    class _Ledger:
        def update(self, *args: object, **kwargs: object) -> None:
            return None

    flow = iqm_submit_flow(IQMProtocol(), _Ledger(), "garnet", request, use_timeslot=True)  # type: ignore[arg-type]
    call = next(flow)
    assert call.method == "POST" and call.path == "api/v1/jobs/garnet/circuit" and not call.idempotent
    assert call.params == {"use_timeslot": "true"} and call.content is not None
    definition = CircuitJobDefinition.model_validate_json(call.content)
    assert definition.shots == 123 and str(definition.calibration_set_id) == request.calibration_set_id
    assert definition.heralding_mode.value == "zeros" and definition.active_reset_cycles == 2
    assert definition.max_circuit_duration_over_t2 == 0.5
    assert [c.name for c in definition.circuits] == ["bell", "ghz"]
    assert definition.circuits[0].metadata == {"label": "x", "qaas_submission_id": request.submission_id}
    assert definition.circuits[1].metadata is None


@pytest.mark.parametrize("status", [s.value for s in JobStatus])
def test_job_data_as_iqm_client_writes_it_parses_in_ours(status: str) -> None:
    now = datetime.now(UTC)
    data = JobData(
        id=uuid.uuid4(), type="circuit", status=status, queue_position=3 if status == "waiting" else None,
        compilation={"calibration_set_id": uuid.uuid4()},
        errors=[{"message": "boom", "error_code": "E42", "source": "execution"}] if status == "failed" else [],
        messages=[{"message": "hello", "source": "server"}],
        timeline=[{"status": "created", "timestamp": now, "source": "server"}],
    )  # fmt: skip
    ours = IQMProtocol.parse_job(_response(data.model_dump_json().encode()))
    assert ours.id == str(data.id) and ours.status == status
    assert ours.terminal is (status in ("completed", "failed", "cancelled"))
    assert ours.queue_position == data.queue_position
    assert ours.calibration_set_id == str(data.compilation.calibration_set_id)  # type: ignore[union-attr]
    assert [e.message for e in ours.errors] == [e.message for e in data.errors]
    assert ours.timeline[0].status == "created"
    extended = {**json.loads(data.model_dump_json()), "a_field_from_the_future": {"x": 1}}
    assert IQMProtocol.parse_job(_response(extended)).id == ours.id


def test_the_measurements_artifact_parses_and_builds_the_result() -> None:
    shots = 4
    batch = CircuitMeasurementResultsBatchAdapter.validate_python(
        [{"m": [[0, 0], [1, 1], [1, 1], [0, 0]]}, {"a": [[1]] * shots, "b": [[0]] * shots}]
    )
    body = CircuitMeasurementResultsBatchAdapter.dump_json(batch)
    measurements = IQMProtocol.parse_measurements(_response(body))
    request = q.RunRequest(schema="qaas.run/1", submission_id=str(uuid.uuid4()), shots=shots, circuits=(BELL, GHZ))
    document = completed_result(request, measurements, iqm_job_id="j", calibration_set_id=None)
    result = q.Result(document)
    assert result.counts(0) == {"00": 2, "11": 2} and result.counts(1) == {"10": 4}
    with pytest.raises(q.ResponseError, match="measurements of 1 circuits for 2"):
        completed_result(request, measurements[:1], iqm_job_id="j", calibration_set_id=None)


def test_the_quantum_computers_listing() -> None:
    body = {"quantum_computers": [{"id": str(uuid.uuid4()), "alias": "garnet", "display_name": "Garnet",
                                   "proxy_path": "station/garnet"}]}  # fmt: skip
    ((qc_id, alias),) = IQMProtocol.parse_quantum_computers(_response(body))
    assert alias == "garnet" and qc_id == body["quantum_computers"][0]["id"]
