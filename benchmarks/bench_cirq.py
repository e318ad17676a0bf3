"""qaas-cirq benchmarks: conversion of compiled circuits to IQM JSON, and parameter sweeps through a template.

``run()`` returns rows ``{"name", "value", "unit", "repeats", "spread": [min, max], "target"}``; every value is the
median of its repeats. Run alone with ``python benchmarks/bench_cirq.py``.

* Conversion: random 12-qubit circuits (``cirq.testing.random_circuit``, fixed seeds, one- and two-qubit gates),
  compiled for garnet20 once (``QaaSDevice.compile``: routing, CZ decomposition, Z ejection) to about 600 native
  operations; then converted (``circuits_to_qaas`` for the batch, ``circuit_to_qaas`` one by one; virtual Z
  included) and encoded as a JSON array of IQM circuits (``qaas_core.encode_circuits``). IQM's Cirq serialiser manages about 319 circuits/s on comparable circuits; when
  ``iqm.cirq_iqm`` happens to be installed, its ``serialize_circuit`` is timed on the same native circuits too (as
  a reference only: without JSON encoding).
* Sweep: a 12-qubit hardware-efficient ansatz of about 600 native operations (PhasedX, symbolic ``rx`` and ``rz``
  on every qubit, CZ ladders on garnet20 couplings) swept over 100 resolvers; ``sweep_to_qaas`` builds the template
  and fills it for all resolvers, then the batch is encoded. The baseline resolves the circuit with
  ``cirq.resolve_parameters`` and converts it once per resolver (then encodes).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import statistics
from typing import Any

from _common import median_figure as _figure
from _common import timings as _time

SEEDS = range(24)
REPEATS = 7


def _compiled_random_circuits() -> list[Any]:
    import cirq

    from qaas_cirq import QaaSDevice

    device = QaaSDevice.from_profile("garnet20")
    qubits = cirq.LineQubit.range(12)
    gates = {cirq.H: 1, cirq.T: 1, cirq.rx(0.7): 1, cirq.ry(1.1): 1, cirq.CNOT: 2, cirq.CZ: 2, cirq.ISWAP**0.5: 2}
    out = []
    for seed in SEEDS:
        body = cirq.testing.random_circuit(qubits, n_moments=24, op_density=0.8, gate_domain=gates, random_state=seed)
        out.append(device.compile(body + cirq.Circuit(cirq.measure(*qubits, key="m"))).circuit)
    return out


def conversion() -> list[dict[str, Any]]:
    """Compiled random circuits → qaas circuits → IQM JSON."""
    import qaas_core as q
    from qaas_cirq import circuit_to_qaas, circuits_to_qaas

    base = _compiled_random_circuits()
    circuits = base * (960 // len(base))  # 960 conversions per repeat
    ops = statistics.mean(len(circuit_to_qaas(c).instructions) for c in base)

    def batch() -> bytes:  # a 960-circuit job: convert all, then encode the batch
        return q.encode_circuits(circuits_to_qaas(circuits))

    def one_by_one() -> None:  # convert and encode each circuit, keeping nothing
        for c in circuits:
            q.encode_circuits([circuit_to_qaas(c)])

    batch()
    n = len(circuits)
    rows = [
        _figure(
            "cirq → IQM JSON, batch of 960 compiled 12q random circuits on garnet20",
            [n / t for t in _time(batch, REPEATS)],
            "circuits/s",
            ">= 1000",
            native_ops_per_circuit=round(ops),
        ),
        _figure(
            "cirq → IQM JSON, circuit by circuit (same circuits, nothing kept)",
            [n / t for t in _time(one_by_one, REPEATS)],
            "circuits/s",
            "-",
        ),
    ]
    try:
        from iqm.cirq_iqm.serialize import serialize_circuit
    except ImportError:  # the reference is optional
        return rows
    import cirq

    def to_plain(circuit: Any) -> Any:  # what IQM's serialiser takes: PhasedX, CZ, measure (no virtual Z)
        converted = circuit_to_qaas(circuit)
        ops = []
        for inst in converted.instructions:
            qs = [cirq.NamedQubit(c) for c in inst.locus]
            if inst.name == "prx":
                gate = cirq.PhasedXPowGate(phase_exponent=inst.args["phase"] / 3.141592653589793,
                                           exponent=inst.args["angle"] / 3.141592653589793)  # fmt: skip
                ops.append(gate(*qs))
            elif inst.name == "cz":
                ops.append(cirq.CZ(*qs))
            else:
                ops.append(cirq.measure(*qs, key=inst.args["key"]))
        return cirq.Circuit(ops)

    plain = [to_plain(c) for c in base]
    reference = plain * (240 // len(plain))

    def iqm() -> list[Any]:
        return [serialize_circuit(c) for c in reference]

    iqm()
    rows.append(
        _figure(
            "reference: iqm.cirq_iqm serialize_circuit (same native ops, no JSON)",
            [len(reference) / t for t in _time(iqm, 3)],
            "circuits/s",
            "-",
        )
    )
    return rows


def _ansatz(qubits: int = 12, layers: int = 19) -> Any:
    import cirq
    import sympy

    import qaas_core as q

    cal = q.load_profile("garnet20")
    names = cal.qubits[:qubits]
    line = [cirq.NamedQubit(n) for n in names]
    pairs = [(cirq.NamedQubit(a), cirq.NamedQubit(b)) for a, b in cal.loci("cz") if a in names and b in names]
    ops: list[Any] = []
    for layer in range(layers):
        for i, qb in enumerate(line):
            ops.append(cirq.PhasedXPowGate(phase_exponent=0.25, exponent=0.5)(qb))
            ops.append(cirq.rx(sympy.Symbol(f"t_{layer}_{i}"))(qb))
            ops.append(cirq.rz(sympy.Symbol(f"p_{layer}_{i}"))(qb))
        ops.extend(cirq.CZ(a, b) for a, b in pairs[layer % 2 :: 2])
    ops.append(cirq.measure(*line, key="m"))
    return cirq.Circuit(ops)


def sweep() -> list[dict[str, Any]]:
    """A 100-resolver sweep through the template, against resolving and converting per resolver."""
    import cirq
    import numpy as np

    import qaas_core as q
    from qaas_cirq import circuit_to_qaas, sweep_to_qaas

    circuit = _ansatz()
    names = sorted(cirq.parameter_names(circuit))
    rng = np.random.default_rng(7)
    resolvers = [cirq.ParamResolver(dict(zip(names, row.tolist(), strict=True)))
                 for row in rng.uniform(-np.pi, np.pi, size=(100, len(names)))]  # fmt: skip
    native_ops = len(circuit_to_qaas(cirq.resolve_parameters(circuit, resolvers[0])).instructions)

    def fast() -> bytes:
        return q.encode_circuits(sweep_to_qaas(circuit, resolvers))

    def slow() -> bytes:
        return q.encode_circuits([circuit_to_qaas(cirq.resolve_parameters(circuit, r)) for r in resolvers])

    fast()
    templated = _time(fast, REPEATS)
    baseline = _time(slow, 3)
    speedup = [statistics.median(baseline) / t for t in templated]
    return [
        _figure(
            "cirq 100-resolver sweep → IQM JSON (template)",
            [t * 1e3 for t in templated],
            "ms/sweep",
            "-",
            native_ops_per_circuit=native_ops,
            parameters=len(names),
        ),
        _figure("same, resolving and converting per resolver", [t * 1e3 for t in baseline], "ms/sweep", "-"),
        _figure("sweep template speed-up over per-resolver conversion", speedup, "x", ">= 20"),
    ]


def run() -> list[dict[str, Any]]:
    """Every qaas-cirq figure."""
    return conversion() + sweep()


if __name__ == "__main__":
    for row in run():
        extra = {k: v for k, v in row.items() if k not in {"name", "value", "unit", "repeats", "spread", "target"}}
        print(f"{row['name']}: {row['value']} {row['unit']} (spread {row['spread']}, target {row['target']}) {extra}")
