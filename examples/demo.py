"""The qaas demo (``nox -s demo``): what the core does today, on the bundled device profiles.

1. the device profiles and one calibration as a table;
2. an OpenQASM 3 Bell program translated to IQM native operations, validated and encoded as an IQM job request;
3. the same two-qubit gate on a resonator-star device, where it becomes a MOVE sandwich;
4. a broken program, rejected before anything is sent.

The embedded emulator (LEXIS + HEAppE + IQM server) and the framework adapters join this demo as they land.
"""

from __future__ import annotations

import json
import time

from rich.console import Console
from rich.table import Table

import qaas_core as q

BELL = """
OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""

STAR_CZ = """
OPENQASM 3.0;
include "stdgates.inc";
bit[2] c;
h $0;
cz $0, $1;
h $1;
c[0] = measure $0;
c[1] = measure $1;
"""

BROKEN = """
OPENQASM 3.0;
qubit[2] q;
h q[0];
ccz q[0], q[1];
"""


def profiles_table() -> Table:
    table = Table(title="Bundled device profiles")
    for col in ("profile", "qubits", "resonators", "couplings", "median 2q fidelity", "calibration set"):
        table.add_column(col)
    for name in q.PROFILES:
        cal = q.load_profile(name)
        pairs = cal.coupling_graph()
        fids = sorted(f for a, b in pairs if (f := cal.fidelity("cz", (a, b))) is not None)
        median = f"{fids[len(fids) // 2]:.4f}" if fids else "-"
        table.add_row(
            name,
            str(len(cal.qubits)),
            ",".join(cal.computational_resonators) or "-",
            str(len(pairs)),
            median,
            cal.calibration_set_id[:8] + "…",
        )
    return table


def calibration_table(cal: q.Calibration, limit: int = 8) -> Table:
    table = Table(title=f"{cal.device}: first {limit} qubits")
    for col in ("qubit", "T1 (µs)", "T2 (µs)", "prx fidelity", "readout 0→1", "readout 1→0"):
        table.add_column(col, justify="right")
    for qubit in cal.qubits[:limit]:
        e01, e10 = cal.metrics.readout_error[qubit]
        table.add_row(
            qubit,
            f"{cal.metrics.t1[qubit] * 1e6:.1f}",
            f"{cal.metrics.t2[qubit] * 1e6:.1f}",
            f"{cal.fidelity('prx', (qubit,)):.5f}",
            f"{e01:.3f}",
            f"{e10:.3f}",
        )
    return table


def show_circuit(console: Console, circuit: q.Circuit) -> None:
    for i, inst in enumerate(circuit.instructions):
        args = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in inst.args.items())
        console.print(f"  {i:>2}  {inst.name:<8} {','.join(inst.locus):<10} {args}")


def main() -> None:
    console = Console()
    t0 = time.perf_counter()
    console.rule("[bold]qaas demo")
    console.print(profiles_table())
    garnet = q.load_profile("garnet20")
    console.print(calibration_table(garnet))

    console.rule("OpenQASM 3 Bell program on garnet20")
    bell = q.circuit_from_qasm3(BELL, garnet, name="bell")
    show_circuit(console, bell)
    q.validate_circuits([bell], garnet)
    body = q.encode_iqm_job([bell], shots=1000, calibration_set_id=garnet.calibration_set_id)
    console.print(f"IQM job request: {len(body)} bytes; first instruction on the wire:")
    console.print_json(json.dumps(json.loads(body)["circuits"][0]["instructions"][0]))

    console.rule("The same CZ on a resonator star (deneb6)")
    deneb = q.load_profile("deneb6")
    star = q.circuit_from_qasm3(STAR_CZ, deneb, name="star")
    show_circuit(console, star)

    console.rule("Bad input is rejected before anything is sent")
    try:
        q.circuit_from_qasm3(BROKEN, garnet)
    except q.QaasError as exc:
        console.print(f"[red]{type(exc).__name__}[/red]: {exc}")
    console.rule(f"done in {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
