"""Error mitigation on the noisy emulator: raw vs mitigated vs exact, all in one job (writes docs/mitigation.png).

Two benchmarks on garnet20 (calibrated gate errors, readout errors, T1/T2 while idle):

* the parity ⟨X⊗5⟩ of a 5-qubit GHZ state (exact: 1);
* the energy of a 4-qubit transverse-field Ising chain ``H = −Σ Z_i Z_i+1 − ½ Σ X_i`` in a shallow ansatz state
  (exact from the state vector).

Each runs three ways in the same job — unmitigated, readout mitigation only, and twirling + folding + readout
mitigation with Richardson extrapolation — and the figure shows the extrapolation and the errors.

Run: ``python examples/mitigation.py`` (needs qaas-core[emulator,plot]; ``--shots`` and ``--seed`` to vary).
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np

import qaas_core as q
from qaas_core.mitigation import (
    Fold,
    MitigatedValue,
    Pipeline,
    ReadoutMitigation,
    Richardson,
    Twirl,
    run_mitigated,
)

HALF = math.pi / 2
OUT = Path(__file__).resolve().parent.parent / "docs" / "mitigation.png"
CHAIN = ("QB1", "QB2", "QB5", "QB6", "QB7")  # neighbours on garnet20
ISING = {"ZZII": -1.0, "IZZI": -1.0, "IIZZ": -1.0, "XIII": -0.5, "IXII": -0.5, "IIXI": -0.5, "IIIX": -0.5}
ANSATZ = (0.03, -0.23, -1.2, 0.01, -0.48, 0.29, 1.33, -0.88, 0.94, 0.09, 0.2, 1.38)


def ghz() -> q.Circuit:
    instructions = [q.prx(CHAIN[0], HALF, HALF)]
    for a, b in itertools.pairwise(CHAIN):  # CNOT a -> b: RY(-π/2) on b, CZ, RY(π/2) on b
        instructions += [q.prx(b, HALF, -HALF), q.cz(a, b), q.prx(b, HALF, HALF)]
    return q.Circuit("ghz5", (*instructions, q.measure(*CHAIN, key="m")))


def ising() -> q.Circuit:
    qubits = CHAIN[:4]
    layers = [[q.prx(c, ANSATZ[4 * k + i], HALF) for i, c in enumerate(qubits)] for k in range(3)]
    a, b, c, d = qubits
    entangle = [q.cz(a, b), q.cz(c, d), q.cz(b, c)]
    return q.Circuit("ising4", (*layers[0], *entangle, *layers[1], *entangle, *layers[2], q.measure(*qubits, key="m")))


def exact(circuit: q.Circuit, observable: dict[str, float]) -> float:
    """⟨observable⟩ of the circuit's state before measurement, by a small state vector (bit j = string letter j)."""
    qubits = [c for i in circuit.instructions if i.name == "measure" for c in i.locus]
    n = len(qubits)
    psi = np.zeros((2,) * n, dtype=complex)
    psi[(0,) * n] = 1.0

    def apply(state: np.ndarray, u: np.ndarray, axis: int) -> np.ndarray:
        return np.moveaxis(np.tensordot(u, state, axes=([1], [axis])), 0, axis)

    for inst in circuit.instructions:
        if inst.name == "prx":
            t, p = inst.args["angle"], inst.args["phase"]
            u = np.array([[math.cos(t / 2), -1j * np.exp(-1j * p) * math.sin(t / 2)],
                          [-1j * np.exp(1j * p) * math.sin(t / 2), math.cos(t / 2)]])  # fmt: skip
            psi = apply(psi, u, qubits.index(inst.locus[0]))
        elif inst.name == "cz":
            index: list[slice | int] = [slice(None)] * n
            for c in inst.locus:
                index[qubits.index(c)] = 1
            psi[tuple(index)] *= -1
    paulis = {"I": np.eye(2), "X": np.array([[0, 1], [1, 0]]), "Y": np.array([[0, -1j], [1j, 0]])}
    paulis["Z"] = np.diag([1, -1])
    total = 0.0
    for term, coefficient in observable.items():
        phi = psi
        for j, letter in enumerate(term):
            phi = apply(phi, paulis[letter], j)
        total += coefficient * float(np.vdot(psi, phi).real)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=2000, help="shots of every circuit the job runs")
    parser.add_argument("--seed", type=int, default=11, help="seed of the emulated QPU")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    zne = Pipeline([Twirl(8), Fold([1, 3, 5]), ReadoutMitigation()], extrapolate=Richardson())
    ways = {"unmitigated": Pipeline(), "readout only": Pipeline([ReadoutMitigation()]), "twirl+ZNE+readout": zne}
    benchmarks = {"GHZ-5 ⟨X⊗5⟩": (ghz(), {"XXXXX": 1.0}), "Ising-4 energy": (ising(), ISING)}
    circuits = [c for c, _ in benchmarks.values() for _ in ways]
    observables = [o for _, o in benchmarks.values() for _ in ways]
    with q.QaasClient.emulator("garnet20", noise=True, seed=args.seed) as client:
        jobs = len(client.jobs(limit=None))
        result = run_mitigated(client, circuits, observables, args.shots, pipelines=list(ways.values()) * 2)
        print(f"{result.circuits} circuits, {result.shots} shots, {len(client.jobs(limit=None)) - jobs} job")
    rows: dict[str, dict[str, MitigatedValue]] = {}
    truths = {}
    for b, (name, (circuit, observable)) in enumerate(benchmarks.items()):
        truths[name] = exact(circuit, observable)
        rows[name] = {way: result[b * len(ways) + w][0] for w, way in enumerate(ways)}
        print(f"\n{name}: exact {truths[name]:+.4f}")
        for way, v in rows[name].items():
            print(f"  {way:18s} {v.value:+.4f} ± {v.stderr:.4f}   error {abs(v.value - truths[name]):.4f}"
                  f"   ({v.metadata['circuits']} circuits)")  # fmt: skip
    plot(rows, truths, args.out)
    print(f"\nwrote {args.out}")


