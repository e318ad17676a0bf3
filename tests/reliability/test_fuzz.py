"""Bad input from every direction yields only QaasError subclasses (hypothesis).

The default run uses a few hundred examples per target; ``nox -s fuzz`` sets ``QAAS_FUZZ_EXAMPLES=10000``.
Service responses are fuzzed at the edge we do not own: an httpx transport that answers whatever hypothesis draws
(wrong types, missing fields, huge values, path-traversal names, non-UTF-8 bytes, wrong statuses).
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qaas_core as q
from qaas_core._auth import TokenManager
from qaas_core._heappe import HEAppEClient, HEAppEProtocol
from qaas_core._job import _decode_result_file, _Tracker
from qaas_core._lexis import QuantumResource, UserOrg, resolve_target
from qaas_core._result import decode_result

EXAMPLES = int(os.environ.get("QAAS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["../../etc/passwd", "/1/../../x", "\\\\server\\share", "\x00", "é" * 3, "1" * 400])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
bodies = (json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200)
          | st.just(b"\xff\xfe\x00not utf8"))  # fmt: skip


def jobinfo_like() -> st.SearchStrategy[Any]:
    task = st.fixed_dictionaries({"Id": scalars, "State": scalars}, optional={"ErrorMessage": scalars, "Name": scalars})
    return st.fixed_dictionaries({"Id": scalars, "State": scalars}, optional={
        "Tasks": st.lists(task, max_size=2) | scalars, "Name": scalars})  # fmt: skip


class Tokens:
    """A stand-in token source: these tests fuzz HEAppE/UserOrg answers, not login."""

    def access_token(self) -> str:
        return "header.payload.signature"

    def on_unauthorized(self) -> bool:
        return False


def heappe_with(status: int, body: bytes) -> HEAppEClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    http = httpx.Client(transport=transport)
    from qaas_core._http import RetryPolicy

    return HEAppEClient("https://heappe.example.org", Tokens(), http=http,  # type: ignore[arg-type]
                        retry=RetryPolicy(attempts=1))  # fmt: skip


def only_qaas_errors(fn: Any) -> None:
    try:
        fn()
    except q.QaasError:
        pass


@FUZZ
@given(
    status=st.sampled_from([200, 200, 200, 204, 400, 401, 404, 413, 429, 500, 502]),
    body=bodies | jobinfo_like().map(lambda v: json.dumps(v).encode()),
)
def test_heappe_answers(status: int, body: bytes) -> None:
    from qaas_core._http import RetryPolicy

    client = heappe_with(status, body)
    client.retry = RetryPolicy(attempts=1)
    p = HEAppEProtocol()
    only_qaas_errors(lambda: client.job_info(7))
    only_qaas_errors(lambda: client.list_clusters("VLQ"))
    only_qaas_errors(lambda: p.parse_changed_files(client.send(p.changed_files(7))))
    only_qaas_errors(lambda: p.parse_download(client.send(p.download(7, "/1/result.json.gz")), "downloading"))
    only_qaas_errors(lambda: p.parse_file_parts(client.send(p.file_parts(7, [(1, 1, 0)]))))
    only_qaas_errors(lambda: p.parse_upload(client.send(p.upload(7, 1, [("request.json.gz", b"x")]))))
    only_qaas_errors(lambda: p.parse_jobs(client.send(p.list_jobs([1]))))
    only_qaas_errors(lambda: p.parse_session_code(client.send(p.authenticate_lexis("t"))))


@FUZZ
@given(
    clusters=st.lists(
        json_values
        | st.fixed_dictionaries(
            {"Name": scalars, "Id": scalars, "NodeTypes": json_values, "FileTransferMethodIds": json_values}
        ),
        max_size=3,
    )
)
def test_cluster_listings(clusters: list[Any]) -> None:
    from qaas_core._http import RetryPolicy

    client = heappe_with(200, json.dumps(clusters).encode())
    client.retry = RetryPolicy(attempts=1)
    resource = QuantumResource("EQE1-CZ-P0001", "p", "VLQ", "https://heappe.example.org")
    only_qaas_errors(lambda: resolve_target(client, resource, q.load_settings("lexis", project="p", resource="r")))


@FUZZ
@given(status=st.sampled_from([200, 200, 401, 403, 404, 500]), body=bodies)
def test_userorg_answers(status: int, body: bytes) -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(status, content=body)))
    org = UserOrg(q.load_settings("lexis", project="p"), Tokens(), http)  # type: ignore[arg-type]
    from qaas_core._http import RetryPolicy

    org.retry = RetryPolicy(attempts=1)
    only_qaas_errors(lambda: org.resources("p"))


@FUZZ
@given(discovery=bodies, token=bodies, status=st.sampled_from([200, 400, 401, 500]))
def test_login_service_answers(discovery: bytes, token: bytes, status: int) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, content=discovery)
        return httpx.Response(status, content=token)

    import tempfile

    settings_ = q.load_settings("lexis", auth_url="https://aai.example.org/auth/realms/LEXIS",
                                refresh_token="rt", data_dir=tempfile.mkdtemp())  # fmt: skip
    manager = TokenManager(settings_, httpx.Client(transport=httpx.MockTransport(answer)))
    only_qaas_errors(manager.access_token)
    only_qaas_errors(manager.start_device_flow)


@FUZZ
@given(
    data=bodies
    | json_values.map(
        lambda v: json.dumps(
            {"schema": "qaas.result/1", "submission_id": "s", "status": "completed", "circuits": v}
        ).encode()
    )
)
def test_result_documents(data: bytes) -> None:
    only_qaas_errors(lambda: decode_result(data))
    only_qaas_errors(lambda: _decode_result_file(gzip.compress(data), 1 << 20))
    only_qaas_errors(lambda: _decode_result_file(gzip.compress(data)[:-5], 1 << 20))


@FUZZ
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_progress_files(text: str) -> None:
    tracker = _Tracker("s", 1, 1, 1.0)
    from qaas_core._heappe import FilePart

    tracker.apply_progress([FilePart(content=text, file_type=1)])  # never raises: junk lines are skipped


@FUZZ
@given(doc=json_values)
def test_calibration_documents(doc: Any) -> None:
    only_qaas_errors(lambda: q.Calibration.from_json(json.dumps(doc)))
    only_qaas_errors(lambda: q.Calibration.from_iqm(doc if isinstance(doc, dict) else {}))


@FUZZ
@given(source=st.text(max_size=400))
def test_qasm3_text(source: str) -> None:
    only_qaas_errors(lambda: q.circuit_from_qasm3(source, q.load_profile("garnet20")))
