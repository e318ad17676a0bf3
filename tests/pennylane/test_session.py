"""A PennyLane training loop (parameter shift) inside a session: one HEAppE job serves every step."""

from __future__ import annotations

from pathlib import Path

import pennylane as qml
from pennylane import numpy as pnp


def test_a_vqe_loop_with_parameter_shift_runs_in_one_session_job(tmp_path: Path) -> None:
    dev = qml.device("qaas.iqm", wires=1, emulator="garnet20", noise=False, session={"idle_timeout": 60},
                     emulator_options={"scheduling_delay_seconds": 2.0, "data_dir": tmp_path})  # fmt: skip

    @qml.set_shots(400)
    @qml.qnode(dev, diff_method="parameter-shift")
    def energy(theta: object) -> object:
        qml.RY(theta, wires=0)
        return qml.expval(qml.PauliZ(0))

    theta = pnp.array(0.4, requires_grad=True)
    optimiser = qml.GradientDescentOptimizer(stepsize=0.8)
    for _ in range(6):
        theta = optimiser.step(energy, theta)
    # noiseless GD from 0.4 with step 0.8 reaches θ ≈ 3.1 in 6 steps (⟨Z⟩ ≈ -1); shot noise
    # (σ ≤ 0.05 at 400 shots) cannot lift it above -0.8
    assert float(energy(theta)) < -0.8
    client = dev.client
    batches = [e for e in client.jobs(limit=None) if "session" in e.meta]
    assert len(batches) >= 7 and len({e.meta["session"] for e in batches}) == 1
    assert len({e.heappe_job_id for e in batches}) == 1  # one HEAppE job served the whole loop
