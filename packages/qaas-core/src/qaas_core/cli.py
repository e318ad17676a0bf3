"""``qaas``: log in, look at backends and calibrations, run OpenQASM 3 files, follow jobs, serve the emulator.

Exit codes: 0 success, 1 other qaas error, 2 usage or invalid input, 3 the job failed or was cancelled,
4 authentication, 5 configuration, 6 network or service unavailable, 7 the batch does not fit the allocation or
budget (nothing was sent; ``qaas estimate`` says so without trying), 130 interrupted.

Everything shown comes from somewhere we do not control (a server, a file, an argument), so nothing is ever read as
rich markup or emoji codes: the consoles have markup off, styled output is built with :class:`rich.text.Text`, and
control characters (terminal escape sequences, bidirectional overrides) are shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qaas_core._errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    JobFailedError,
    QaasError,
    RemoteAPIError,
    ResponseError,
    TransportError,
    ValidationError,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from qaas_core._client import QaasClient

__all__ = ["main"]

BIT_ORDER = (
    "bits: the keys in the order shown, each key's bits in the order of its measured qubits (first qubit leftmost); "
    "Qiskit prints the same counts little-endian (first clbit rightmost)"
)


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, markup=False, emoji=False)


_UNPRINTABLE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    if code not in (0x09, 0x0A)  # tab and newline are harmless
}


def _clean(value: object) -> str:
    """``str(value)`` with terminal control characters and bidirectional overrides shown as escapes."""
    return str(value).translate(_UNPRINTABLE)


def _text(*parts: object | tuple[object, str]) -> Text:
    """Literal text (no markup, no emoji codes, escaped control characters); a ``(value, style)`` pair is styled."""
    from rich.text import Text

    return Text.assemble(*((_clean(p[0]), p[1]) if isinstance(p, tuple) else _clean(p) for p in parts))


def _client(args: argparse.Namespace) -> QaasClient:
    from qaas_core._client import QaasClient

    return QaasClient(profile=args.profile, project=getattr(args, "project", None),
                      resource=getattr(args, "resource", None))  # fmt: skip


# -- commands ------------------------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    from qaas_core._auth import TokenManager
    from qaas_core._config import load_settings

    settings = load_settings(args.profile)
    tokens = TokenManager(settings)
    out = _console()
    try:
        if args.username:
            import getpass

            tokens.login_with_password(args.username, getpass.getpass(f"password for {args.username}: "))
        else:
            flow = tokens.start_device_flow(offline=args.offline)
            out.print(_text("Open ", (flow.verification_uri_complete, "bold")))
            out.print(_text("and confirm the code ", (flow.user_code, "bold"),
                            f" (valid for {int(flow.expires_at - time.time())} s). Waiting…"))  # fmt: skip
            tokens.complete_device_flow(flow, timeout=args.timeout)
        claims = tokens.claims()
        out.print(_text("Logged in as ", (claims.get("preferred_username", claims.get("sub", "?")), "bold"),
                        f"; tokens cached in {settings.data_dir / 'tokens.json'} (mode 0600)."))  # fmt: skip
    finally:
        tokens.close()
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    from qaas_core._auth import TokenManager
    from qaas_core._config import load_settings

    tokens = TokenManager(load_settings(args.profile))
    try:
        had = tokens.logout()
    finally:
        tokens.close()
    _console().print(_text("Logged out." if had else "No cached login for this profile."))
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    with _client(args) as client:
        claims = client.tokens.claims()
        s = client.settings
        rows = {
            "user": claims.get("preferred_username", claims.get("sub", "?")),
            "token valid until": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(claims.get("exp", 0)))),
            "profile": s.profile, "project": s.project or "-", "resource": s.resource or "-",
            "data directory": str(s.data_dir),
        }  # fmt: skip
        out = _console()
        for key, value in rows.items():
            out.print(_text(f"{key:>18}: ", value))
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from rich.table import Table

    with _client(args) as client:
        resources = client.backends(args.project)
    table = Table(title=_text("Quantum resources of ", args.project or client.settings.project))
    for col in ("resource", "location (cluster)", "aggregation", "technology", "allocation", "HEAppE"):
        table.add_column(col)
    for r in resources:
        table.add_row(*_cells(r.name, r.location, r.aggregation, r.technology or "-",
                              "-" if r.allocation is None else f"{r.allocation:g}", r.heappe_url))  # fmt: skip
    _console().print(table)
    return 0


def _cells(*values: object) -> list[Text]:
    """Literal table cells."""
    from rich.text import Text

    return [Text(_clean(v)) for v in values]


def calibration_table(calibration: Any) -> Any:
    """A rich table of per-qubit figures of a calibration."""
    from rich.table import Table

    table = Table(title=_text(calibration.device or "device", " — calibration set ", calibration.calibration_set_id))
    for col in ("qubit", "T1 (µs)", "T2 (µs)", "prx fidelity", "readout 0→1", "readout 1→0", "couplings"):
        table.add_column(col, justify="right")
    pairs = calibration.coupling_graph()
    for q in calibration.qubits:
        t1, t2 = calibration.metrics.t1.get(q), calibration.metrics.t2.get(q)
        f = calibration.fidelity("prx", (q,))
        ro = calibration.metrics.readout_error.get(q)
        table.add_row(*_cells(q, "-" if t1 is None else f"{t1 * 1e6:.1f}", "-" if t2 is None else f"{t2 * 1e6:.1f}",
                              "-" if f is None else f"{f:.5f}", "-" if ro is None else f"{ro[0]:.3f}",
                              "-" if ro is None else f"{ro[1]:.3f}", sum(q in p for p in pairs)))  # fmt: skip
    return table


def cmd_calibration(args: argparse.Namespace) -> int:
    with _client(args) as client:
        calibration = client.calibration(refresh=args.refresh, calibration_set_id=args.set)
    if args.json:
        sys.stdout.write(calibration.to_json().decode() + "\n")
        return 0
    _console().print(calibration_table(calibration))
    if args.plot:
        from qaas_core._plot import plot_topology

        path = plot_topology(calibration, Path(args.plot))
        _console().print(_text("Topology picture written to ", path))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from qaas_core._qasm3 import circuit_from_qasm3

    source = Path(args.file).read_text(encoding="utf-8")
    with _client(args) as client:
        calibration = client.calibration()
        circuit = circuit_from_qasm3(source, calibration, name=Path(args.file).stem, route=args.route)
        out = _console(stderr=True)
        layout = (circuit.metadata or {}).get("layout")
        if layout:
            placed = ", ".join(f"{v}->{p}" for v, p in layout["initial"].items())
            moved = ", ".join(f"{v}->{p}" for v, p in layout["final"].items() if layout["initial"][v] != p)
            out.print(_text(f"placed {placed}; {layout['swaps']} SWAP(s)" + (f", ending {moved}" if moved else "")))
        job = client.submit(circuit, args.shots, calibration=calibration, memory=False)
        remote = f"HEAppE job {job.heappe_job_id}" if job.heappe_job_id is not None else f"IQM job {job.iqm_job_id}"
        out.print(_text(f"submitted {job.submission_id} ({remote})"))
        if args.no_wait:
            sys.stdout.write(job.submission_id + "\n")
            return 0
        result = job.result(timeout=args.timeout)  # a progress line on a terminal (QAAS_PROGRESS decides)
    return _print_counts(result, args.json, layout)


def cmd_estimate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from qaas_core._qasm3 import circuit_from_qasm3

    with _client(args) as client:
        calibration = client.calibration()
        circuits = [circuit_from_qasm3(Path(f).read_text(encoding="utf-8"), calibration, name=Path(f).stem)
                    for f in args.files]  # fmt: skip
        estimate = client.estimate(circuits, args.shots, calibration=calibration)
    if args.json:
        doc = {**estimate.__dict__, "left": estimate.left, "fits": estimate.fits}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    else:
        table = Table(title="estimate (nothing was sent)", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for label, value in estimate.rows():
            table.add_row(*_cells(label, value))
        _console().print(table)
    return 0 if estimate.fits else EXIT_CODES[BudgetExceededError]


def _print_counts(result: Any, as_json: bool, layout: Any = None) -> int:
    if as_json:
        doc = {"submission_id": result.submission_id, "heappe_job_id": result.heappe_job_id,
               "iqm_job_id": result.iqm_job_id, "calibration_set_id": result.calibration_set_id,
               "counts": [result.counts(i) for i in range(len(result))]}  # fmt: skip
        if layout:
            doc["layout"] = layout
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return 0
    from rich.table import Table

    for i, circuit in enumerate(result.circuits):
        table = Table(title=_text(circuit.name, f": {circuit.shots} shots, keys {list(circuit.keys)}"),
                      caption=_text(BIT_ORDER))  # fmt: skip
        table.add_column("bits")
        table.add_column("count", justify="right")
        for bits, count in sorted(result.counts(i).items(), key=lambda kv: -kv[1])[:32]:
            table.add_row(*_cells(bits, count))
        _console().print(table)
    return 0


def _ledger(args: argparse.Namespace) -> Any:
    """The job ledger of the profile's data directory; reading it needs no service (not even a running emulator)."""
    from qaas_core._config import data_dir, load_settings
    from qaas_core._ledger import Ledger

    try:
        directory = load_settings(args.profile).data_dir
    except ConfigurationError:  # e.g. the emulator profile while no emulator runs: its ledger is still there
        directory = data_dir()
    return Ledger(directory / "ledger.sqlite3")


