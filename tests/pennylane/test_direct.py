"""PennyLane on the direct transport: the IQM server spoken to directly (emulated, real HTTP)."""

from __future__ import annotations

from pathlib import Path

import pennylane as qml


def test_expectation_on_the_iqm_server_directly(tmp_path: Path) -> None:
    dev = qml.device("qaas.iqm", wires=2, emulator="garnet20", noise=False,
                     emulator_options={"transport": "iqm", "data_dir": tmp_path})  # fmt: skip

    @qml.set_shots(400)
    @qml.qnode(dev)
    def circuit() -> object:
        qml.PauliX(0)
        qml.CNOT([0, 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1)), qml.expval(qml.PauliZ(1))

    zz, z1 = circuit()
    assert float(zz) == 1.0 and float(z1) == -1.0
    assert dev.last_job is not None and dev.last_job.heappe_job_id is None and dev.last_job.iqm_job_id
