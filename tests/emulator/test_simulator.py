"""The noisy simulator: exact statistics when noiseless, native semantics, noise bookkeeping, reproducibility."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

import qaas_core as q
from qaas_core.emulator import Simulator

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")
HALF = math.pi / 2


def prx_matrix(angle: float, phase: float) -> np.ndarray:
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return np.array([[c, -1j * np.exp(-1j * phase) * s], [-1j * np.exp(1j * phase) * s, c]])


def reference_probs(circuit: q.Circuit, qubits: list[str]) -> np.ndarray:
    """Independent dense-matrix reference (kron products), qubits[0] = most significant bit."""
    n = len(qubits)
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1
    for inst in circuit.instructions:
        if inst.name == "prx":
            ops = [
                prx_matrix(inst.args["angle"], inst.args["phase"]) if qb == inst.locus[0] else np.eye(2)
                for qb in qubits
            ]
            full = ops[0]
            for op in ops[1:]:
                full = np.kron(full, op)
            psi = full @ psi
        elif inst.name == "cz":
            a, b = qubits.index(inst.locus[0]), qubits.index(inst.locus[1])
            for i in range(2**n):
                if (i >> (n - 1 - a)) & 1 and (i >> (n - 1 - b)) & 1:
                    psi[i] = -psi[i]
    return np.abs(psi) ** 2


def chi2_pvalue(observed: np.ndarray, expected_p: np.ndarray) -> float:
    """Pearson chi-square goodness of fit (bins with expectation < 5 merged), p-value via the Wilson-Hilferty
    normal approximation."""
    shots = observed.sum()
    exp = expected_p * shots
    big = exp >= 5
    obs_b = list(observed[big]) + [observed[~big].sum()]
    exp_b = list(exp[big]) + [exp[~big].sum()]
    pairs = [(o, e) for o, e in zip(obs_b, exp_b, strict=True) if e > 0]
    assert all(o == 0 for o, e in zip(obs_b, exp_b, strict=True) if e == 0), "outcome with zero probability seen"
    stat = sum((o - e) ** 2 / e for o, e in pairs)
    k = len(pairs) - 1
    if k <= 0:
        return 1.0
    z = ((stat / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2))


def histogram(bits: np.ndarray) -> np.ndarray:
    width = bits.shape[1]
    index = bits.astype(np.int64) @ (1 << np.arange(width - 1, -1, -1))
    return np.bincount(index, minlength=2**width)


def random_circuit(qubits: list[str], pairs: list[tuple[str, str]], depth: int, seed: int) -> q.Circuit:
    rng = random.Random(seed)
    ops: list[q.Instruction] = []
    for _ in range(depth):
        for qb in qubits:
            ops.append(q.prx(qb, rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)))
        ops.append(q.cz(*rng.choice(pairs)))
    ops.append(q.measure(*qubits, key="m"))
    return q.Circuit(f"random{seed}", tuple(ops))


def ghz(qubits: list[str]) -> q.Circuit:
    ops = [q.prx(qubits[0], HALF, HALF)]
    for a, b in itertools.pairwise(qubits):
        ops += [q.prx(b, HALF, HALF), q.cz(a, b), q.prx(b, HALF, 3 * HALF)]
    ops.append(q.measure(*qubits, key="m"))
    return q.Circuit(f"ghz{len(qubits)}", tuple(ops))


GHZ_CHAIN = ["QB1", "QB2", "QB5", "QB4", "QB3"]  # a path on the garnet20 couplings


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_noiseless_matches_exact_probabilities(mode: str) -> None:
    pairs = [("QB1", "QB2"), ("QB2", "QB5"), ("QB4", "QB5"), ("QB1", "QB4")]
    cases = [ghz(GHZ_CHAIN)] + [random_circuit(["QB1", "QB2", "QB4", "QB5"], pairs, 4, s) for s in range(6)]
    sim = Simulator(GARNET, mode=mode, noise=False)  # type: ignore[arg-type]
    for seed, circuit in enumerate(cases):
        qubits = list(circuit.instructions[-1].locus)
        result = sim.run(circuit, 20000, seed=seed)
        p = chi2_pvalue(histogram(result.measurements["m"]), reference_probs(circuit, qubits))
        assert p > 1e-4, f"{circuit.name}: chi-square p = {p}"


def test_noiseless_ghz_has_only_two_outcomes() -> None:
    bits = Simulator(GARNET, noise=False).run(ghz(GHZ_CHAIN), 5000, seed=3).measurements["m"]
    assert set(bits.sum(axis=1).tolist()) == {0, 5}


def test_same_seed_same_shots_and_different_seed_differs() -> None:
    sim = Simulator(GARNET)
    c = random_circuit(["QB1", "QB2"], [("QB1", "QB2")], 3, 1)
    a, b = sim.run(c, 2000, seed=11), sim.run(c, 2000, seed=11)
    assert np.array_equal(a.measurements["m"], b.measurements["m"])
    assert not np.array_equal(a.measurements["m"], sim.run(c, 2000, seed=12).measurements["m"])


def test_mid_circuit_measurement_and_feedback() -> None:
    # QB1 in |+>, measured with feedback; cc_prx flips QB2 exactly when the reported bit is 1
    c = q.Circuit(
        "feedback",
        (
            q.prx("QB1", HALF, HALF),
            q.measure("QB1", key="m1", feedback_key="f"),
            q.cc_prx("QB2", math.pi, 0.0, feedback_qubit="QB1", feedback_key="f"),
            q.measure("QB2", key="m2"),
        ),
    )
    r = Simulator(GARNET, noise=False).run(c, 4000, seed=5)
    m1, m2 = r.measurements["m1"][:, 0], r.measurements["m2"][:, 0]
    assert np.array_equal(m1, m2)
    assert 0.45 < m1.mean() < 0.55
    # with readout noise the feedback follows the *reported* bit, so m2 tracks m1 up to QB2's own readout error
    noisy = Simulator(GARNET).run(c, 20000, seed=6)
    disagree = (noisy.measurements["m1"][:, 0] != noisy.measurements["m2"][:, 0]).mean()
    e01, e10 = GARNET.metrics.readout_error["QB2"]
    assert disagree < 2 * max(e01, e10) + 0.01


def test_mid_circuit_measurement_collapses() -> None:
    c = q.Circuit(
        "collapse",
        (
            q.prx("QB1", HALF, HALF),
            q.measure("QB1", key="a"),
            q.measure("QB1", key="b"),
            q.prx("QB1", math.pi, 0.0),
            q.measure("QB1", key="c"),
        ),
    )
    r = Simulator(GARNET, noise=False).run(c, 3000, seed=2).measurements
    assert np.array_equal(r["a"], r["b"])
    assert np.array_equal(r["c"], 1 - r["a"])


def test_reset() -> None:
    c = q.Circuit("reset", (q.prx("QB1", HALF, 0.0), q.reset("QB1"), q.measure("QB1", key="m")))
    assert Simulator(GARNET, noise=False).run(c, 1000, seed=1).measurements["m"].sum() == 0


def test_move_sandwich_equals_direct_cz() -> None:
    prep = (q.prx("QB1", HALF, HALF), q.prx("QB2", 1.1, 0.3))
    tail = (q.prx("QB2", HALF, 3 * HALF), q.prx("QB1", 0.7, 2.0), q.measure("QB1", "QB2", key="m"))
    star = q.Circuit("star", (*prep, q.move("QB2", "CR1"), q.cz("QB1", "CR1"), q.move("QB2", "CR1"), *tail))
    direct = q.Circuit("direct", (*prep, q.cz("QB1", "QB2"), *tail))
    q.validate_circuits([star], DENEB)
    bits = Simulator(DENEB, noise=False).run(star, 20000, seed=4).measurements["m"]
    assert chi2_pvalue(histogram(bits), reference_probs(direct, ["QB1", "QB2"])) > 1e-4


def test_heralding_drops_shots_at_the_readout_error_rate() -> None:
    c = ghz(GHZ_CHAIN)
    r = Simulator(GARNET).run(c, 20000, seed=9, heralding="zeros")
    p_keep = math.prod(1 - GARNET.metrics.readout_error[qb][0] for qb in GHZ_CHAIN)
    assert r.shots == len(r.measurements["m"])
    assert abs(r.shots - 20000 * p_keep) < 5 * math.sqrt(20000 * p_keep * (1 - p_keep))


def test_noise_lowers_ghz_fidelity_by_about_the_calibrated_amount() -> None:
    c = ghz(GHZ_CHAIN)
    for mode in ("exact", "fast"):
        bits = Simulator(GARNET, mode=mode).run(c, 20000, seed=1).measurements["m"]  # type: ignore[arg-type]
        weight = bits.sum(axis=1)
        good = ((weight == 0) | (weight == 5)).mean()
        gates = math.prod(GARNET.fidelity(i.name, i.locus) for i in c.instructions if i.name in ("prx", "cz"))
        readout = math.prod(1 - sum(GARNET.metrics.readout_error[qb]) / 2 for qb in GHZ_CHAIN)
        assert 0.8 * gates * readout < good < min(1.0, 1.1 * gates * readout + 0.02), (mode, good)


def test_idle_noise_decays_an_excited_qubit_during_a_delay() -> None:
    t1 = GARNET.metrics.t1["QB1"]
    c = q.Circuit("t1", (q.prx("QB1", math.pi, 0.0), q.delay(t1, "QB1"), q.measure("QB1", key="m")))
    ones_idle = Simulator(GARNET, idle_noise=True).run(c, 20000, seed=1).measurements["m"].mean()
    ones = Simulator(GARNET).run(c, 20000, seed=1).measurements["m"].mean()
    assert ones > 0.95
    # Pauli-twirled amplitude damping over t = T1: P(flip) = p_x + p_y = (1 - e^-1) / 2 ~ 0.316
    flip = (1 - math.exp(-1)) / 2
    e01 = GARNET.metrics.readout_error["QB1"][0]
    assert ones_idle == pytest.approx(ones * (1 - flip) + flip * e01, abs=0.015)


def test_each_noise_source_is_a_switch() -> None:
    """Gate, readout and idle noise each on alone: only its own signature shows."""
    t1 = GARNET.metrics.t1["QB1"]
    idle = q.Circuit("idle", (q.prx("QB1", math.pi, 0.0), q.delay(t1, "QB1"), q.measure("QB1", key="m")))
    gates = q.Circuit("gates", tuple(q.prx("QB1", math.pi, 0.0) for _ in range(200)) + (q.measure("QB1", key="m"),))
    zero = q.Circuit("zero", (q.measure("QB1", key="m"),))

    def ones(circuit: q.Circuit, **switches: bool) -> float:
        options = {"gate_noise": False, "readout_noise": False, "idle_noise": False, **switches}
        return float(Simulator(GARNET, **options).run(circuit, 20000, seed=3).measurements["m"].mean())

    e01 = GARNET.metrics.readout_error["QB1"][0]
    assert ones(zero) == 0.0 and ones(gates) == 0.0 and ones(idle) == 1.0  # all off: ideal
    assert ones(zero, readout_noise=True) == pytest.approx(e01, abs=0.005)
    assert ones(gates, readout_noise=True) == pytest.approx(e01, abs=0.005)  # gates stay perfect
    assert ones(idle, gate_noise=True) > 0.99  # one pulse of error, no decay
    assert ones(gates, gate_noise=True) > 0.01  # 200 noisy pulses scramble some shots
    assert ones(idle, idle_noise=True) == pytest.approx(1 - (1 - math.exp(-1)) / 2, abs=0.015)
    assert ones(gates, idle_noise=True) == 0.0  # back to back: no idle gaps
    # noise=False switches every source off whatever the others say
    assert Simulator(GARNET, noise=False, idle_noise=True).run(idle, 2000, seed=3).measurements["m"].mean() == 1.0


def test_bad_arguments() -> None:
    with pytest.raises(q.ValidationError, match="mode"):
        Simulator(GARNET, mode="quick")  # type: ignore[arg-type]
    with pytest.raises(q.ValidationError, match="shots"):
        Simulator(GARNET).run(ghz(GHZ_CHAIN), 0)