def cmd_jobs(args: argparse.Namespace) -> int:
    from rich.table import Table

    ledger = _ledger(args)
    if args.action == "list":
        table = Table(title="qaas jobs (newest first)")
        for col in ("submission", "HEAppE", "IQM job", "resource", "state", "circuits", "shots", "QPU s", "created"):
            table.add_column(col)
        for e in ledger.list(state=args.state, limit=args.limit):
            table.add_row(*_cells(e.submission_id[:8], e.heappe_job_id or "-", (e.iqm_job_id or "-")[:8],
                                  e.resource, e.state, e.circuits, e.shots, _qpu(e), str(e.created)[:19]))  # fmt: skip
        _console().print(table)
        return 0
    if not args.id:
        raise ValidationError(f"`qaas jobs {args.action}` needs a job id (submission, HEAppE or IQM id)")
    entry = ledger.get(args.id)
    stored = ledger.load_result(entry.submission_id)
    if args.action == "result" and stored is not None:  # downloaded once: served from the ledger, offline
        from qaas_core._result import Result, decode_result

        return _print_counts(Result(decode_result(stored), heappe_job_id=entry.heappe_job_id), args.json)
    if args.action == "show" and entry.is_terminal:
        _show_entry(entry, entry.state)
        return 0
    with _client(args) as client:
        job = client.retrieve(args.id)
        if args.action == "show":
            _show_entry(entry, job.status())
            return 0
        if args.action == "wait":
            _console().print(_text(job.wait(timeout=args.timeout)))
            return 0
        if args.action == "result":
            return _print_counts(job.result(timeout=args.timeout), args.json)
        job.cancel()
        _console().print(_text(f"cancelled {job.submission_id} ({job.heappe_job_id or job.iqm_job_id})"))
        return 0


