"""qaas-cirq: a native Cirq sampler and device for IQM quantum computers reached through LEXIS + HEAppE (qaas).

* :class:`QaaSSampler` — a ``cirq.Sampler``: ``run``, ``run_sweep``, ``run_batch`` and their asyncio twins; a sweep
  or a batch is one job; ``submit`` / ``retrieve`` give job handles that survive the process.
* :class:`QaaSDevice` — a ``cirq.Device`` built from the calibration: qubits ``NamedQubit("QB1")`` …, resonators
  ``NamedQid("CR1", 2)``, validation, and ``compile`` (route, decompose, virtual Z, MOVE insertion) in two modes:
  ``"default"`` (resynthesis, fewest gates) and ``"faithful"`` (gate by gate, for ZNE folding and benchmarking);
  ``QaaSSampler(compile=...)`` compiles on the fly, so ``cirq.experiments`` and mitiq run unchanged.
* Results, metadata and :class:`MoveGate` follow Cirq's JSON protocol; importing this package registers
  :func:`json_resolver` in ``cirq.DEFAULT_RESOLVERS`` so ``cirq.read_json`` finds them.
* :class:`MitigatedEstimator` — expectation values of ``cirq.PauliString`` / ``cirq.PauliSum`` observables with the
  core's error mitigation (``qaas_core.mitigation.Pipeline``): circuits compiled once, then twirled and folded as
  native circuits by the core and sent as they are, every variant in one job.
* :func:`circuit_to_qaas`, :func:`circuits_to_qaas`, :func:`sweep_to_qaas` — conversion to the IQM transfer
  format, no device or server needed.

Quick start on the embedded emulator::

    import cirq, qaas_cirq

    with qaas_cirq.QaaSSampler.emulator("garnet20", noise=False) as sampler:
        a, b = cirq.LineQubit.range(2)
        bell = cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key="m"))
        result = sampler.run(sampler.device.compile(bell).circuit, repetitions=1000)
        print(result.histogram(key="m"), result.metadata.iqm_job_id)
"""

from __future__ import annotations

import cirq

import qaas_core
from qaas_cirq._compile import CompiledCircuit, CompileMode
from qaas_cirq._convert import circuit_to_qaas, circuits_to_qaas
from qaas_cirq._device import QaaSDevice
from qaas_cirq._errors import ConversionError
from qaas_cirq._estimator import MitigatedEstimator
from qaas_cirq._gates import MoveGate
from qaas_cirq._job import QaaSJob
from qaas_cirq._json import json_resolver, register_json_resolver
from qaas_cirq._observables import CirqObservable
from qaas_cirq._results import QaaSResult, ResultMetadata
from qaas_cirq._sampler import QaaSSampler
from qaas_cirq._sweep import sweep_to_qaas

__version__ = "0.1.0"

__all__ = [
    "CirqObservable",
    "CompileMode",
    "CompiledCircuit",
    "ConversionError",
    "MitigatedEstimator",
    "MoveGate",
    "QaaSDevice",
    "QaaSJob",
    "QaaSResult",
    "QaaSSampler",
    "ResultMetadata",
    "__version__",
    "circuit_to_qaas",
    "circuits_to_qaas",
    "json_resolver",
    "sweep_to_qaas",
    "versions",
]

register_json_resolver()


def versions() -> dict[str, str]:
    """Versions of this adapter, the core and Cirq, for bug reports."""
    return {"qaas-cirq": __version__, "qaas-core": qaas_core.__version__, "cirq": str(cirq.__version__)}
