"""qaas-qiskit benchmarks: circuit conversion to IQM JSON, and the parametric bind-and-serialise loop.

``run()`` returns rows ``{"name", "value", "unit", "repeats", "spread": [min, max], "target"}``; every value is the
median of its repeats. Run alone with ``python benchmarks/bench_qiskit.py``.

* Conversion: random 12-qubit depth-20 circuits (``qiskit.circuit.random.random_circuit``, fixed seeds), transpiled
  for garnet20 once; then converted (``QaaSBackend.convert``) and encoded as a JSON array of IQM circuits
  (``qaas_core.encode_circuits``). IQM's own adapter manages about 41 circuits/s on comparable circuits.
* Parametric loop: a 20-qubit hardware-efficient ansatz with 100 parameters (5 layers of RY on every qubit, CZ
  ladders between them), transpiled once; each binding is evaluated from the affine template and serialised. The
  baseline binds the parameters and transpiles again for each binding (then converts and serialises).
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


def _garnet() -> Any:
    import qaas_core as q
    from qaas_qiskit import QaaSBackend

    return QaaSBackend.from_calibration(q.load_profile("garnet20"))


def conversion() -> list[dict[str, Any]]:
    """Transpiled random circuits → qaas circuits → IQM JSON."""
    from qiskit import transpile
    from qiskit.circuit.random import random_circuit

    import qaas_core as q

    backend = _garnet()
    base = [
        transpile(random_circuit(12, 20, max_operands=2, measure=True, seed=s), backend, optimization_level=2,
                  seed_transpiler=s)
        for s in SEEDS
    ]  # fmt: skip
    circuits = base * (960 // len(base))  # 960 conversions per repeat
    ops = statistics.mean(len(backend.convert(c).instructions) for c in base)
    convert = backend.convert

    def convert_and_encode() -> bytes:
        return q.encode_circuits(convert(circuits))

    def convert_only() -> list[Any]:
        return convert(circuits)

    def with_checks() -> bytes:
        return q.encode_iqm_job(convert(circuits), shots=1000)

    convert_and_encode()
    n = len(circuits)
    rates = [n / t for t in _time(convert_and_encode, REPEATS)]
    only = [n / t for t in _time(convert_only, REPEATS)]
    checked = [n / t for t in _time(with_checks, REPEATS)]
    return [
        _figure(
            "qiskit → IQM JSON, 12q depth-20 random circuits on garnet20",
            rates,
            "circuits/s",
            ">= 1000",
            native_ops_per_circuit=round(ops),
        ),
        _figure("qiskit → qaas_core.Circuit only (same circuits)", only, "circuits/s", "-"),
        _figure("qiskit → IQM job request incl. the core's structural checks", checked, "circuits/s", "-"),
    ]


def _ansatz(qubits: int = 20, layers: int = 5) -> Any:
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    theta = ParameterVector("θ", qubits * layers)
    qc = QuantumCircuit(qubits)
    for layer in range(layers):
        for i in range(qubits):
            qc.ry(theta[layer * qubits + i], i)
        if layer != layers - 1:
            for i in range(layer % 2, qubits - 1, 2):
                qc.cz(i, i + 1)
    qc.measure_all()
    return qc


def parametric() -> list[dict[str, Any]]:
    """Bind + serialise per binding from a template, against binding and transpiling again."""
    import numpy as np
    from qiskit import transpile

    import qaas_core as q

    backend = _garnet()
    ansatz = _ansatz()
    isa = transpile(ansatz, backend, optimization_level=1, seed_transpiler=1)
    template = backend.template(isa)
    rng = np.random.default_rng(7)
    bindings = 500
    values = rng.uniform(-np.pi, np.pi, size=(bindings, len(template.parameters)))

    def bind_all() -> bytes:
        return q.encode_circuits(template.bind_values(values))

    bind_all()
    per_binding = [t / bindings * 1e3 for t in _time(bind_all, REPEATS)]

    params = list(ansatz.parameters)
    few = values[:5]

    def retranspile() -> bytes:
        out = []
        for row in few:
            bound = ansatz.assign_parameters(dict(zip(params, row.tolist(), strict=True)))
            out.append(backend.convert(transpile(bound, backend, optimization_level=1, seed_transpiler=1)))
        return q.encode_circuits(out)

    retranspile()
    baseline = [t / len(few) * 1e3 for t in _time(retranspile, 5)]
    speedup = [statistics.median(baseline) / t for t in per_binding]
    return [
        _figure(
            "parametric 20q/100-parameter ansatz: bind + serialise",
            per_binding,
            "ms/binding",
            "<= 1",
            parametric_prx=template.num_slots,
        ),
        _figure("same, binding and transpiling again per binding", baseline, "ms/binding", "-"),
        _figure("template speed-up over re-transpiling", speedup, "x", ">= 50"),
    ]


def run() -> list[dict[str, Any]]:
    """Every qaas-qiskit figure."""
    return conversion() + parametric()


if __name__ == "__main__":
    for row in run():
        extra = {k: v for k, v in row.items() if k not in {"name", "value", "unit", "repeats", "spread", "target"}}
        print(f"{row['name']}: {row['value']} {row['unit']} (spread {row['spread']}, target {row['target']}) {extra}")