def _qpu(entry: Any) -> str:
    """Reported QPU seconds, or ``~estimate`` while none is reported."""
    if entry.qpu_seconds is not None:
        return f"{entry.qpu_seconds:.2f}"
    return "-" if entry.estimated_qpu_seconds is None else f"~{entry.estimated_qpu_seconds:.2f}"


def _show_entry(entry: Any, state: object) -> None:
    for key, value in {**entry.__dict__, "live state": state}.items():
        if key != "meta":
            _console().print(_text(f"{key:>20}: ", value))


def cmd_emulator(args: argparse.Namespace) -> int:
    from qaas_core.emulator._embedded import serve_forever

    return serve_forever(device=args.device, port=args.port, state_dir=Path(args.state_dir) if args.state_dir else None,
                         noise=not args.noiseless)  # fmt: skip


# -- parser ---------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qaas", description="Run quantum programs on IQM computers via LEXIS/HEAppE.")
    p.add_argument("--profile", help="configuration profile (lexis, emulator, or one from the config file)")
    sub = p.add_subparsers(dest="command", required=True)

    login = sub.add_parser("login", help="log in to LEXIS (device flow; --username for a service account)")
    login.add_argument("--offline", action="store_true", help="ask for an offline token (long-lived)")
    login.add_argument("--username", help="service account: use the password grant")
    login.add_argument("--timeout", type=float, default=300.0)
    login.set_defaults(fn=cmd_login)
    sub.add_parser("logout", help="revoke and delete cached tokens").set_defaults(fn=cmd_logout)
    who = sub.add_parser("whoami", help="who is logged in, and the active settings")
    who.set_defaults(fn=cmd_whoami)

    for name, fn, helptext in (("backends", cmd_backends, "quantum resources of the project"),):
        b = sub.add_parser(name, help=helptext)
        b.add_argument("--project")
        b.set_defaults(fn=fn)

    cal = sub.add_parser("calibration", help="calibration of the resource")
    cal.add_argument("action", choices=["show"])
    cal.add_argument("--project")
    cal.add_argument("--resource")
    cal.add_argument("--refresh", action="store_true", help="fetch even if the cached one is fresh")
    cal.add_argument("--set", help="a pinned calibration set id")
    cal.add_argument("--plot", metavar="OUT.png", help="also draw the topology coloured by fidelity")
    cal.add_argument("--json", action="store_true", help="print the calibration as qaas.calibration/1 JSON")
    cal.set_defaults(fn=cmd_calibration)

    run = sub.add_parser("run", help="run an OpenQASM 3 file")
    run.add_argument("file")
    run.add_argument("--shots", type=int, default=1000)
    run.add_argument("--project")
    run.add_argument("--resource")
    run.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")
    run.add_argument("--no-wait", action="store_true", help="print the submission id and return")
    routing = run.add_mutually_exclusive_group()
    routing.add_argument(
        "--route",
        action="store_true",
        default=None,
        help="always place the declared qubits by fidelity and route (default: only when needed)",
    )
    routing.add_argument(
        "--no-route",
        dest="route",
        action="store_false",
        help="declared qubits in order on QB1, QB2, ... (an uncoupled pair is an error)",
    )
    run.add_argument("--json", action="store_true")
    run.set_defaults(fn=cmd_run)

    est = sub.add_parser("estimate", help="what OpenQASM 3 files would cost to run (QPU time, success, allocation)")
    est.add_argument("files", nargs="+", metavar="FILE", help="OpenQASM 3 programs, one job")
    est.add_argument("--shots", type=int, default=1000)
    est.add_argument("--project")
    est.add_argument("--resource")
    est.add_argument("--json", action="store_true")
    est.set_defaults(fn=cmd_estimate)

    jobs = sub.add_parser("jobs", help="jobs in the local ledger")
    jobs.add_argument("action", choices=["list", "show", "wait", "result", "cancel"])
    jobs.add_argument("id", nargs="?", help="submission id, HEAppE job id or IQM job id")
    jobs.add_argument("--state", action="append", help="list: only these states")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--timeout", type=float, default=None)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(fn=cmd_jobs)

    emu = sub.add_parser("emulator", help="the local emulator of LEXIS + HEAppE + IQM")
    emu.add_argument("action", choices=["serve"])
    emu.add_argument("--device", default="garnet20")
    emu.add_argument("--port", type=int, default=8765)
    emu.add_argument("--state-dir", help="keep state here across restarts (default: the qaas data directory)")
    emu.add_argument("--noiseless", action="store_true")
    emu.set_defaults(fn=cmd_emulator)
    return p


EXIT_CODES: dict[type[QaasError], int] = {
    JobFailedError: 3,
    AuthenticationError: 4,
    ConfigurationError: 5,
    TransportError: 6,
    RemoteAPIError: 6,
    ResponseError: 6,
    ValidationError: 2,
    BudgetExceededError: 7,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``qaas``; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except KeyboardInterrupt:
        _console(stderr=True).print(_text("interrupted"))
        return 130
    except QaasError as exc:
        code = next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)), 1)
        _console(stderr=True).print(_text((type(exc).__name__, "red"), ": ", exc))
        return code
    except OSError as exc:
        _console(stderr=True).print(_text(("error", "red"), ": ", exc))
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
