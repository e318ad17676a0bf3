"""``qaas-worker``: the cluster-side command (see ``qaas_core.worker``).

The site's command templates start it isolated, with its configuration named on the command line::

    /opt/qaas/bin/python -I -m qaas_core.worker --config /etc/qaas/worker.toml run

Before anything else it replaces the job's environment by the site's (:func:`~._config.clean_environment`).

For the site administrator: ``doctor`` checks an installation (:mod:`~._doctor`), ``info`` prints the site document
served at ``{HEAPPE_URL}/qaas`` (:mod:`qaas_core._version`) and ``templates`` the HEAppE command templates with this
installation's interpreter and configuration filled in (:mod:`~._deploy`).
"""

from __future__ import annotations

import argparse
import os
import pwd
import signal
import sys
import threading
from pathlib import Path
from typing import Final

from qaas_core.worker._config import WorkerConfig
from qaas_core.worker._files import FileSink

__all__ = ["main"]

MAX_OUTPUT: Final = 1 << 30  # largest output file accepted from the site's own worker service


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qaas-worker", description="Cluster side of qaas (run by HEAppE).")
    parser.add_argument("--config", type=Path, help="the site's worker configuration (default /etc/qaas/worker.toml)")
    parser.add_argument("--account", help="cluster account the task runs under (default: the OS user)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run request.json in the task directory, write result.json")
    run.add_argument("--dir", default=".", help="task directory (default: current directory)")
    run.add_argument("--timeout", type=float, default=None, help="give up (and cancel) after this many seconds")
    ses = sub.add_parser("session", help="run the numbered batches the client uploads, until closed, idle or walltime")
    ses.add_argument("--dir", default=".", help="task directory (default: current directory)")
    cal = sub.add_parser("calibrate", help="write calibration.json for the current calibration set")
    cal.add_argument("--dir", default=".")
    cal.add_argument("--calibration-set", default=None, help="a pinned set (default: $QAAS_CALIBRATION_SET)")
    srv = sub.add_parser("serve", help="hold iqm-client and the IQM credential; serve tasks on the site's socket")
    srv.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process goes away")
    doc = sub.add_parser("doctor", help="check this installation and the site's configuration; exit 1 on a failure")
    doc.add_argument("--python", help="the interpreter the command templates name (default: this one)")
    sub.add_parser("info", help="print the site document (qaas-core version, schemas) a site serves at /qaas")
    tpl = sub.add_parser("templates", help="print the HEAppE command templates filled in for this installation")
    tpl.add_argument("--python", help="the interpreter the templates name (default: this one)")
    return parser


def _fail(message: str, code: int) -> int:
    print(f"qaas-worker: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``qaas-worker``; returns the exit code."""
    from qaas_core._errors import ConfigurationError
    from qaas_core.worker._config import clean_environment, load_config
    from qaas_core.worker._execute import EXIT

    args = _parser().parse_args(argv)
    if args.command in ("doctor", "info", "templates"):
        return _admin(args)
    try:
        inputs = clean_environment()
        config = load_config(args.config)
    except ConfigurationError as exc:
        return _fail(str(exc), EXIT["config"])
    if args.command == "serve":
        return _serve(config, args.exit_with_parent)
    task_dir = Path(args.dir)
    if not task_dir.is_dir():
        return _fail(f"task directory {task_dir} does not exist", EXIT["bad_input"])
    account = args.account or pwd.getpwuid(os.getuid()).pw_name
    if args.command == "run":
        return _run(config, task_dir, account, args.timeout)
    if args.command == "session":
        return _session(config, task_dir, account, inputs)
    return _calibrate(config, task_dir, account, args.calibration_set or inputs.get("QAAS_CALIBRATION_SET"))


def _admin(args: argparse.Namespace) -> int:
    """The administrator's commands: they read no job input, and ``doctor`` must see the environment it checks."""
    import json

    from qaas_core._errors import ConfigurationError
    from qaas_core._version import site_info
    from qaas_core.worker._config import DEFAULT_CONFIG
    from qaas_core.worker._deploy import command_templates

    if args.command == "doctor":
        from qaas_core.worker._doctor import run_doctor

        return run_doctor(args.config, python=args.python)
    if args.command == "info":
        print(json.dumps(site_info(), indent=2))
        return 0
    config = str(Path(os.path.abspath(args.config or DEFAULT_CONFIG)))
    try:
        filled = [t.filled(args.python or sys.executable, config) for t in command_templates()]
    except ConfigurationError as exc:
        return _fail(str(exc), 5)
    print(json.dumps(filled, indent=2))
    return 0


def _serve(config: WorkerConfig, exit_with_parent: bool) -> int:
    from qaas_core.worker._service import serve

    if config.socket is None:
        return _fail(f"{config.source}: give [service] socket to serve", 5)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        serve(config, exit_with_parent=exit_with_parent)
    except KeyboardInterrupt:
        return 0
    return 0


def _run(config: WorkerConfig, task_dir: Path, account: str, timeout: float | None) -> int:
    from qaas_core._errors import ValidationError
    from qaas_core.worker._execute import EXIT, WorkerError, run
    from qaas_core.worker._files import TaskFiles, decode_request

    files = TaskFiles(task_dir, config.max_upload_bytes)
    sink = FileSink(task_dir)
    sink.progress("started", pid=os.getpid())
    try:
        raw = files.read_request()
        request, _digest = decode_request(raw, config.max_request_bytes)
    except ValidationError as exc:
        from qaas_core.worker._execute import _Output

        sink.progress("failed", reason="bad input")
        _Output(sink, False).failure("unknown", str(exc))
        return _fail(f"bad request: {exc}", EXIT["bad_input"])
    if files.existing_result(request.submission_id, MAX_OUTPUT):
        sink.progress("done", reused=True)
        return EXIT["ok"]
    answer = _delegate(config, "run", sink, account, request=raw)
    if answer is not None:
        return answer
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return run(raw, config=config, account=account, sink=sink, should_stop=stop.is_set, timeout=timeout)
    except WorkerError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT["cancelled"])


