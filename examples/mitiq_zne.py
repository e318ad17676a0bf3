"""Zero-noise extrapolation with mitiq through qaas, on the embedded noisy emulator, from Qiskit and from Cirq.

    python examples/mitiq_zne.py [--shots 20000] [--depth 2] [--seed 2026]

Needs qaas-core[emulator], qaas-qiskit, qaas-cirq and ``mitiq[qiskit]`` (mitiq's Qiskit conversions import qiskit-aer
and ply). The circuit is a mirror circuit on three qubits (layers of random X and Z rotations and a CNOT chain,
then the inverse of it all), so its exact mean ``<Z>`` is 1. mitiq folds it to noise scale factors 1, 3 and 5 and
extrapolates to zero noise. Two things make that work on qaas:

* **Keep the folds.** Folding multiplies the gates (``CX`` becomes ``CX·CX†·CX``); an optimising compiler cancels
  them again and ZNE silently measures the same circuit three times. Qiskit: transpile the folded circuits at
  ``optimization_level=0`` (gate-by-gate translation; level 1 and up cancel the mirror circuit to nothing). Cirq:
  ``QaaSSampler(compile="faithful")`` maps each gate to its own native decomposition (``compile="default"``
  resynthesises and merges). The script prints the CZ counts each choice sends.
* **One job per expectation value.** A *batched* executor — annotated ``Sequence[circuit] -> list[float]`` — gets
  every folded circuit of one expectation value in one call (see ``mitiq.Executor``) and sends them as one qaas job:
  ``backend.run(list_of_circuits)`` in Qiskit, ``sampler.run_batch(circuits)`` in Cirq. One HEAppE job, one queue
  wait, one calibration set for all scale factors.

The table shows the unmitigated value (scale factor 1, from the same job), Richardson and linear extrapolations of
the same data, the exact value, and the readout-limited value: readout errors are not amplified by folding, so ZNE
can at best reach ``1 - 2 P(read 1 | 0)`` averaged over the measured qubits (combine it with readout error
mitigation to go further).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence

import cirq
import numpy as np
from mitiq import zne
from mitiq.zne.scaling import fold_global
from qiskit import QuantumCircuit, transpile

import qaas_core as q
from qaas_cirq import QaaSSampler
from qaas_qiskit import QaaSProvider

SCALE_FACTORS = [1.0, 3.0, 5.0]
WIDTH = 3
PATH = ("QB1", "QB2", "QB5")  # coupled in a line on garnet20: where the Qiskit circuit is placed


def layers(depth: int, seed: int) -> list[list[tuple[float, float]]]:
    """Random (rx, rz) angles per qubit for each layer of the first half of the mirror circuit."""
    rng = np.random.default_rng(seed)
    return [[(float(a), float(b)) for a, b in rng.uniform(-math.pi, math.pi, (WIDTH, 2))] for _ in range(depth)]


def qiskit_mirror(depth: int, seed: int) -> QuantumCircuit:
    half = QuantumCircuit(WIDTH)
    for angles in layers(depth, seed):
        for qubit, (a, b) in enumerate(angles):
            half.rx(a, qubit)
            half.rz(b, qubit)
        for qubit in range(WIDTH - 1):
            half.cx(qubit, qubit + 1)
    return half.compose(half.inverse())


def cirq_mirror(depth: int, seed: int) -> cirq.Circuit:
    qubits = cirq.LineQubit.range(WIDTH)
    half = cirq.Circuit()
    for angles in layers(depth, seed):
        for qubit, (a, b) in zip(qubits, angles, strict=True):
            half.append([cirq.rx(a)(qubit), cirq.rz(b)(qubit)])
        half.append(cirq.CNOT(qubits[i], qubits[i + 1]) for i in range(WIDTH - 1))
    return half + cirq.inverse(half)


def mean_z(bits: np.ndarray) -> float:
    """Mean over qubits of <Z> from a (shots, qubits) array of bits."""
    return float(np.mean(1 - 2 * bits.astype(float)))


def counts_to_bits(counts: dict[str, int]) -> np.ndarray:
    return np.array([[int(b) for b in key.replace(" ", "")] for key, n in counts.items() for _ in range(n)])


def qiskit_executor(provider: QaaSProvider, shots: int) -> Callable[[Sequence[QuantumCircuit]], list[float]]:
    """A batched mitiq executor: every circuit of the call in one ``backend.run``, i.e. one qaas job."""
    backend = provider.get_backend()
    layout = [backend.calibration.qubits.index(name) for name in PATH]

    def execute(circuits: Sequence[QuantumCircuit]) -> list[float]:
        isa = []
        for circuit in circuits:
            measured = circuit.copy()
            measured.measure_all()
            isa.append(transpile(measured, backend, optimization_level=0, initial_layout=layout))
        result = backend.run(isa, shots=shots).result()
        return [mean_z(counts_to_bits(result.get_counts(i))) for i in range(len(isa))]

    return execute


def cirq_executor(sampler: QaaSSampler, shots: int) -> Callable[[Sequence[cirq.Circuit]], list[float]]:
    """A batched mitiq executor: every circuit of the call in one ``sampler.run_batch``, i.e. one qaas job."""

    def execute(circuits: Sequence[cirq.Circuit]) -> list[float]:
        measured = [c + cirq.measure(*sorted(c.all_qubits()), key="z") for c in circuits]
        return [mean_z(r[0].measurements["z"]) for r in sampler.run_batch(measured, repetitions=shots)]

    return execute


def sent_circuits(client: q.QaasClient) -> list[q.Circuit]:
    """The circuits of the newest job, as the ledger stored its request."""
    entry = client.jobs(limit=1)[0]
    return list(q.decode_run_request(client.ledger.load_request(entry.submission_id) or b"").circuits)


def readout_limited(client: q.QaasClient, circuit: q.Circuit) -> float:
    """Mean <Z> of |0...0> as the measured qubits read it out: what ZNE can reach at best."""
    errors = client.calibration().metrics.readout_error
    measured = [c for inst in circuit.instructions if inst.name == "measure" for c in inst.locus]
    return float(np.mean([1 - 2 * errors[c][0] for c in measured]))


def show_cz_counts(client: q.QaasClient, depth: int, seed: int) -> None:
    """How many CZs each compilation choice keeps of the folded circuits (nothing is sent)."""
    backend = QaaSProvider(client=client).get_backend()
    layout = [backend.calibration.qubits.index(name) for name in PATH]
    device = QaaSSampler(client).device
    print("CZs per folded circuit, scale factors", SCALE_FACTORS)
    for level in (0, 1):
        isa = [transpile(fold_global(qiskit_mirror(depth, seed), s), backend, optimization_level=level,
                         initial_layout=layout) for s in SCALE_FACTORS]  # fmt: skip
        print(f"  Qiskit, transpile(optimization_level={level}): {[c.count_ops().get('cz', 0) for c in isa]}")
    for mode in ("faithful", "default"):
        native = [device.compile(fold_global(cirq_mirror(depth, seed), s), mode=mode).circuit for s in SCALE_FACTORS]
        counts = [sum(op.gate == cirq.CZ for op in c.all_operations()) for c in native]
        print(f"  Cirq, compile mode {mode!r}: {counts}")


def mitigate(client: q.QaasClient, name: str, executor: Callable[..., list[float]], circuit: object) -> None:
    """One ZNE run (one job): the raw value, Richardson and linear extrapolations of the same data."""
    factory = zne.RichardsonFactory(SCALE_FACTORS)
    jobs_before = len(client.jobs(limit=None))
    richardson = zne.execute_with_zne(circuit, executor, factory=factory, scale_noise=fold_global)
    jobs = len(client.jobs(limit=None)) - jobs_before
    values = list(factory.get_expectation_values())
    linear = zne.LinearFactory.extrapolate(SCALE_FACTORS, values)
    sent = sent_circuits(client)
    floor = readout_limited(client, sent[0])
    print(f"{name:8}{values[0]:8.4f}{richardson:12.4f}{linear:8.4f}{floor:17.4f}   {jobs} ({len(sent)} circuits)")
    print(f"{'':8}errors: raw {abs(1 - values[0]):.4f}, Richardson {abs(1 - richardson):.4f}, linear "
          f"{abs(1 - linear):.4f}; scale 1, 3, 5 gave {', '.join(f'{v:.4f}' for v in values)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=20_000)
    parser.add_argument("--depth", type=int, default=2, help="layers in each half of the mirror circuit")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the emulator and of the random angles")
    args = parser.parse_args()
    started = time.perf_counter()

    with q.QaasClient.emulator("garnet20", noise=True, seed=args.seed) as client:
        calibration = client.calibration()
        print(f"noisy garnet20 emulator at {client.emulator_url}, calibration {calibration.calibration_set_id}\n")
        show_cz_counts(client, args.depth, args.seed)
        print(f"\nmean <Z> (exact: 1), {args.shots} shots per circuit")
        print(f"{'':8}{'raw':>8}{'Richardson':>12}{'linear':>8}{'readout-limited':>17}   jobs sent")
        backend_executor = qiskit_executor(QaaSProvider(client=client), args.shots)
        mitigate(client, "Qiskit", backend_executor, qiskit_mirror(args.depth, args.seed))
        sampler_executor = cirq_executor(QaaSSampler(client, compile="faithful"), args.shots)
        mitigate(client, "Cirq", sampler_executor, cirq_mirror(args.depth, args.seed))
    print(f"\ndone in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
