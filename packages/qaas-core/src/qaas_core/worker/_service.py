"""A long-lived worker service on a Unix socket, so a task starts without importing iqm-client again.

Protocol: the client sends one JSON line ``{"command": "run"|"calibrate", "dir": PATH, "calibration_set_id": …}``
and keeps the connection open; the service answers one JSON line ``{"exit": CODE, "message": TEXT}`` when the task
ends. If the client goes away (HEAppE killed the task), the service stops the task and cancels its IQM job.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

__all__ = ["delegate", "serve"]

logger = logging.getLogger(__name__)


def _wait_for_start(socket_path: str, limit: float = 60.0) -> None:
    """A service that announced itself (``<socket>.starting``) but does not listen yet is importing iqm-client:
    waiting for it is never slower than importing iqm-client here."""
    import time

    deadline = time.monotonic() + limit
    while os.path.exists(socket_path + ".starting") and not os.path.exists(socket_path):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def delegate(socket_path: str, command: str, task_dir: Path, **extra: Any) -> tuple[int, str] | None:
    """Hand a task to a running service. Returns (exit code, message), or None when no service answered (none
    listening, or it went away before answering)."""
    _wait_for_start(socket_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
    except OSError:
        sock.close()
        return None
    with sock:
        sock.sendall(json.dumps({"command": command, "dir": str(task_dir.resolve()), **extra}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                return None  # the service went away mid-task: the caller runs the task itself (it re-attaches)
            reply += chunk
    answer = json.loads(reply)
    return int(answer["exit"]), str(answer.get("message", ""))


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        from qaas_core.worker._execute import EXIT, WorkerError, calibrate_task, run_task

        try:
            request = json.loads(self.rfile.readline())
            task_dir = Path(request["dir"])
            command = request["command"]
        except (ValueError, KeyError, TypeError) as exc:
            self._answer(EXIT["bad_input"], f"malformed service request: {exc}")
            return
        gone = threading.Event()
        threading.Thread(target=self._watch, args=(gone,), daemon=True).start()
        try:
            if command == "run":
                code = run_task(task_dir, state_dir=self.server.state_dir, should_stop=gone.is_set)
            elif command == "calibrate":
                code = calibrate_task(task_dir, calibration_set_id=request.get("calibration_set_id"))
            else:
                code = EXIT["bad_input"]
                self._answer(code, f"unknown command {command!r}")
                return
            self._answer(code, "")
        except WorkerError as exc:
            self._answer(exc.exit_code, str(exc))
        except Exception as exc:
            logger.exception("worker service: task in %s crashed", task_dir)
            self._answer(EXIT["internal"], f"internal error: {type(exc).__name__}: {exc}")

    def _watch(self, gone: threading.Event) -> None:
        # the client sends nothing after its request line: EOF means it is gone
        with contextlib.suppress(OSError):
            self.connection.recv(1)
        gone.set()

    def _answer(self, code: int, message: str) -> None:
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps({"exit": code, "message": message}).encode() + b"\n")


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, state_dir: Path) -> None:
        self.state_dir = state_dir
        super().__init__(path, _Handler)


def _exit_with_parent(parent: int) -> None:
    """Stop the process when the one that started it is gone (an emulator that died without stopping us)."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    logger.info("worker service: parent %d is gone, exiting", parent)
    os._exit(0)


def serve(
    socket_path: str, state_dir: Path, ready: threading.Event | None = None, *, exit_with_parent: bool = False
) -> None:
    """Serve tasks on ``socket_path`` until interrupted; imports iqm-client once, up front.

    Args:
        socket_path: the Unix socket to listen on (created 0600).
        state_dir: where submission ids are recorded.
        ready: set once the socket listens.
        exit_with_parent: stop when the parent process goes away (used when an emulator starts the service).
    """
    if exit_with_parent:
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import iqm.iqm_client
    import iqm.station_control.interface.models  # noqa: F401

    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    with _Server(socket_path, state_dir) as server:
        os.chmod(socket_path, 0o600)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path + ".starting")
        if ready is not None:
            ready.set()
        logger.info("qaas-worker service listening on %s", socket_path)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path)