def _session(config: WorkerConfig, task_dir: Path, account: str, inputs: dict[str, str]) -> int:
    from qaas_core._errors import ValidationError
    from qaas_core.worker._execute import EXIT, WorkerError, run
    from qaas_core.worker._session import parse_session_limit, run_session

    try:
        max_time = parse_session_limit(inputs.get("QAAS_SESSION_MAX_TIME"), 3600.0, "the session's max time")
        idle = parse_session_limit(inputs.get("QAAS_SESSION_IDLE_TIMEOUT"), 300.0, "the session's idle timeout")
    except ValidationError as exc:
        return _fail(str(exc), EXIT["bad_input"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def run_batch(raw: bytes, sink: FileSink) -> int:
        answer = _delegate(config, "run", sink, account, request=raw, keep_signals=True)
        if answer is not None:
            return answer
        try:
            return run(raw, config=config, account=account, sink=sink, should_stop=stop.is_set)
        except WorkerError as exc:
            return _fail(str(exc), exc.exit_code)

    reason = run_session(task_dir, config=config, account=account, run_batch=run_batch, max_time=max_time,
                         idle_timeout=idle, should_stop=stop.is_set)  # fmt: skip
    print(f"qaas-worker: session ended ({reason})", file=sys.stderr)
    return EXIT["ok"] if reason != "stopped" else EXIT["cancelled"]


def _calibrate(config: WorkerConfig, task_dir: Path, account: str, calibration_set_id: str | None) -> int:
    from qaas_core.worker._execute import WorkerError, calibrate, check_calibration_set

    sink = FileSink(task_dir)
    sink.progress("started", pid=os.getpid())
    try:
        check_calibration_set(calibration_set_id)
        answer = _delegate(config, "calibrate", sink, account, calibration_set_id=calibration_set_id)
        if answer is not None:
            return answer
        return calibrate(config=config, calibration_set_id=calibration_set_id, sink=sink)
    except WorkerError as exc:
        return _fail(str(exc), exc.exit_code)


def _delegate(config: WorkerConfig, command: str, sink: FileSink, account: str, *, request: bytes | None = None,
              calibration_set_id: str | None = None, keep_signals: bool = False) -> int | None:  # fmt: skip
    """Hand the task to the site's worker service; None when the task may (and must) run in-process."""
    from qaas_core.worker._execute import EXIT
    from qaas_core.worker._service import delegate

    if config.socket is None:
        return None
    if not keep_signals:  # a killed task closes the socket, and the service cancels the job
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT["cancelled"]))
    answer = delegate(config.socket, command, sink, account=account, request=request,
                      calibration_set_id=calibration_set_id, max_output=MAX_OUTPUT)  # fmt: skip
    if answer is None:
        if config.service_required:
            return _fail(f"the worker service at {config.socket} did not answer; this site runs tasks only "
                         "through it", EXIT["unreachable"])  # fmt: skip
        return None
    code, message = answer
    if message:
        print(f"qaas-worker: {message}", file=sys.stderr)
    return code
