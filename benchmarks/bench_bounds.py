"""Bounded inputs: peak memory of the worker and the client under decompression bombs and endless answers.

``run()`` returns rows ``{"name", "value", "unit", "repeats", "spread": [min, max], "target"}``. Each figure is the
peak resident set size (``ru_maxrss``, from ``wait4`` of that very process) of a fresh process that meets the attack
with the default limits, and its wall time until the typed refusal:

* worker: ``qaas-worker run`` (in-process, isolated, site configuration) on a 1 MB ``request.json.gz`` that expands
  to 1 GiB (default ``max_request_bytes`` 64 MiB);
* client: ``Job.result()`` of a 32-shot Bell job whose result file on a hostile HEAppE server is a gzip bomb of
  1 GiB; ``Job.status()`` against a server whose state answer is an endless 300 MB body (default body limit 32 MiB).

Run alone with ``python benchmarks/bench_bounds.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_figure as _figure

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 3

HOSTILE = textwrap.dedent("""
    import asyncio, base64, socket, sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
    bomb = open(sys.argv[1], "rb").read()

    async def state(request):
        if sys.argv[2] == "huge":
            async def endless():
                yield b'{"Id": 1, "Name": "'
                for _ in range(300):
                    yield b"x" * (1 << 20)
            return StreamingResponse(endless(), media_type="application/json")
        return JSONResponse({"Id": 1, "State": 16, "Tasks": [{"Id": 1, "State": 16}]})

    async def parts(request):
        return JSONResponse([])

    async def download(request):
        body = await request.json()
        if not body["RelativeFilePath"].endswith(".gz"):
            return JSONResponse({"status": 404}, status_code=404)
        return JSONResponse(base64.b64encode(bomb).decode())

    app = Starlette(routes=[Route("/heappe/JobManagement/CurrentInfoForJob", state),
        Route("/heappe/FileTransfer/DownloadPartsOfJobFilesFromCluster", parts, methods=["POST"]),
        Route("/heappe/FileTransfer/DownloadFileFromCluster", download, methods=["POST"])])
    sock = socket.socket(); sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
""")

CLIENT = textwrap.dedent("""
    import sys, time, uuid
    sys.path.insert(0, sys.argv[3])
    from tests.reliability.test_hostile import _token
    import qaas_core as q
    from qaas_core._auth import TokenManager
    from qaas_core._config import Settings
    from qaas_core._heappe import HEAppEClient
    from qaas_core._http import new_client
    from qaas_core._job import Job, _Tracker
    from qaas_core._ledger import Ledger, LedgerEntry, request_digest, utcnow
    from qaas_core._secret import Secret
    from tests.reliability.test_faults import BELL
    url, mode, data = sys.argv[1], sys.argv[2], sys.argv[4]
    from pathlib import Path
    settings = Settings(profile="b", token=Secret(_token()), data_dir=Path(data), timeout=30.0)
    http = new_client(settings.timeout)
    ledger = Ledger(data + "/ledger.sqlite3")
    sid = str(uuid.uuid4())
    req = q.encode_run_request(q.RunRequest(schema="qaas.run/1", submission_id=sid, shots=32, circuits=(BELL,)))
    now = utcnow()
    ledger.record_submission(LedgerEntry(submission_id=sid, heappe_job_id=1, heappe_task_id=1, iqm_job_id=None,
        profile="b", project="p", resource="r", heappe_url=url, state="submitted", request_digest=request_digest(req),
        request_path=None, result_path=None, shots=32, circuits=1, calibration_set_id=None, created=now, updated=now,
        error=None, meta={}))
    ledger.store_request(sid, req)
    job = Job(_Tracker(sid, 1, 1, 0.2), HEAppEClient(url, TokenManager(settings, http), http=http), ledger, "r")
    try:
        job.result(timeout=60) if mode == "bomb" else job.status()
    except q.QaasError as exc:
        print(type(exc).__name__)
""")


LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_pid, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as out:
    json.dump([usage.ru_maxrss / 1024, wall, os.waitstatus_to_exitcode(status)], out)
"""
"""Runs a command and reports its peak RSS. The measured process is started from this small interpreter, not from
the benchmark's: Linux carries the parent's memory high-water mark over fork and exec into ``ru_maxrss``, so a child
of a large process would report the parent's size."""


def _measure(argv: list[str], **kwargs: Any) -> tuple[float, float, int, str]:
    """(peak RSS in MiB, wall seconds, exit code, output) of one process."""
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r", suffix=".json") as report:
        subprocess.run([sys.executable, "-c", LAUNCHER, report.name, *argv], stdout=out, stderr=subprocess.STDOUT,
                       check=True, **kwargs)  # fmt: skip
        peak, wall, code = json.loads(report.read())
        out.seek(0)
        return peak, wall, code, out.read().decode(errors="replace")


