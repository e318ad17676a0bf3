"""A calibration-driven noisy simulator for IQM native circuits.

It runs the eight native operations (``prx``, ``cz``, ``move``, ``measure`` — also mid-circuit —, ``reset``,
``cc_prx``, ``barrier``, ``delay``) on a state vector over the components a circuit touches (a computational
resonator is one more two-level mode; ``move`` swaps the qubit and resonator states).

Noise comes from the :class:`~qaas_core.Calibration`:

* after each gate, a depolarising channel whose parameter matches the calibrated average fidelity
  (``p = (1 - F) d / (d - 1)``, applied as a stochastic Pauli: each non-identity Pauli with probability ``p / d²``);
* readout errors ``P(1|0)``, ``P(0|1)`` on every reported bit (feedback uses the reported bit, as hardware does);
* optionally (``idle_noise=True``) T1/T2 decay on idle components, as the Pauli-twirled amplitude and phase damping
  channel (``p_x = p_y = (1 - e^{-t/T1}) / 4``, ``p_z = (1 - e^{-t/T2}) / 2 - p_x``) over the gaps of the ASAP
  schedule of :mod:`qaas_core._schedule` (the model of the duration checks);
* heralding ``zeros``: shots whose heralding readout of a used qubit says 1 are dropped, as the IQM server does.

Two modes:

``exact``
    Every shot draws its own Pauli error pattern. Shots with the same pattern share one state-vector trajectory, so
    a pattern is simulated once however many shots drew it (the noiseless prefix is cached and shared where memory
    allows). Mid-circuit measurements split a trajectory by outcome. This samples the stated noise model exactly;
    its cost grows with the number of distinct patterns (many at large width and depth).
``fast``
    One noiseless trajectory per measurement branch; each shot is replaced, with the probability that at least one
    gate error occurred, by uniformly random bits (the white-noise approximation), then readout errors are applied.
    Faithful for deep or random circuits where errors scramble the output and for the noiseless case; it
    misrepresents structured error signatures of shallow circuits (e.g. single bit flips in a GHZ state).

Results are reproducible for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from qaas_core._calibration import Calibration
from qaas_core._circuit import Circuit, Instruction, terminal_start
from qaas_core._errors import ValidationError
from qaas_core._schedule import schedule

__all__ = ["SimulationResult", "Simulator"]

Mode = Literal["exact", "fast"]
_PREFIX_CACHE_BYTES: Final = 256 * 2**20
_MAX_QUBITS: Final = 26

_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.array([[1, 0], [0, -1]], dtype=complex)
_PAULIS: Final[tuple[np.ndarray, ...]] = (np.eye(2, dtype=complex), _X, _Y, _Z)


def _prx_matrix(angle: float, phase: float) -> np.ndarray:
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return np.array(
        [[c, -1j * complex(math.cos(-phase), math.sin(-phase)) * s],
         [-1j * complex(math.cos(phase), math.sin(phase)) * s, c]],
        dtype=complex,
    )  # fmt: skip


@dataclass
class SimulationResult:
    """Outcome of one circuit.

    Attributes:
        measurements: measurement key -> ``uint8`` array of shape (shots, len(locus)), bit per measured component.
        shots: number of shots returned (fewer than asked when heralding dropped some).
    """

    measurements: dict[str, np.ndarray]
    shots: int


@dataclass
class _Location:
    """A place where a stochastic Pauli may strike: after instruction ``after`` (before it, for idle noise)."""

    index: int
    axes: tuple[int, ...]
    probs: np.ndarray  # probability of each Pauli index 0..4**k-1, index 0 = identity
    before: bool = False


@dataclass
class _Branch:
    psi: np.ndarray
    count: int
    records: dict[str, np.ndarray] = field(default_factory=dict)
    feedback: dict[tuple[str, str], int] = field(default_factory=dict)


class _State:
    """State-vector kernels on a flat little-endian vector (bit k of the index is component axis k)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def view(self, psi: np.ndarray) -> np.ndarray:
        return psi.reshape((2,) * self.n) if self.n else psi

    def sel(self, assign: dict[int, int]) -> tuple[Any, ...]:
        idx: list[Any] = [slice(None)] * self.n
        for k, bit in assign.items():
            idx[self.n - 1 - k] = slice(bit, bit + 1)  # a slice keeps a view even on one axis
        return tuple(idx)

    def apply_1q(self, psi: np.ndarray, u: np.ndarray, k: int) -> None:
        t = self.view(psi)
        s0, s1 = t[self.sel({k: 0})], t[self.sel({k: 1})]
        a0 = s0.copy()
        s0 *= u[0, 0]
        s0 += u[0, 1] * s1
        s1 *= u[1, 1]
        s1 += u[1, 0] * a0

    def cz(self, psi: np.ndarray, a: int, b: int) -> None:
        self.view(psi)[self.sel({a: 1, b: 1})] *= -1

    def swap(self, psi: np.ndarray, a: int, b: int) -> None:
        t = self.view(psi)
        s01, s10 = t[self.sel({a: 0, b: 1})], t[self.sel({a: 1, b: 0})]
        tmp = s01.copy()
        s01[...] = s10
        s10[...] = tmp

    def pauli(self, psi: np.ndarray, which: int, k: int) -> None:
        if which:
            self.apply_1q(psi, _PAULIS[which], k)

    def prob_one(self, psi: np.ndarray, k: int) -> float:
        s1 = self.view(psi)[self.sel({k: 1})]
        return float(np.vdot(s1, s1).real)

    def project(self, psi: np.ndarray, k: int, bit: int, prob: float) -> None:
        t = self.view(psi)
        t[self.sel({k: 1 - bit})] = 0.0
        psi /= math.sqrt(prob)


