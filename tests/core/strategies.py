"""Hypothesis strategies for valid circuits on a calibration."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import qaas_core as q

angles = st.floats(min_value=-20.0, max_value=20.0, allow_nan=False, allow_infinity=False)


@st.composite
def circuits(draw: st.DrawFn, calibration: q.Calibration, max_ops: int = 30) -> q.Circuit:
    """A valid circuit on ``calibration``: calibrated loci, unique keys, feedback after its measure,
    MOVE sandwiches closed and respected (strict mode)."""
    qubits = list(calibration.qubits)
    cz_loci = [lc for lc in calibration.loci("cz") if all(c in calibration.qubits for c in lc)]
    moves = list(calibration.loci("move"))
    ops: list[q.Instruction] = []
    n_keys = 0
    feedback: list[tuple[str, str]] = []  # (feedback_key, qubit)
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(["prx", "cz", "measure", "barrier", "delay", "reset", "cc_prx", "move"]))
        if kind == "prx":
            ops.append(q.prx(draw(st.sampled_from(qubits)), draw(angles), draw(angles)))
        elif kind == "cz" and cz_loci:
            a, b = draw(st.sampled_from(cz_loci))
            ops.append(q.cz(*draw(st.sampled_from([(a, b), (b, a)]))))
        elif kind == "measure":
            locus = draw(st.lists(st.sampled_from(qubits), min_size=1, max_size=3, unique=True))
            n_keys += 1
            fb = None
            if draw(st.booleans()) and len(locus) == 1:
                fb = f"fb{n_keys}"
                feedback.append((fb, locus[0]))
            ops.append(q.measure(*locus, key=f"m{n_keys}", feedback_key=fb))
        elif kind == "barrier":
            ops.append(q.barrier(*draw(st.lists(st.sampled_from(qubits), min_size=1, max_size=4, unique=True))))
        elif kind == "delay":
            ops.append(q.delay(draw(st.floats(0, 1e-5)), draw(st.sampled_from(qubits))))
        elif kind == "reset":
            ops.append(q.reset(draw(st.sampled_from(qubits))))
        elif kind == "cc_prx" and feedback:
            fb, fq = draw(st.sampled_from(feedback))
            target = draw(st.sampled_from(qubits))
            ops.append(q.cc_prx(target, draw(angles), draw(angles), feedback_qubit=fq, feedback_key=fb))
        elif kind == "move" and moves:
            qubit, resonator = draw(st.sampled_from(moves))
            partners = [lc for lc in calibration.loci("cz") if resonator in lc and qubit not in lc]
            ops.append(q.move(qubit, resonator))
            if partners:
                ops.append(q.cz(*draw(st.sampled_from(partners))))
            ops.append(q.move(qubit, resonator))
    if not ops:
        ops.append(q.prx(qubits[0], 0.5, 0.25))
    meta: Any = draw(st.none() | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3))
    return q.Circuit(draw(st.text(min_size=1, max_size=12)), tuple(ops), meta)
