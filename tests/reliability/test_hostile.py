"""A hostile HEAppE server (real HTTP on loopback) cannot make the client use unbounded memory or time.

The server answers the job-state poll and the result download with a decompression bomb, an endless body, a body
trickled one byte per second, or a compressed body nobody asked for. Every case must end in a typed error within the
bounds the client promises: the body limit, the result limit derived from the request, and ``timeout=``.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import qaas_core as q
from qaas_core._auth import TokenManager
from qaas_core._config import Settings
from qaas_core._heappe import HEAppEClient
from qaas_core._http import new_client
from qaas_core._job import Job, _Tracker
from qaas_core._ledger import Ledger, LedgerEntry, request_digest, utcnow
from qaas_core._secret import Secret
from tests.reliability.test_faults import BELL

MODE: dict[str, str] = {"state": "finished", "result": "bomb"}


async def _state(request: Request) -> Response:
    mode = MODE["state"]
    if mode == "huge":  # a 300 MB answer that never ends early

        async def endless() -> AsyncIterator[bytes]:
            yield b'{"Id": 1, "Name": "'
            for _ in range(300):
                yield b"x" * (1 << 20)
            yield b'"}'

        return StreamingResponse(endless(), media_type="application/json")
    if mode == "trickle":  # one byte per second: every single read succeeds, the whole never arrives

        async def trickle() -> AsyncIterator[bytes]:
            for byte in b'{"Id": 1, "State": 16, "Tasks": []}':
                await asyncio.sleep(1.0)
                yield bytes([byte])

        return StreamingResponse(trickle(), media_type="application/json")
    if mode == "encoded":  # a compressed body, although the client asked for none
        body = gzip.compress(json.dumps({"Id": 1, "State": 16}).encode())
        return Response(body, media_type="application/json", headers={"Content-Encoding": "gzip"})
    return JSONResponse({"Id": 1, "State": 16, "Tasks": [{"Id": 1, "State": 16}]})


async def _parts(request: Request) -> Response:
    return JSONResponse([])


async def _download(request: Request) -> Response:
    body = await request.json()
    if not body["RelativeFilePath"].endswith("result.json.gz"):
        return JSONResponse({"title": "Not Found", "status": 404}, status_code=404)
    return JSONResponse(_bomb())


@functools.cache
def _bomb() -> str:
    """About 1 MB of gzip that expands to 1 GiB: 16 members of 64 MiB of spaces (made once: compressing a whole GiB
    on every download takes long enough on a busy machine to time the client out before the bomb arrives)."""
    return base64.b64encode(gzip.compress(b" " * (64 << 20), 9) * 16).decode()


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    app = Starlette(routes=[
        Route("/heappe/JobManagement/CurrentInfoForJob", _state),
        Route("/heappe/FileTransfer/DownloadPartsOfJobFilesFromCluster", _parts, methods=["POST"]),
        Route("/heappe/FileTransfer/DownloadFileFromCluster", _download, methods=["POST"]),
    ])  # fmt: skip
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


def _token() -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': time.time() + 3600, 'sub': 'u'})}.sig"


@pytest.fixture
def job(hostile: str, tmp_path: Path) -> Iterator[Job]:
    """A job of a 32-shot Bell batch whose request the ledger holds, followed on the hostile server."""
    settings = Settings(profile="hostile", token=Secret(_token()), data_dir=tmp_path, timeout=5.0)
    http = new_client(settings.timeout)
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    sid = str(uuid.uuid4())
    request = q.encode_run_request(q.RunRequest(schema="qaas.run/1", submission_id=sid, shots=32, circuits=(BELL,)))
    now = utcnow()
    ledger.record_submission(LedgerEntry(
        submission_id=sid, heappe_job_id=1, heappe_task_id=1, iqm_job_id=None, profile="hostile", project="p",
        resource="r", heappe_url=hostile, state="submitted", request_digest=request_digest(request), request_path=None,
        result_path=None, shots=32, circuits=1, calibration_set_id=None, created=now, updated=now, error=None, meta={},
    ))  # fmt: skip
    ledger.store_request(sid, request)
    heappe = HEAppEClient(hostile, TokenManager(settings, http), http=http)
    try:
        yield Job(_Tracker(sid, 1, 1, 0.2), heappe, ledger, "r")
    finally:
        http.close()


def test_a_result_bomb_is_refused_before_it_expands(job: Job) -> None:
    MODE.update(state="finished")
    with pytest.raises(q.PayloadError, match="expands beyond the limit"):
        job.result(timeout=30)


def test_an_endless_answer_is_cut_at_the_body_limit(job: Job) -> None:
    MODE.update(state="huge")
    with pytest.raises(q.ResponseError, match="exceeds the limit"):
        job.status()


def test_a_compressed_answer_nobody_asked_for_is_refused(job: Job) -> None:
    MODE.update(state="encoded")
    with pytest.raises(q.ResponseError, match="gzip-encoded"):
        job.status()


def test_timeout_bounds_the_whole_wait_even_against_a_trickling_server(job: Job) -> None:
    MODE.update(state="trickle")
    started = time.monotonic()
    with pytest.raises(q.JobTimeoutError, match="after 3"):
        job.result(timeout=3)
    assert time.monotonic() - started < 6  # the deadline covers every read, not each read on its own
