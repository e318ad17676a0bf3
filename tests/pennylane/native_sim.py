"""An exact, independent reference simulator of native IQM circuits for the conversion tests.

It follows every measurement branch (no sampling), so a converted circuit's outcome distribution can be compared
with ``default.qubit`` exactly. Gate definitions come from the IQM transfer-format documentation:
``PRX(θ, φ) = RZ(φ)·RX(θ)·RZ(−φ)``; ``move(q, r)`` swaps the qubit with its (empty) resonator; ``cc_prx`` applies
its PRX only when the referenced measurement read 1.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

import qaas_core as q


def prx_matrix(angle: float, phase: float) -> np.ndarray:
    c, s = np.cos(angle / 2), np.sin(angle / 2)
    return np.array([[c, -1j * np.exp(-1j * phase) * s], [-1j * np.exp(1j * phase) * s, c]])


_CZ = np.diag([1, 1, 1, -1]).astype(complex)
_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def _apply(state: np.ndarray, gate: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    k = len(axes)
    g = gate.reshape((2,) * (2 * k))
    moved = np.tensordot(g, state, axes=(list(range(k, 2 * k)), list(axes)))
    return np.moveaxis(moved, list(range(k)), list(axes))


def outcome_distribution(circuit: q.Circuit) -> dict[tuple[tuple[str, tuple[int, ...]], ...], float]:
    """Exact probability of every combination of measurement records ``((key, bits), ...)`` in program order."""
    components = list(circuit.components())
    index = {c: i for i, c in enumerate(components)}
    n = len(components)
    state = np.zeros((2,) * n, dtype=complex)
    state[(0,) * n] = 1.0
    branches: list[tuple[float, np.ndarray, tuple[tuple[str, tuple[int, ...]], ...], dict[str, int]]] = [
        (1.0, state, (), {})
    ]
    for inst in circuit.instructions:
        new: list[tuple[float, np.ndarray, tuple[tuple[str, tuple[int, ...]], ...], dict[str, int]]] = []
        for prob, psi_in, record, feedback in branches:
            psi = psi_in
            if inst.name == "prx":
                psi = _apply(psi, prx_matrix(inst.args["angle"], inst.args["phase"]), [index[inst.locus[0]]])
            elif inst.name == "cc_prx":
                if feedback[inst.args["feedback_key"]]:
                    psi = _apply(psi, prx_matrix(inst.args["angle"], inst.args["phase"]), [index[inst.locus[0]]])
            elif inst.name == "cz":
                psi = _apply(psi, _CZ, [index[c] for c in inst.locus])
            elif inst.name == "move":
                psi = _apply(psi, _SWAP, [index[c] for c in inst.locus])
            elif inst.name in ("barrier",):
                pass
            elif inst.name == "measure":
                axes = [index[c] for c in inst.locus]
                outcomes: list[tuple[float, np.ndarray, tuple[int, ...]]] = [(prob, psi, ())]
                for ax in axes:
                    split = []
                    for p, s, bits in outcomes:
                        for bit in (0, 1):
                            proj = np.take(s, bit, axis=ax)
                            weight = float(np.sum(np.abs(proj) ** 2))
                            if weight < 1e-14:
                                continue
                            kept = np.zeros_like(s)
                            idx = [slice(None)] * s.ndim
                            idx[ax] = bit
                            kept[tuple(idx)] = proj / np.sqrt(weight)
                            split.append((p * weight, kept, (*bits, bit)))
                    outcomes = split
                for p, s, bits in outcomes:
                    fb = dict(feedback)
                    if "feedback_key" in inst.args:
                        fb[inst.args["feedback_key"]] = bits[0]
                    new.append((p, s, (*record, (inst.args["key"], bits)), fb))
                continue
            else:
                raise NotImplementedError(inst.name)
            new.append((prob, psi, record, feedback))
        branches = new
    dist: dict[tuple[tuple[str, tuple[int, ...]], ...], float] = {}
    for prob, _, record, _ in branches:
        dist[record] = dist.get(record, 0.0) + prob
    return dist


def final_probs(circuit: q.Circuit, key: str = "m") -> np.ndarray:
    """Marginal distribution of the bits under ``key`` (big-endian over its locus), as ``qml.probs`` orders it."""
    width = len(circuit.measurement_keys()[key])
    out = np.zeros(2**width)
    for record, prob in outcome_distribution(circuit).items():
        bits = dict(record)[key]
        out[int("".join(map(str, bits)), 2) if bits else 0] += prob
    return out


def _pack(bits: np.ndarray) -> str:
    """Shot bits as ``qaas.result/1`` stores them: row-major, 8 per byte, MSB first, base64."""
    return base64.b64encode(np.packbits(bits.astype(np.uint8), axis=None).tobytes()).decode("ascii")


class _Job:
    def __init__(self, result: q.Result) -> None:
        self._result = result
        self.submission_id = result.submission_id

    def result(self, timeout: float | None = None) -> q.Result:
        return self._result


class ExactSamplingClient:
    """A stand-in for :class:`qaas_core.QaasClient` that samples the exact outcome distribution (no server).

    It validates each batch like the real client does, records every submission in :attr:`submissions`, and
    returns results in the real ``qaas.result/1`` shape, so the device's conversion and result mapping run unchanged.
    """

    def __init__(self, device: str = "garnet20", seed: int = 7) -> None:
        self._calibration = q.load_profile(device)
        self.rng = np.random.default_rng(seed)
        self.submissions: list[tuple[tuple[q.Circuit, ...], int]] = []

    def calibration(self) -> q.Calibration:
        return self._calibration

    def submit(self, circuits: Sequence[q.Circuit], shots: int, **_: object) -> _Job:
        batch = tuple(circuits)
        q.validate_circuits(batch, self._calibration)
        self.submissions.append((batch, shots))
        results = []
        for circuit in batch:
            dist = outcome_distribution(circuit)
            records = list(dist)
            probs = np.array([dist[r] for r in records])
            picks = self.rng.choice(len(records), size=shots, p=probs / probs.sum())
            widths = {k: len(locus) for k, locus in circuit.measurement_keys().items()}
            memory = {}
            for key, width in widths.items():
                table = np.array([dict(records[i])[key] for i in range(len(records))], dtype=np.uint8)
                memory[key] = _pack(table[picks].reshape(shots, width))
            results.append(q.CircuitResult(circuit.name, shots, widths, memory=memory))
        document = q.ResultDocument(
            schema="qaas.result/1", submission_id=f"exact-{len(self.submissions)}", status="completed",
            circuits=tuple(results),
        )  # fmt: skip
        return _Job(q.Result(document))
