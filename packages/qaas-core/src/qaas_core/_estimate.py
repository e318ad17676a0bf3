"""What a batch costs before it is sent: QPU seconds, expected success, bytes, and what is left to spend.

**QPU time.** One model serves the client's estimate and the emulated IQM server's execution timeline::

    job_overhead + Σ over circuits [ circuit_overhead + shots × (duration + herald + shot_overhead) ]

``duration`` is the circuit's ASAP duration from the calibrated gate durations (:mod:`qaas_core._schedule`, the same
model as the T2 check); ``herald`` is the duration of the heralding measurement when ``heralding_mode`` is
``zeros``; ``shot_overhead`` is the wait between shots that lets the qubits relax (IQM resets passively, so it is a
few T1 long), ``circuit_overhead`` loading one circuit's waveforms, ``job_overhead`` the instrument's setup. The
three overheads are assumptions, not figures IQM publishes; the client corrects for them once it has seen real
jobs: the ledger keeps the estimate and the QPU time the server reported (``execution_started`` to
``execution_ended`` of the job's timeline) of each job, and the median ratio of the last completed ones on the
same resource scales the next estimate (:func:`correction`).

**Expected success probability** of a circuit is the product of the calibrated fidelities of its operations (the
readout assignment fidelity for each measured qubit); an operation without a calibrated fidelity counts as
perfect. It is the usual "estimated success probability" figure of merit: a rough guide for choosing qubits and
depth, not a prediction of any observable.

**Allocation.** LEXIS gives a resource's ``AllocationAmount`` in QPU seconds (IT4I's cluster side compares it with
the hardware seconds it has recorded). The client knows only what its own ledger has spent on the resource, so
"left" is an upper bound when others in the project also run jobs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from qaas_core._errors import BudgetExceededError
from qaas_core._schedule import circuit_duration, instruction_duration

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration
    from qaas_core._circuit import Circuit
    from qaas_core._ledger import LedgerEntry
    from qaas_core._result import TimelineEntry

__all__ = [
    "Estimate",
    "QPUTimeModel",
    "build_estimate",
    "check_spend",
    "correction",
    "qpu_seconds_from_timeline",
    "success_probability",
]

CORRECTION_HISTORY: Final = 20  # completed jobs the correction looks back on
CORRECTION_MIN_JOBS: Final = 3
CORRECTION_BOUNDS: Final = (0.1, 10.0)  # a ratio outside is a broken timeline, not a slow QPU


@dataclass(frozen=True)
class QPUTimeModel:
    """How long a job keeps the QPU busy (see the module docstring).

    Attributes:
        shot_overhead: seconds between two shots (passive qubit reset and readout turnaround).
        circuit_overhead: seconds to switch to the next circuit of a batch.
        job_overhead: seconds of instrument setup per job.
    """

    shot_overhead: float = 300e-6
    circuit_overhead: float = 0.01
    job_overhead: float = 0.5

    def circuit_seconds(self, duration: float, shots: int, herald: float = 0.0) -> float:
        """QPU seconds of one circuit of ``duration`` run ``shots`` times (without the job's setup)."""
        return self.circuit_overhead + shots * (duration + herald + self.shot_overhead)

    def job_seconds(
        self, circuits: Iterable[Circuit], shots: int, calibration: Calibration, *, heralding: bool = False
    ) -> float:
        """QPU seconds of one job running ``circuits`` with ``shots`` each."""
        total = self.job_overhead
        for circuit in circuits:
            herald = _herald_seconds(circuit, calibration) if heralding else 0.0
            total += self.circuit_seconds(circuit_duration(circuit, calibration), shots, herald)
        return total


def _herald_seconds(circuit: Circuit, calibration: Calibration) -> float:
    from qaas_core._circuit import Instruction

    qubits = tuple(q for q in circuit.components() if q in calibration.metrics.t1 or q in calibration.qubits)
    if not qubits:
        return 0.0
    return instruction_duration(Instruction("measure", qubits, {"key": "herald"}), calibration)


def success_probability(circuit: Circuit, calibration: Calibration) -> float:
    """The product of the calibrated fidelities of ``circuit``'s operations (see the module docstring)."""
    fidelity = calibration.metrics.fidelity
    readout = calibration.metrics.readout_error
    p = 1.0
    for inst in circuit.instructions:
        if inst.name == "measure":
            for q in inst.locus:
                e01, e10 = readout.get(q, (0.0, 0.0))
                p *= 1.0 - (e01 + e10) / 2
            continue
        name = "prx" if inst.name == "cc_prx" else inst.name
        table = fidelity.get(name)
        if not table:
            continue
        f = table.get(inst.locus)
        if f is None and len(inst.locus) == 2:
            f = table.get(inst.locus[::-1])
        if f is not None:
            p *= f
    return p


def _parse(timestamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def qpu_seconds_from_timeline(timeline: Iterable[TimelineEntry]) -> float | None:
    """The QPU time the server reported: from its first ``execution_started`` to its last ``execution_ended``."""
    started: datetime | None = None
    ended: datetime | None = None
    for step in timeline:
        moment = _parse(step.timestamp)
        if moment is None or moment.tzinfo is None:
            continue
        if step.status == "execution_started" and started is None:
            started = moment
        elif step.status == "execution_ended":
            ended = moment
    if started is None or ended is None or ended < started:
        return None
    return (ended - started).total_seconds()


def correction(entries: Iterable[LedgerEntry]) -> float:
    """The median ratio of reported to estimated QPU time over the latest completed jobs (1.0 with too few)."""
    ratios = [
        e.qpu_seconds / e.estimated_qpu_seconds
        for e in entries
        if e.state == "completed" and e.qpu_seconds is not None and e.estimated_qpu_seconds
    ][:CORRECTION_HISTORY]
    if len(ratios) < CORRECTION_MIN_JOBS:
        return 1.0
    low, high = CORRECTION_BOUNDS
    return min(high, max(low, statistics.median(ratios)))


@dataclass(frozen=True)
class Estimate:
    """What submitting a batch would cost.

    Attributes:
        resource: the LEXIS resource (or the quantum computer on the direct transport).
        circuits: circuits in the batch.
        shots: shots per circuit.
        jobs: jobs it takes (one per batch).
        qpu_seconds: estimated QPU time, the model's figure times ``correction``.
        model_qpu_seconds: the model's figure alone.
        correction: learnt ratio of reported to modelled QPU time on this resource (1.0 until 3 jobs completed).
        longest_duration: duration of the longest circuit (s).
        success_probability: expected success probability of each circuit.
        request_bytes: bytes uploaded (the compressed request).
        allocation: the resource's LEXIS allocation in QPU seconds, if known.
        budget: the configured ``budget_qpu_seconds``, if any.
        spent: QPU seconds this client's ledger has spent or reserved on the resource (reported times of finished
            jobs, estimates of running ones).
    """

    resource: str
    circuits: int
    shots: int
    jobs: int
    qpu_seconds: float
    model_qpu_seconds: float
    correction: float
    longest_duration: float
    success_probability: tuple[float, ...]
    request_bytes: int
    allocation: float | None
    budget: float | None
    spent: float

    @property
    def left(self) -> float | None:
        """QPU seconds left before this batch under the tighter of allocation and budget (None: no limit known)."""
        limits = [x for x in (self.allocation, self.budget) if x is not None]
        return min(limits) - self.spent if limits else None

    @property
    def fits(self) -> bool:
        """Whether the batch fits in what is left."""
        left = self.left
        return left is None or self.qpu_seconds <= left

    def check(self) -> None:
        """Refuse the batch when it does not fit.

        Raises:
            BudgetExceededError: it needs more QPU seconds than the allocation or the budget has left.
        """
        check_spend(self.resource, self.qpu_seconds, self.circuits, self.shots, allocation=self.allocation,
                    budget=self.budget, spent=self.spent)  # fmt: skip

    def rows(self) -> list[tuple[str, str]]:
        """The estimate as (label, value) rows for a table."""

        def seconds(value: float | None) -> str:
            return "unknown" if value is None else f"{value:.2f} s"

        esp = self.success_probability
        rows = [
            ("resource", self.resource),
            ("circuits x shots", f"{self.circuits} x {self.shots}"),
            ("jobs", str(self.jobs)),
            ("QPU time", seconds(self.qpu_seconds)
             + (f" (model {self.model_qpu_seconds:.2f} s x {self.correction:.2f} learnt from past jobs)"
                if self.correction != 1.0 else "")),
            ("longest circuit", f"{self.longest_duration * 1e6:.2f} µs"),
            ("expected success", f"{min(esp):.3f} .. {max(esp):.3f}" if min(esp) != max(esp) else f"{esp[0]:.3f}"),
            ("upload", f"{self.request_bytes} bytes"),
            ("allocation", seconds(self.allocation)),
        ]  # fmt: skip
        if self.budget is not None:
            rows.append(("budget", seconds(self.budget)))
        rows.append(("spent (ledger)", seconds(self.spent)))
        left = self.left
        if left is not None:
            rows.append(("left after", f"{left - self.qpu_seconds:.2f} s" + ("" if self.fits else "  (does not fit)")))
        return rows


def check_spend(
    resource: str,
    needed: float,
    circuits: int,
    shots: int,
    *,
    allocation: float | None,
    budget: float | None,
    spent: float,
) -> None:
    """Refuse a batch needing ``needed`` QPU seconds when the budget or the allocation has less left.

    Raises:
        BudgetExceededError: it does not fit (the budget is checked first: it is the user's own limit).
    """
    for limit, what, name in (
        (budget, "the budget you configured (budget_qpu_seconds)", "budget"),
        (allocation, f"the allocation of {resource}", "allocation"),
    ):
        if limit is None:
            continue
        left = limit - spent
        if needed > left:
            raise BudgetExceededError(
                f"the batch needs about {needed:.1f} QPU s ({circuits} circuit(s) x {shots} shots), but {what} "
                f"has {max(left, 0.0):.1f} s left of {limit:g} s ({spent:.1f} s spent by the jobs in your ledger); "
                "nothing was sent",
                needed=needed, left=left, limit=name,
            )  # fmt: skip


def build_estimate(
    *,
    resource: str,
    circuits: Sequence[Circuit],
    shots: int,
    calibration: Calibration,
    heralding: bool,
    request_bytes: int,
    model: QPUTimeModel,
    history: Sequence[LedgerEntry],
    allocation: float | None,
    budget: float | None,
    spent: float,
) -> Estimate:
    """An :class:`Estimate` of one job running ``circuits`` (already mapped to physical qubits)."""
    modelled = model.job_seconds(circuits, shots, calibration, heralding=heralding)
    factor = correction(history)
    longest = max((circuit_duration(c, calibration) for c in circuits), default=0.0)
    return Estimate(
        resource=resource, circuits=len(circuits), shots=shots, jobs=1, qpu_seconds=modelled * factor,
        model_qpu_seconds=modelled, correction=factor, longest_duration=longest,
        success_probability=tuple(success_probability(c, calibration) for c in circuits),
        request_bytes=request_bytes, allocation=allocation, budget=budget, spent=spent,
    )  # fmt: skip
