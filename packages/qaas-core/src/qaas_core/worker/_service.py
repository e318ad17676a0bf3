"""The worker service: one long-lived process that holds the site's IQM credential and iqm-client, on a Unix socket.

A task (``qaas-worker run`` started by HEAppE under a cluster account) reads its own request file and sends the
bytes; the service runs them and streams back progress events and the result file, which the task writes into its
directory. The service therefore never reads or writes a user's files, and the tasks never hold the IQM credential.

Who is asking: the service asks the kernel (``SO_PEERCRED``). A task of another OS user is that user's cluster
account, whatever it claims. Only when the task runs under the service's own user — one account for everything,
as in the emulator — is the account the task names taken as given (such a site cannot isolate its projects from
code running in a task; ``qaas-worker doctor`` says so).

Protocol (every header is one JSON line of at most 64 KiB; a body follows a header that announces ``bytes``)::

    task → service   {"command": "run", "account": "p1acct", "bytes": N}  + N bytes of the request file
                     {"command": "calibrate", "calibration_set_id": "…" | null}
                     {"command": "ping"}                                   (``qaas-worker doctor``)
    service → task   {"progress": {"event": …}}                           (any number)
                     {"file": "result.json", "bytes": N} + N bytes         (output files)
                     {"exit": CODE, "message": TEXT}                       (last; a ping: 0, "qaas-core X.Y.Z")

If the task goes away (HEAppE cancelled it or its walltime ended), the service stops the work and cancels the IQM
job.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pwd
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from qaas_core.worker._config import WorkerConfig
from qaas_core.worker._files import OUTPUT_NAMES, FileSink, now

__all__ = ["delegate", "ping", "serve"]

logger = logging.getLogger(__name__)

MAX_HEADER: Final = 64 * 1024


class ProtocolError(Exception):
    """A peer broke the service protocol."""


def _read_header(stream: io.BufferedIOBase) -> dict[str, Any]:
    line = stream.readline(MAX_HEADER + 1)
    if not line:
        raise EOFError("the peer closed the connection")
    if len(line) > MAX_HEADER or not line.endswith(b"\n"):
        raise ProtocolError("header line too long or cut short")
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ProtocolError("a header must be a JSON object")
    return value


def _read_body(stream: io.BufferedIOBase, size: object, limit: int) -> bytes:
    if type(size) is not int or not 0 <= size <= limit:
        raise ProtocolError(f"announced body of {size!r} bytes (limit {limit})")
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the peer closed the connection mid-body")
    return data


def _send(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    sock.sendall(json.dumps(header, separators=(",", ":")).encode() + b"\n" + body)


# -- the task's side -----------------------------------------------------------------------------------------------


def _wait_for_start(socket_path: Path, limit: float = 60.0) -> None:
    """A service that announced itself (``<socket>.starting``) but does not listen yet is importing iqm-client:
    waiting for it is never slower than importing iqm-client here."""
    import time

    deadline = time.monotonic() + limit
    starting = socket_path.with_name(socket_path.name + ".starting")
    while starting.exists() and not socket_path.exists():
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def delegate(
    socket_path: Path, command: str, sink: FileSink, *, account: str, request: bytes | None = None,
    calibration_set_id: str | None = None, max_output: int,
) -> tuple[int, str] | None:  # fmt: skip
    """Hand a task to the service and relay what it sends into the task directory.

    Returns (exit code, message), or None when no service answered or it went away before the end (the caller
    decides whether it may run the task itself).
    """
    _wait_for_start(socket_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(socket_path))
    except OSError:
        sock.close()
        return None
    with sock, sock.makefile("rb") as stream:
        header: dict[str, Any] = {"command": command, "account": account}
        if command == "run":
            assert request is not None
            header["bytes"] = len(request)
        else:
            header["calibration_set_id"] = calibration_set_id
        try:
            _send(sock, header, request or b"")
            while True:
                frame = _read_header(stream)
                if "progress" in frame and isinstance(frame["progress"], dict):
                    sink.append(frame["progress"])
                elif "file" in frame:
                    name = frame["file"]
                    if name not in OUTPUT_NAMES:
                        raise ProtocolError(f"the service sent a file named {name!r}")
                    sink.write(name, _read_body(stream, frame.get("bytes"), max_output))
                elif "exit" in frame:
                    return int(frame["exit"]), str(frame.get("message", ""))
                else:
                    raise ProtocolError(f"unexpected frame {sorted(frame)}")
        except (OSError, EOFError, ValueError, ProtocolError) as exc:
            logger.warning("the worker service went away mid-task: %s", exc)
            return None


def ping(socket_path: Path, timeout: float = 5.0) -> str | None:
    """Whether a service answers on ``socket_path``: its answer (``qaas-core VERSION``), or None when none came."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with sock, sock.makefile("rb") as stream:
            sock.connect(str(socket_path))
            _send(sock, {"command": "ping"})
            while True:
                frame = _read_header(stream)
                if "exit" in frame:
                    return str(frame.get("message", ""))
    except (OSError, EOFError, ValueError, ProtocolError):
        return None