class Simulator:
    """Calibration-driven noisy simulator (see the module docstring for the noise model and the modes).

    Args:
        calibration: Source of components and noise figures.
        mode: ``exact`` or ``fast``.
        noise: False for a noiseless simulation (switches off every source below).
        idle_noise: True to add T1/T2 decay on idle components.
        gate_noise: the depolarising channel after each gate, from its calibrated fidelity.
        readout_noise: readout errors on every reported bit (and the heralding readout).
    """

    def __init__(
        self, calibration: Calibration, *, mode: Mode = "exact", noise: bool = True, idle_noise: bool = False,
        gate_noise: bool = True, readout_noise: bool = True,
    ) -> None:  # fmt: skip
        if mode not in ("exact", "fast"):
            raise ValidationError(f"unknown simulation mode {mode!r}; use 'exact' or 'fast'")
        self.calibration = calibration
        self.mode: Mode = mode
        self.gate_noise = gate_noise and noise
        self.readout_noise = readout_noise and noise
        self.idle_noise = idle_noise and noise
        self.noise = self.gate_noise or self.readout_noise or self.idle_noise

    # -- noise figures ----------------------------------------------------------------------------------------

    def _depolarizing(self, gate: str, locus: tuple[str, ...]) -> np.ndarray | None:
        if not self.gate_noise:
            return None
        fidelity = self.calibration.fidelity(gate, locus)
        if fidelity is None or fidelity >= 1.0:
            return None
        d = 2 ** len(locus)
        p = min(1.0, (1.0 - fidelity) * d / (d - 1))
        probs = np.full(d * d, p / (d * d))
        probs[0] = 1.0 - probs[1:].sum()
        return probs

    def _idle(self, component: str, seconds: float) -> np.ndarray | None:
        t1 = self.calibration.metrics.t1.get(component)
        t2 = self.calibration.metrics.t2.get(component)
        if seconds <= 0.0 or t1 is None or t2 is None:
            return None
        gamma = 1.0 - math.exp(-seconds / t1)
        px = gamma / 4
        pz = max(0.0, (1.0 - math.exp(-seconds / t2)) / 2 - px)
        return np.array([1.0 - 2 * px - pz, px, px, pz])

    def _readout(self, component: str) -> tuple[float, float]:
        if not self.readout_noise:
            return (0.0, 0.0)
        return self.calibration.metrics.readout_error.get(component, (0.0, 0.0))

    def _locations(self, circuit: Circuit, axis: dict[str, int]) -> list[_Location]:
        out: list[_Location] = []
        clock: dict[str, float] = dict.fromkeys(axis, 0.0)
        timing = schedule(circuit, self.calibration) if self.idle_noise else None
        for i, inst in enumerate(circuit.instructions):
            if timing is not None:
                start, dur = timing.starts[i], timing.durations[i]
                for c in inst.locus:
                    probs = self._idle(c, start - clock[c])
                    if probs is not None:
                        out.append(_Location(i, (axis[c],), probs, before=True))
                if inst.name == "delay":
                    for c in inst.locus:
                        probs = self._idle(c, dur)
                        if probs is not None:
                            out.append(_Location(i, (axis[c],), probs))
                for c in inst.locus:
                    clock[c] = start + dur
            if inst.name in ("prx", "cc_prx", "cz", "move"):
                probs = self._depolarizing(inst.name, inst.locus)
                if probs is not None:
                    out.append(_Location(i, tuple(axis[c] for c in inst.locus), probs))
        return out

    # -- running ------------------------------------------------------------------------------------------------

    def run(
        self,
        circuit: Circuit,
        shots: int,
        *,
        seed: int | np.random.Generator | None = None,
        heralding: Literal["none", "zeros"] = "none",
    ) -> SimulationResult:
        """Simulate ``shots`` shots of ``circuit``.

        Raises:
            ValidationError: the circuit uses more components than can be simulated, or a bad shot count.
        """
        if shots < 1:
            raise ValidationError(f"shots must be >= 1, got {shots}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        components = circuit.components()
        if len(components) > _MAX_QUBITS:
            raise ValidationError(f"circuit {circuit.name!r} touches {len(components)} components; max {_MAX_QUBITS}")
        axis = {c: k for k, c in enumerate(components)}
        kept = shots
        if heralding == "zeros" and self.readout_noise:
            herald_qubits = [c for c in components if c in self.calibration.qubits]
            p_pass = math.prod(1.0 - self._readout(c)[0] for c in herald_qubits)
            kept = int(rng.binomial(shots, p_pass))
        keys = {i.args["key"]: len(i.locus) for i in circuit.instructions if i.name == "measure"}
        if kept == 0:
            return SimulationResult({k: np.zeros((0, w), dtype=np.uint8) for k, w in keys.items()}, 0)
        locations = self._locations(circuit, axis)
        state = _State(len(components))
        if self.mode == "fast" or not locations:
            branches = self._trajectory(circuit, axis, state, kept, {}, rng, None)
            records = self._collect(branches, keys, kept)
            if self.mode == "fast" and locations:
                self._white_noise(records, locations, kept, rng)
        else:
            records = self._exact(circuit, axis, state, kept, locations, rng)
        perm = rng.permutation(kept)
        return SimulationResult({k: v[perm] for k, v in records.items()}, kept)

    def _exact(
        self,
        circuit: Circuit,
        axis: dict[str, int],
        state: _State,
        shots: int,
        locations: list[_Location],
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        draws = np.zeros((shots, len(locations)), dtype=np.uint8)
        for j, loc in enumerate(locations):
            hit = rng.random(shots) >= loc.probs[0]
            n_hit = int(hit.sum())
            if n_hit:
                p = loc.probs[1:] / loc.probs[1:].sum()
                draws[hit, j] = rng.choice(len(p), size=n_hit, p=p) + 1
        patterns, counts = np.unique(draws, axis=0, return_counts=True)
        # simulate patterns ordered by where their first error strikes, sharing the noiseless prefix
        first = [int(np.flatnonzero(row)[0]) if row.any() else len(locations) for row in patterns]
        order = sorted(range(len(patterns)), key=lambda r: first[r])
        keys = {i.args["key"]: len(i.locus) for i in circuit.instructions if i.name == "measure"}
        prefix = _Prefix(circuit, axis, state, self._prefix_budget(len(axis), len(circuit.instructions)))
        parts: list[dict[str, np.ndarray]] = []
        for r in order:
            errors: dict[tuple[int, bool], list[tuple[tuple[int, ...], int]]] = {}
            for hit in np.flatnonzero(patterns[r]):
                loc = locations[int(hit)]
                errors.setdefault((loc.index, loc.before), []).append((loc.axes, int(patterns[r][hit])))
            start_index = min((i for i, _ in errors), default=len(circuit.instructions))
            start = prefix.state_before(start_index)
            branches = self._trajectory(circuit, axis, state, int(counts[r]), errors, rng, start)
            parts.append(self._collect(branches, keys, int(counts[r])))
        return {k: np.concatenate([p[k] for p in parts]) for k in keys}

    @staticmethod
    def _prefix_budget(n: int, depth: int) -> int:
        per_state = 16 * 2**n
        return int(max(0, min(depth + 1, _PREFIX_CACHE_BYTES // per_state)))

    def _trajectory(
        self,
        circuit: Circuit,
        axis: dict[str, int],
        state: _State,
        count: int,
        errors: dict[tuple[int, bool], list[tuple[tuple[int, ...], int]]],
        rng: np.random.Generator,
        start: tuple[int, np.ndarray] | None,
    ) -> list[_Branch]:
        if start is None:
            psi = np.zeros(2**state.n, dtype=complex)
            psi[0] = 1.0
            first = 0
        else:
            first, psi = start[0], start[1].copy()
        branches = [_Branch(psi, count)]
        terminal = terminal_start(circuit)
        for i in range(first, terminal):
            inst = circuit.instructions[i]
            hits_before = errors.get((i, True))
            hits_after = errors.get((i, False))
            for br in branches:
                if hits_before:
                    _strike(state, br.psi, hits_before)
            branches = self._step(inst, axis, state, branches, rng)
            if hits_after:
                for br in branches:
                    if inst.name != "cc_prx" or self._condition(inst, br):
                        _strike(state, br.psi, hits_after)
        for i in range(max(first, terminal), len(circuit.instructions)):  # idle errors around the final readout
            for hits in (errors.get((i, True)), errors.get((i, False))):
                if hits:
                    for br in branches:
                        _strike(state, br.psi, hits)
        tail = [inst for inst in circuit.instructions[max(first, terminal) :] if inst.name == "measure"]
        if tail:
            for br in branches:
                self._sample_terminal(tail, axis, state, br, rng)
        return branches

    def _sample_terminal(
        self, measures: list[Instruction], axis: dict[str, int], state: _State, br: _Branch, rng: np.random.Generator
    ) -> None:
        """Sample the final measurements of a branch straight from its distribution (no collapse needed)."""
        measured = list(dict.fromkeys(c for inst in measures for c in inst.locus))
        axes = [axis[c] for c in measured]
        probs = np.abs(br.psi) ** 2
        if state.n:
            t = probs.reshape((2,) * state.n)
            keep = [state.n - 1 - k for k in axes]  # tensor axis of each measured component
            other = tuple(a for a in range(state.n) if a not in keep)
            marg = t.sum(axis=other) if other else t
            order = sorted(range(len(keep)), key=lambda j: keep[j])  # marg axes follow ascending tensor axis
            marg = np.transpose(marg, np.argsort(order)) if len(keep) > 1 else marg
            flat = np.ascontiguousarray(marg).reshape(-1)
        else:
            flat = probs
        flat = flat / flat.sum()
        outcomes = rng.choice(flat.size, size=br.count, p=flat)
        width = len(measured)
        bits = ((outcomes[:, None] >> np.arange(width - 1, -1, -1)) & 1).astype(np.uint8)  # column j = measured[j]
        column = {c: j for j, c in enumerate(measured)}
        flip = self._flip
        for inst in measures:
            true_bits = np.ascontiguousarray(bits[:, [column[c] for c in inst.locus]])
            br.records[inst.args["key"]] = flip(true_bits, inst.locus, rng)

    @staticmethod
    def _condition(inst: Instruction, br: _Branch) -> bool:
        return br.feedback.get((inst.args["feedback_key"], inst.args["feedback_qubit"]), 0) == 1

    def _step(
        self, inst: Instruction, axis: dict[str, int], state: _State, branches: list[_Branch], rng: np.random.Generator
    ) -> list[_Branch]:
        name = inst.name
        if name == "prx":
            u = _prx_matrix(inst.args["angle"], inst.args["phase"])
            for br in branches:
                state.apply_1q(br.psi, u, axis[inst.locus[0]])
        elif name == "cz":
            for br in branches:
                state.cz(br.psi, axis[inst.locus[0]], axis[inst.locus[1]])
        elif name == "move":
            for br in branches:
                state.swap(br.psi, axis[inst.locus[0]], axis[inst.locus[1]])
        elif name == "cc_prx":
            u = _prx_matrix(inst.args["angle"], inst.args["phase"])
            for br in branches:
                if self._condition(inst, br):
                    state.apply_1q(br.psi, u, axis[inst.locus[0]])
        elif name == "measure":
            return self._measure(inst, axis, state, branches, rng)
        elif name == "reset":
            out = branches
            for c in inst.locus:
                out = [b for br in out for b, _ in self._collapse(state, br, axis[c], rng, reset=True)]
            return out
        return branches  # barrier, delay: no unitary action

    def _collapse(
        self, state: _State, br: _Branch, k: int, rng: np.random.Generator, *, reset: bool = False
    ) -> list[tuple[_Branch, int]]:
        p1 = min(1.0, max(0.0, state.prob_one(br.psi, k)))
        n1 = int(rng.binomial(br.count, p1)) if 0.0 < p1 < 1.0 else (br.count if p1 >= 0.5 else 0)
        parts: list[tuple[_Branch, int]] = []
        split = [(0, br.count - n1, 1.0 - p1), (1, n1, p1)]
        live = [(bit, n, p) for bit, n, p in split if n > 0]
        offset = 0
        for j, (bit, n, p) in enumerate(live):
            psi = br.psi if j == len(live) - 1 else br.psi.copy()
            state.project(psi, k, bit, p)
            if reset and bit == 1:
                state.apply_1q(psi, _X, k)
            rec = {key: v[offset : offset + n] for key, v in br.records.items()}
            parts.append((_Branch(psi, n, rec, dict(br.feedback)), bit))
            offset += n
        return parts

    def _measure(
        self, inst: Instruction, axis: dict[str, int], state: _State, branches: list[_Branch], rng: np.random.Generator
    ) -> list[_Branch]:
        key = inst.args["key"]
        feedback_key = inst.args.get("feedback_key")
        current: list[tuple[_Branch, list[int]]] = [(br, []) for br in branches]
        for c in inst.locus:
            nxt: list[tuple[_Branch, list[int]]] = []
            for br, bits in current:
                for child, bit in self._collapse(state, br, axis[c], rng):
                    nxt.append((child, [*bits, bit]))
            current = nxt
        out: list[_Branch] = []
        for br, bits in current:
            true_bits = np.tile(np.array(bits, dtype=np.uint8), (br.count, 1))
            reported = self._flip(true_bits, inst.locus, rng)
            if feedback_key is None:
                br.records[key] = reported
                out.append(br)
                continue
            # feedback acts on the reported bit, as on hardware: split the branch by what was reported
            rows, inverse = np.unique(reported, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
            for r, row in enumerate(rows):
                sel = np.flatnonzero(inverse == r)
                psi = br.psi if r == len(rows) - 1 else br.psi.copy()
                rec = {k: v[sel] for k, v in br.records.items()}
                rec[key] = reported[sel]
                fb = dict(br.feedback)
                for c, bit in zip(inst.locus, row, strict=True):
                    fb[(feedback_key, c)] = int(bit)
                out.append(_Branch(psi, len(sel), rec, fb))
        return out

    def _flip(self, bits: np.ndarray, locus: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        if not self.readout_noise:
            return bits
        e = np.array([self._readout(c) for c in locus])  # (width, 2)
        p_flip = np.where(bits == 0, e[:, 0], e[:, 1])
        return bits ^ (rng.random(bits.shape) < p_flip).astype(np.uint8)

    @staticmethod
    def _collect(branches: list[_Branch], keys: dict[str, int], count: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key, width in keys.items():
            parts = [br.records.get(key, np.zeros((br.count, width), dtype=np.uint8)) for br in branches]
            out[key] = np.concatenate(parts) if parts else np.zeros((count, width), dtype=np.uint8)
        return out

    def _white_noise(
        self, records: dict[str, np.ndarray], locations: list[_Location], shots: int, rng: np.random.Generator
    ) -> None:
        p_clean = math.prod(float(loc.probs[0]) for loc in locations)
        scrambled = rng.random(shots) >= p_clean
        n = int(scrambled.sum())
        if not n:
            return
        for bits in records.values():
            bits[scrambled] = rng.integers(0, 2, size=(n, bits.shape[1]), dtype=np.uint8)


def _strike(state: _State, psi: np.ndarray, hits: list[tuple[tuple[int, ...], int]]) -> None:
    for axes, which in hits:
        if len(axes) == 1:
            state.pauli(psi, which, axes[0])
        else:
            state.pauli(psi, which // 4, axes[0])
            state.pauli(psi, which % 4, axes[1])


class _Prefix:
    """Noiseless states before each instruction, up to the first one that branches (measure, reset, cc_prx)."""

    def __init__(self, circuit: Circuit, axis: dict[str, int], state: _State, budget: int) -> None:
        self.circuit = circuit
        self.axis = axis
        self.state = state
        self.budget = budget
        self.cache: dict[int, np.ndarray] = {}
        self.stop = next(
            (i for i, inst in enumerate(circuit.instructions) if inst.name in ("measure", "reset", "cc_prx")),
            len(circuit.instructions),
        )
        self._psi: np.ndarray | None = None
        self._at = 0

    def state_before(self, index: int) -> tuple[int, np.ndarray] | None:
        if self.budget == 0:
            return None
        target = min(index, self.stop)
        if target in self.cache:
            return target, self.cache[target]
        if self._psi is None or self._at > target:
            self._psi = np.zeros(2**self.state.n, dtype=complex)
            self._psi[0] = 1.0
            self._at = 0
        while self._at < target:
            inst = self.circuit.instructions[self._at]
            if inst.name == "prx":
                u = _prx_matrix(inst.args["angle"], inst.args["phase"])
                self.state.apply_1q(self._psi, u, self.axis[inst.locus[0]])
            elif inst.name == "cz":
                self.state.cz(self._psi, self.axis[inst.locus[0]], self.axis[inst.locus[1]])
            elif inst.name == "move":
                self.state.swap(self._psi, self.axis[inst.locus[0]], self.axis[inst.locus[1]])
            self._at += 1
        snapshot = self._psi.copy()
        if len(self.cache) < self.budget:
            self.cache[target] = snapshot
        return target, snapshot