def _worker(tmp: Path, bomb: bytes) -> list[dict[str, Any]]:
    (tmp / "token").write_text("x")
    (tmp / "token").chmod(0o600)
    config = tmp / "worker.toml"
    config.write_text(f'[iqm]\nurl = "http://127.0.0.1:9"\ntoken_file = "{tmp / "token"}"\n\n[state]\ndir = "{tmp}"\n')
    rss, walls = [], []
    for i in range(REPEATS):
        task = tmp / f"task{i}"
        task.mkdir()
        (task / "request.json.gz").write_bytes(bomb)
        peak, wall, code, output = _measure(
            [_worker_python(), "-I", "-m", "qaas_core.worker", "--config", str(config), "run"],
            cwd=task, env={"PATH": os.environ["PATH"]},
        )  # fmt: skip
        assert code == 2 and "expands beyond the limit" in output, output
        rss.append(peak)
        walls.append(wall)
    return [
        _figure("worker: 1 MB gzip request expanding to 1 GiB, peak RSS", rss, "MiB", target="< 200"),
        _figure("worker: same, time to the refusal (process start included)", walls, "s"),
    ]


def _worker_python() -> str:
    """The interpreter with iqm-client that runs the emulated site's worker (the user's environment has none)."""
    from qaas_core.emulator._worker_env import worker_python

    return worker_python()


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _service(tmp: Path, bomb: bytes) -> list[dict[str, Any]]:
    """The worker service (iqm-client loaded) fed the bomb straight over its socket, as code in a task could."""
    import socket

    sock_path = tmp / "w.sock"
    config = tmp / "service.toml"
    config.write_text(f'[iqm]\nurl = "http://127.0.0.1:9"\ntoken_file = "{tmp / "token"}"\n\n[state]\n'
                      f'dir = "{tmp}"\n\n[service]\nsocket = "{sock_path}"\n')  # fmt: skip
    service = subprocess.Popen([_worker_python(), "-I", "-m", "qaas_core.worker", "--config", str(config), "serve"],
                               env={"PATH": os.environ["PATH"]}, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        while not sock_path.exists():
            if service.poll() is not None:
                raise RuntimeError(f"the worker service ended ({service.returncode}): {service.communicate()[1]}")
            time.sleep(0.05)
        before = _peak_mib(service.pid)
        for _ in range(REPEATS):
            with socket.socket(socket.AF_UNIX) as conn:
                conn.connect(str(sock_path))
                conn.sendall(json.dumps({"command": "run", "account": "a", "bytes": len(bomb)}).encode() + b"\n" + bomb)
                answer = b""
                while b'"exit"' not in answer:
                    chunk = conn.recv(65536)
                    assert chunk, answer
                    answer += chunk
                assert b"expands beyond the limit" in answer, answer
        after = _peak_mib(service.pid)
    finally:
        service.terminate()
        service.wait(10)
    return [
        _figure("worker service: peak RSS before any request (iqm-client loaded)", [before], "MiB"),
        _figure("worker service: peak RSS after 3 bomb requests on its socket", [after], "MiB", target="< 200"),
    ]


def _client(tmp: Path, bomb_file: Path, mode: str) -> list[dict[str, Any]]:
    server = subprocess.Popen([sys.executable, "-c", HOSTILE, str(bomb_file), mode], stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        rss, walls = [], []
        for i in range(REPEATS):
            data = tmp / f"client-{mode}-{i}"
            data.mkdir()
            env = {**os.environ, "QAAS_RETRY_WAIT_SCALE": "0"}
            peak, wall, _code, output = _measure([sys.executable, "-c", CLIENT, url, mode, str(ROOT), str(data)],
                                                 env=env)  # fmt: skip
            assert output.strip() == ("PayloadError" if mode == "bomb" else "ResponseError"), output
            rss.append(peak)
            walls.append(wall)
    finally:
        server.terminate()
        server.wait(10)
    what = "result file is a 1 GiB gzip bomb" if mode == "bomb" else "state answer is an endless 300 MB body"
    return [
        _figure(f"client: {what}, peak RSS", rss, "MiB", target="< 200"),
        _figure(f"client: {what}, time to the refusal (process start included)", walls, "s"),
    ]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bomb_file = tmp / "bomb.gz"
        # streamed, so that this process stays small (a child's peak RSS starts from its parent's at fork)
        with gzip.open(bomb_file, "wb", compresslevel=9) as out:
            for _ in range(1024):
                out.write(b" " * (1 << 20))
        rows = _worker(tmp, bomb_file.read_bytes())
        rows += _service(tmp, bomb_file.read_bytes())
        rows += _client(tmp, bomb_file, "bomb")
        rows += _client(tmp, bomb_file, "huge")
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