def plot(rows: dict[str, dict[str, MitigatedValue]], truths: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (name, ways) in zip(axes[:2], rows.items(), strict=True):
        zne = ways["twirl+ZNE+readout"]
        scales, values, errors = (zne.metadata[k] for k in ("noise_scales", "scaled_values", "scaled_stderr"))
        curve = Richardson().extrapolate(scales, values).curve
        grid = np.linspace(0, max(scales), 100)
        ax.plot(grid, [curve(x) for x in grid], color="C2", lw=1, label="Richardson fit")
        ax.errorbar(scales, values, errors, fmt="o", color="C2", label="folded, readout-corrected")
        ax.errorbar([0], [zne.value], [zne.stderr], fmt="*", ms=12, color="C2", label="mitigated (λ → 0)")
        raw = ways["unmitigated"]
        ax.errorbar([1], [raw.value], [raw.stderr], fmt="s", color="C3", label="unmitigated")
        ax.axhline(truths[name], color="k", ls="--", lw=1, label="exact")
        ax.set_xlabel("noise scale λ (calibrated gate error, relative)")
        ax.set_title(name)
        ax.legend(fontsize=8)
    ax = axes[2]
    width = 0.25
    for w, way in enumerate(next(iter(rows.values()))):
        errs = [abs(rows[n][way].value - truths[n]) for n in rows]
        bars = [rows[n][way].stderr for n in rows]
        ax.bar(np.arange(len(rows)) + (w - 1) * width, errs, width, yerr=bars, label=way, color=f"C{[3, 1, 2][w]}")
    ax.set_xticks(np.arange(len(rows)), list(rows))
    ax.set_ylabel("|estimate − exact|")
    ax.set_title("error (bars: standard error)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
