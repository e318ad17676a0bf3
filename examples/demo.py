"""The qaas demo (``nox -s demo``): the whole production path on one machine, through every front end.

1. start the embedded emulator (LEXIS + HEAppE + IQM server + noisy QPU on 127.0.0.1) and log in through the OAuth
   device flow, as a person would (the emulator approves the code as its demo user);
2. show the quantum resource, its calibration as a table and a topology picture;
3. run a Bell pair through Qiskit, Cirq and PennyLane, and a GHZ state from an OpenQASM 3 file;
4. print the counts side by side;
5. estimate a batch before sending it (QPU time, expected success, allocation) and compare with what the QPU
   reported; run a short loop with and without a session while the emulated Slurm queue holds every job a moment;
6. show where the job ledger lives.

Pass ``--noiseless`` for an ideal QPU, ``--device deneb6`` for the resonator star.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import qaas_core as q
from qaas_core.cli import calibration_table

HERE = Path(__file__).resolve().parent
SHOTS = 2000
QUEUE = 1.5  # seconds the emulated Slurm queue holds each HEAppE job (a shared partition: 10-30 s)
LOOP = 3  # iterations of the loop run with and without a session


def run_qiskit(client: q.QaasClient) -> tuple[dict[str, int], str]:
    from qiskit import QuantumCircuit, transpile

    from qaas_qiskit import QaaSProvider

    backend = QaaSProvider(client=client).get_backend()
    qc = QuantumCircuit(2, 2, name="bell-qiskit")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    job = backend.run(transpile(qc, backend, seed_transpiler=1), shots=SHOTS)
    return job.result().get_counts(), job.job_id()


def run_cirq(client: q.QaasClient) -> tuple[dict[str, int], str]:
    import cirq

    from qaas_cirq import QaaSSampler

    sampler = QaaSSampler(client=client)
    a, b = cirq.NamedQubit("QB1"), cirq.NamedQubit("QB2")
    compiled = sampler.device.compile(cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key="m")))
    result = sampler.run(compiled.circuit, repetitions=SHOTS)
    counts = result.histogram(key="m", fold_func=lambda bits: "".join(str(int(x)) for x in bits))
    return dict(counts), result.metadata.submission_id


def run_pennylane(client: q.QaasClient) -> tuple[dict[str, int], str]:
    import pennylane as qml

    dev = qml.device("qaas.iqm", wires=2, client=client)

    @qml.set_shots(SHOTS)
    @qml.qnode(dev)
    def bell() -> Any:
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.counts()

    counts = bell()
    return {str(k): int(v) for k, v in counts.items()}, ""


def run_qasm(client: q.QaasClient, calibration: q.Calibration) -> tuple[dict[str, int], str]:
    circuit = q.circuit_from_qasm3((HERE / "ghz.qasm").read_text(), calibration, name="ghz-qasm3")
    job = client.submit(circuit, SHOTS, calibration=calibration)
    return job.result(timeout=300).counts(0), job.submission_id


def costs_and_sessions(console: Console, client: q.QaasClient, calibration: q.Calibration) -> None:
    """Estimate before sending, compare with the QPU's report, then a loop with and without a session."""
    console.rule("What a batch costs, and what a session saves")
    ghz = q.circuit_from_qasm3((HERE / "ghz.qasm").read_text(), calibration, name="ghz-qasm3")
    estimate = client.estimate([ghz] * 4, SHOTS, calibration=calibration)
    table = Table(title="client.estimate(...) / `qaas estimate` (nothing sent)", show_header=False)
    for label, value in estimate.rows():
        table.add_row(label, value)
    console.print(table)
    result = client.submit([ghz] * 4, SHOTS, calibration=calibration).result(timeout=300)
    console.print(f"sent: estimated {estimate.qpu_seconds:.2f} s of QPU time, the QPU reported "
                  f"{result.qpu_seconds or float('nan'):.2f} s (both kept in the ledger)")  # fmt: skip
    small = q.Circuit("flip", (q.prx("QB1", 3.141592653589793, 0.0), q.measure("QB1", key="m")))
    started = time.perf_counter()
    for _ in range(LOOP):
        client.submit(small, 100, calibration=calibration).result(timeout=300)
    plain = time.perf_counter() - started
    started = time.perf_counter()
    with client.session(idle_timeout=30):
        for _ in range(LOOP):
            client.submit(small, 100, calibration=calibration).result(timeout=300)
    session = time.perf_counter() - started
    console.print(f"{LOOP} small batches while the Slurm queue holds every job {QUEUE:g} s: {plain:.1f} s as "
                  f"{LOOP} jobs, {session:.1f} s in one session (client.session() pays the queue once)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="garnet20", choices=q.PROFILES)
    parser.add_argument("--noiseless", action="store_true")
    args = parser.parse_args()
    console = Console()
    t0 = time.perf_counter()
    console.rule("[bold]qaas demo: the IQM path through LEXIS and HEAppE, emulated on this machine")

    def show_login(flow: Any) -> None:
        console.print(f"LEXIS device login: open [bold]{flow.verification_uri_complete}[/bold] and confirm code "
                      f"[bold]{flow.user_code}[/bold] (the emulator approves it as 'alice')")  # fmt: skip

    with q.QaasClient.emulator(args.device, noise=not args.noiseless, seed=2026, scheduling_delay_seconds=QUEUE,
                               on_device_login=show_login) as client:  # fmt: skip
        claims = client.tokens.claims()
        console.print(f"logged in as [bold]{claims['preferred_username']}[/bold]; emulator at {client.emulator_url}")

        console.rule("The quantum resource")
        resource, target = client.target()
        console.print(f"project {client.settings.project}: resource [bold]{resource.name}[/bold] on HEAppE cluster "
                      f"{target.cluster_name} ({resource.heappe_url})")  # fmt: skip
        calibration = client.calibration()
        console.print(calibration_table(calibration))
        picture = Path(client.settings.data_dir) / f"{args.device}-topology.png"
        try:
            from qaas_core._plot import plot_topology

            console.print(f"topology picture: {plot_topology(calibration, picture)}")
        except q.ConfigurationError as exc:
            console.print(f"(no topology picture: {exc})")

        console.rule(f"Bell pairs and a GHZ state, {SHOTS} shots each")
        runs: dict[str, Callable[[], tuple[dict[str, int], str]]] = {
            "Qiskit (Bell)": lambda: run_qiskit(client),
            "Cirq (Bell)": lambda: run_cirq(client),
            "PennyLane (Bell)": lambda: run_pennylane(client),
            "OpenQASM 3 (GHZ, examples/ghz.qasm)": lambda: run_qasm(client, calibration),
        }
        table = Table(title="counts (each framework's own bit order)")
        table.add_column("front end")
        table.add_column("counts, most frequent first")
        table.add_column("ideal fraction")
        table.add_column("s", justify="right")
        for name, run in runs.items():
            started = time.perf_counter()
            try:
                counts, _ = run()
            except (q.QaasError, ImportError) as exc:
                table.add_row(name, f"[red]{type(exc).__name__}: {exc}[/red]", "", "")
                continue
            ordered = sorted(counts.items(), key=lambda kv: -kv[1])
            shown = ", ".join(f"{k}: {v}" for k, v in ordered[:4]) + (" …" if len(ordered) > 4 else "")
            total = sum(counts.values())
            ideal = sum(v for k, v in counts.items() if len(set(k.replace(" ", ""))) == 1) / total
            table.add_row(name, shown, f"{ideal:.3f}", f"{time.perf_counter() - started:.1f}")
        console.print(table)

        costs_and_sessions(console, client, calibration)

        console.rule("Where things are")
        jobs = client.jobs(limit=None)
        console.print(f"job ledger: {client.ledger.path} ({len(jobs)} jobs: "
                      f"{', '.join(sorted({e.state for e in jobs}))})")  # fmt: skip
        console.print("retrieve any of them later, from any process: `qaas --profile emulator jobs list` while an "
                      "emulator runs (`qaas emulator serve`), or QaasClient.retrieve(id)")  # fmt: skip
    console.rule(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