# -- the service's side --------------------------------------------------------------------------------------------


class _SocketSink:
    """A sink that sends events and files to the task over its connection."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def progress(self, event: str, **fields: Any) -> None:
        self._frame({"progress": {"event": event, "timestamp": now(), **fields}})

    def write(self, name: str, data: bytes) -> None:
        self._frame({"file": name, "bytes": len(data)}, data)

    def _frame(self, header: dict[str, Any], body: bytes = b"") -> None:
        with self._lock, contextlib.suppress(OSError):  # a task that went away is noticed by the watcher
            _send(self._sock, header, body)


def peer_account(sock: socket.socket, claimed: object) -> str:
    """The cluster account of the task on the other end of ``sock`` (see the module docstring).

    Raises:
        ProtocolError: the kernel gives no credentials, or a same-user task names no valid account.
    """
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError) as exc:
        raise ProtocolError("cannot tell which user the task runs as") from exc
    _pid, uid, _gid = struct.unpack("3i", raw)
    if uid != os.getuid():
        try:
            return pwd.getpwuid(uid).pw_name
        except KeyError:
            return f"uid-{uid}"
    if isinstance(claimed, str) and claimed:
        return claimed
    return pwd.getpwuid(uid).pw_name


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        from qaas_core.worker._execute import EXIT, WorkerError, calibrate, run

        config = self.server.config
        sink = _SocketSink(self.connection)
        try:
            header = _read_header(self.rfile)
            command = header.get("command")
            account = peer_account(self.connection, header.get("account"))
            request = _read_body(self.rfile, header.get("bytes"), config.max_upload_bytes) if command == "run" else b""
        except (ValueError, EOFError, OSError, ProtocolError) as exc:
            self._answer(sink, EXIT["bad_input"], f"malformed service request: {exc}")
            return
        if command == "ping":
            from qaas_core._version import site_info

            self._answer(sink, EXIT["ok"], f"qaas-core {site_info()['qaas_version']}")
            return
        gone = threading.Event()
        threading.Thread(target=self._watch, args=(gone,), daemon=True).start()
        try:
            if command == "run":
                code = run(request, config=config, account=account, sink=sink, should_stop=gone.is_set)
            elif command == "calibrate":
                code = calibrate(config=config, calibration_set_id=header.get("calibration_set_id"), sink=sink)
            else:
                self._answer(sink, EXIT["bad_input"], f"unknown command {str(command)[:40]!r}")
                return
            self._answer(sink, code, "")
        except WorkerError as exc:
            self._answer(sink, exc.exit_code, str(exc))
        except Exception as exc:
            logger.exception("worker service: a task of account %s crashed", account)
            self._answer(sink, EXIT["internal"], f"internal error: {type(exc).__name__}")

    def _watch(self, gone: threading.Event) -> None:
        # the task sends nothing after its request: EOF means it is gone
        with contextlib.suppress(OSError):
            self.connection.recv(1)
        gone.set()

    @staticmethod
    def _answer(sink: _SocketSink, code: int, message: str) -> None:
        sink._frame({"exit": code, "message": message})


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, config: WorkerConfig) -> None:
        self.config = config
        super().__init__(path, _Handler)


def _exit_with_parent(parent: int) -> None:
    """Stop the process when the one that started it is gone (an emulator that died without stopping us)."""
    import time

    while os.getppid() == parent:
        time.sleep(1.0)
    logger.info("worker service: parent %d is gone, exiting", parent)
    os._exit(0)


def serve(config: WorkerConfig, ready: Callable[[], None] | None = None, *, exit_with_parent: bool = False) -> None:
    """Serve tasks on the configured socket until interrupted; imports iqm-client once, up front.

    Args:
        config: the site's worker configuration (``[service] socket`` must be set).
        ready: called once the socket listens.
        exit_with_parent: stop when the parent process goes away (used when an emulator starts the service).
    """
    if config.socket is None:
        raise ValueError("the configuration names no service socket")
    if exit_with_parent:
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import iqm.iqm_client
    import iqm.station_control.interface.models  # noqa: F401

    path = config.socket
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    with _Server(str(path), config) as server:
        # the group of the cluster accounts may connect (see docs/deploy.md); the kernel tells who each one is
        os.chmod(path, 0o660)
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + ".starting").unlink()
        if ready is not None:
            ready()
        logger.info("qaas-worker service listening on %s", path)
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
