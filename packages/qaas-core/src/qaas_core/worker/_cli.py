"""``qaas-worker``: the cluster-side command (see ``qaas_core.worker``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _state_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("QAAS_WORKER_STATE"):
        return Path(os.environ["QAAS_WORKER_STATE"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("qaas-worker", appauthor=False))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qaas-worker", description="Cluster side of qaas (run by HEAppE).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run request.json in the task directory, write result.json")
    run.add_argument("--dir", default=".", help="task directory (default: current directory)")
    run.add_argument("--state-dir", help="where submissions are recorded (default: $QAAS_WORKER_STATE or user data)")
    run.add_argument("--timeout", type=float, default=None, help="give up (and cancel) after this many seconds")
    cal = sub.add_parser("calibrate", help="write calibration.json for the current calibration set")
    cal.add_argument("--dir", default=".")
    cal.add_argument("--calibration-set", default=os.environ.get("QAAS_CALIBRATION_SET") or None)
    srv = sub.add_parser("serve", help="keep iqm-client loaded and serve tasks on a Unix socket")
    srv.add_argument("--socket", default=os.environ.get("QAAS_WORKER_SOCKET"), required=False)
    srv.add_argument("--state-dir")
    srv.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process goes away")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``qaas-worker``; returns the exit code."""
    args = _parser().parse_args(argv)
    task_dir = Path(getattr(args, "dir", "."))
    if args.command in ("run", "calibrate") and not task_dir.is_dir():
        print(f"qaas-worker: task directory {task_dir} does not exist", file=sys.stderr)
        return 2
    socket_path = os.environ.get("QAAS_WORKER_SOCKET")
    if args.command in ("run", "calibrate") and socket_path:
        extra: dict[str, Any] = {}
        if args.command == "calibrate" and args.calibration_set:
            extra["calibration_set_id"] = args.calibration_set
        answer = _delegate(socket_path, args.command, task_dir, extra)
        if answer is not None:
            code, message = answer
            if message:
                print(f"qaas-worker: {message}", file=sys.stderr)
            return code
    if args.command == "serve":
        if not args.socket:
            print("qaas-worker serve: give --socket PATH (or set QAAS_WORKER_SOCKET)", file=sys.stderr)
            return 5
        from qaas_core.worker._service import serve

        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            serve(args.socket, _state_dir(args.state_dir), exit_with_parent=args.exit_with_parent)
        except KeyboardInterrupt:
            return 0
        return 0
    return _in_process(args, task_dir)


def _delegate(socket_path: str, command: str, task_dir: Path, extra: dict[str, Any]) -> tuple[int, str] | None:
    from qaas_core.worker._service import delegate

    # a killed task closes the socket, and the service cancels the job
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(4))
    return delegate(socket_path, command, task_dir, **extra)


def _in_process(args: argparse.Namespace, task_dir: Path) -> int:
    from qaas_core.worker._execute import EXIT, WorkerError, calibrate_task, run_task

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.command == "run":
            return run_task(task_dir, state_dir=_state_dir(args.state_dir), should_stop=stop.is_set,
                            timeout=args.timeout)  # fmt: skip
        return calibrate_task(task_dir, calibration_set_id=args.calibration_set)
    except WorkerError as exc:
        print(f"qaas-worker: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("qaas-worker: interrupted", file=sys.stderr)
        return EXIT["cancelled"]
