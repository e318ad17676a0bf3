"""qaas-pennylane benchmarks: tape → IQM conversion, and the cost of a parameter-shift gradient batch.

``run()`` returns rows ``{"name", "value", "unit", "repeats", "spread": [min, max], "target"}``; every value is the
median of its repeats. Run alone with ``python benchmarks/bench_pennylane.py``.

* Conversion: the 2·P tapes of a parameter-shift gradient of a 12-wire hardware-efficient ansatz (3 layers of
  RY/RZ on every wire and a CNOT ladder, ``expval(Z0 Z11)``), preprocessed by the device's compile pipeline once;
  then timed: ``QaasDevice.compile`` on every tape (layout — cached for same-structure tapes as in ``execute`` —,
  routing, single-qubit fusion with virtual Z frames) and ``qaas_core.encode_circuits`` of the batch. A second
  figure times the PennyLane side (the device's compile pipeline) on the same tapes.
* Gradient batch: the same kind of batch for a 4-wire, 2-layer ``StronglyEntanglingLayers`` ansatz (24 parameters,
  48 tapes) executed by the device on a noiseless embedded garnet20 emulator (1,000 shots): wall time per batch,
  tapes per second, jobs per batch (``client.submit`` calls) and HTTP requests per batch (counted with an httpx
  event hook on the client's connection pool, polls included).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import statistics
import time
from typing import Any

from _common import median_figure as _figure
from _common import timings as _time

REPEATS = 7


def _gradient_batch(tape: Any, dev: Any) -> list[Any]:
    """The preprocessed tapes a parameter-shift gradient of ``tape`` sends to the device."""
    import pennylane as qml

    shifted, _ = qml.gradients.param_shift(tape)
    batch, _ = dev.preprocess_transforms()(shifted)
    return list(batch)


def _ansatz_12(params: Any) -> Any:
    import pennylane as qml

    n = 12
    ops = []
    for layer in range(3):
        for w in range(n):
            ops.append(qml.RY(params[layer, w, 0], w))
            ops.append(qml.RZ(params[layer, w, 1], w))
        ops.extend(qml.CNOT([w, w + 1]) for w in range(n - 1))
    return qml.tape.QuantumScript(ops, [qml.expval(qml.Z(0) @ qml.Z(n - 1))], shots=1000, trainable_params=None)


def conversion() -> list[dict[str, Any]]:
    """Preprocessed gradient tapes → IQM circuits → JSON."""
    import numpy as np
    import pennylane as qml

    import qaas_core as q
    from qaas_pennylane import QaasDevice

    cal = q.load_profile("garnet20")
    dev = QaasDevice(wires=12, emulator="garnet20", calibration=cal)  # pinned calibration: no emulator needed
    params = np.random.default_rng(5).uniform(0, 2 * np.pi, (3, 12, 2))
    tape = _ansatz_12(params)
    shifted, _ = qml.gradients.param_shift(tape)
    batch = _gradient_batch(tape, dev)
    dev.compile(batch[0])  # warm the layout cache, as the first tape of a batch does in execute
    ops = statistics.mean(len(dev.compile(t).circuit.instructions) for t in batch)

    def convert() -> bytes:
        return q.encode_circuits([dev.compile(t).circuit for t in batch])

    convert()
    n = len(batch)
    rates = [n / t for t in _time(convert, REPEATS)]
    pipeline = dev.preprocess_transforms()
    pre_rates = [len(shifted) / t for t in _time(lambda: pipeline(shifted), REPEATS)]
    return [
        _figure(
            "tape → IQM JSON (12 wires, gradient batch)",
            rates,
            "tapes/s",
            "≥ 500 tapes/s",
            tapes=n,
            native_ops_per_circuit=round(ops, 1),
        ),
        _figure("PennyLane compile pipeline (same tapes)", pre_rates, "tapes/s", "context only", tapes=len(shifted)),
    ]


def gradient_batch() -> list[dict[str, Any]]:
    """A 48-tape parameter-shift batch on the noiseless emulator."""
    import numpy as np
    import pennylane as qml

    from qaas_pennylane import QaasDevice, shutdown_emulators

    dev = QaasDevice(wires=4, emulator="garnet20", noise=False, seed=1)
    shape = qml.StronglyEntanglingLayers.shape(n_layers=2, n_wires=4)
    weights = np.random.default_rng(2).uniform(0, 2 * np.pi, shape)
    with qml.QueuingManager.stop_recording():
        ops = qml.StronglyEntanglingLayers(weights, wires=range(4)).decomposition()
    tape = qml.tape.QuantumScript(ops, [qml.expval(qml.Z(0) @ qml.Z(3))], shots=1000)
    batch = _gradient_batch(tape, dev)
    client = dev.client
    requests: list[int] = [0]
    jobs: list[int] = [0]
    hooks = client.http.event_hooks
    hooks.setdefault("request", []).append(lambda request: requests.__setitem__(0, requests[0] + 1))
    client.http.event_hooks = hooks
    real_submit = client.submit

    def counting_submit(*args: Any, **kwargs: Any) -> Any:
        jobs[0] += 1
        return real_submit(*args, **kwargs)

    client.submit = counting_submit  # type: ignore[method-assign]
    try:
        dev.execute(batch)  # warm: calibration fetched, worker started
        per_batch_requests, per_batch_jobs, times = [], [], []
        for _ in range(3):
            requests[:] = [0]
            jobs[:] = [0]
            t0 = time.perf_counter()
            dev.execute(batch)
            times.append(time.perf_counter() - t0)
            per_batch_requests.append(float(requests[0]))
            per_batch_jobs.append(float(jobs[0]))
    finally:
        shutdown_emulators()
    n = len(batch)
    return [
        _figure("gradient batch wall time (48 tapes, emulator)", times, "s", "≤ 3 s", tapes=n),
        _figure("gradient batch throughput", [n / t for t in times], "tapes/s", "≥ 20 tapes/s", tapes=n),
        _figure("jobs per gradient batch", per_batch_jobs, "jobs", "1 (pennylane-iqm: 1 per shot group)"),
        _figure("HTTP requests per gradient batch", per_batch_requests, "requests", "≤ 6 + status polls"),
    ]


def run() -> list[dict[str, Any]]:
    """All qaas-pennylane figures."""
    return conversion() + gradient_batch()


if __name__ == "__main__":
    for row in run():
        print(row)
