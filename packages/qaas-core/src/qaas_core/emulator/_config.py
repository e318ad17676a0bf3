"""Settings of the embedded emulator (one object shared by its LEXIS, HEAppE and IQM server parts)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qaas_core._errors import ConfigurationError
from qaas_core._estimate import QPUTimeModel

__all__ = ["EmulatorConfig"]


@dataclass
class EmulatorConfig:
    """What the emulator serves and how fast it moves.

    Attributes:
        device: bundled device profile the emulated QPU is built from (see ``qaas_core.PROFILES``).
        quantum_computer: alias the IQM server lists the QPU under (defaults to the device name).
        state_dir: where jobs, tokens and cluster job directories live; kept across restarts. None: a fresh
            temporary directory per emulator.
        host: interface to listen on; loopback only.
        port: TCP port; 0 picks a free one.
        iqm_token: the IQM server's bearer token (the cluster side's credential, never the user's).
        simulation: simulator mode, ``exact`` or ``fast``.
        noise: False for a noiseless QPU (every source off); True turns on the sources below.
        gate_noise: a depolarising channel after each gate, from its calibrated fidelity.
        readout_noise: readout errors from the calibrated P(1|0), P(0|1) (and the heralding readout).
        idle_noise: T1/T2 decay of idle qubits over the gaps of the ASAP schedule (dominates deep circuits).
        seed: base seed; job ``n`` uses ``seed + n`` so runs are reproducible.
        iqm_queue_seconds: time an IQM job waits before processing starts.
        iqm_min_processing_seconds: minimum time an IQM job spends processing.
        qpu_time_model: how long a job keeps the emulated QPU busy (the client's estimate uses the same model); the
            job's timeline reports it from ``execution_started`` to ``execution_ended``.
        qpu_time_jitter: the reported QPU time varies by up to this fraction from the model (seeded by ``seed``).
        qpu_time_scale: real seconds the emulator waits per modelled QPU second (0: report it without waiting;
            1: as long as the QPU would take).
        scheduler_tick_seconds: HEAppE background state refresh (HEAppE itself uses 30 s).
        scheduling_delay_seconds: how long each HEAppE job waits in the emulated Slurm queue before it may start
            (0 in tests; 10–30 s is what a shared partition costs), plus a uniform random extra of up to
            ``scheduling_delay_spread_seconds`` (seeded by ``seed``).
        session_expiry_seconds: HEAppE sliding session-code lifetime.
        heappe_auth: how the emulated HEAppE authenticates, one mode per deployment as on a real one:
            ``bearer`` (``LexisAuthenticationConfiguration.UseBearerAuth``: the LEXIS access token in an
            ``Authorization: Bearer`` header on every call; ``AuthenticateLexisToken`` answers
            ``"HEADER-AUTH-NEEDED"``) or ``session`` (session codes from ``AuthenticateLexisToken``; a ``Bearer``
            header is ignored). The default is the client's default (``Settings.heappe_auth``).
        access_token_seconds: LEXIS access-token lifetime.
        refresh_token_seconds: LEXIS refresh-token lifetime (offline tokens do not expire).
        realm: LEXIS (Keycloak) realm name.
        worker_command: a test's own program for HEAppE tasks, instead of the site's worker (argv prefix).
        worker_python: the interpreter that runs the site's worker (default: ``QAAS_WORKER_PYTHON``, else an
            environment of its own built once in the user cache, see ``qaas_core.emulator._worker_env``).
        worker_service: run a long-lived ``qaas-worker serve`` so tasks start without importing iqm-client.
        faults: fault rules active from the start (see ``qaas_core.emulator._faults``).
        device_poll_interval_seconds: the device flow's minimum polling interval (Keycloak: 5 s).
        device_code_seconds: lifetime of a device code.
        clock: the wall clock (epoch seconds) that every expiry and validity decision reads: LEXIS tokens
            (``iat``/``exp`` minted and checked), refresh tokens and sessions, device codes and their polling
            interval, HEAppE session codes. Tests pass a :class:`~qaas_core.emulator.FakeClock` (and the same one to
            the client's token manager) and advance it instead of sleeping. Durations of real work (IQM queue and
            processing times, walltimes of cluster processes, the scheduler tick) keep real time.
    """

    device: str = "garnet20"
    quantum_computer: str = ""
    state_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    iqm_token: str = field(default_factory=lambda: "iqm-" + secrets.token_urlsafe(24))
    simulation: Literal["exact", "fast"] = "exact"
    noise: bool = True
    gate_noise: bool = True
    readout_noise: bool = True
    idle_noise: bool = True
    seed: int | None = None
    iqm_queue_seconds: float = 0.0
    iqm_min_processing_seconds: float = 0.0
    qpu_time_model: QPUTimeModel = field(default_factory=QPUTimeModel)
    qpu_time_jitter: float = 0.05
    qpu_time_scale: float = 0.0
    scheduler_tick_seconds: float = 0.2
    scheduling_delay_seconds: float = 0.0
    scheduling_delay_spread_seconds: float = 0.0
    session_expiry_seconds: float = 900.0
    heappe_auth: Literal["bearer", "session"] = "bearer"
    access_token_seconds: float = 300.0
    refresh_token_seconds: float = 1800.0
    realm: str = "lexis"
    worker_command: tuple[str, ...] = ()
    worker_python: str | None = None
    worker_service: bool = True
    faults: list[dict[str, Any]] = field(default_factory=list)
    device_poll_interval_seconds: float = 5.0
    device_code_seconds: float = 600.0
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        if self.heappe_auth not in ("bearer", "session"):
            raise ConfigurationError(f"heappe_auth must be 'bearer' or 'session', not {self.heappe_auth!r}")
        if not self.quantum_computer:
            self.quantum_computer = self.device
