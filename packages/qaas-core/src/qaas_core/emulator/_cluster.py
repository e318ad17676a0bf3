"""The emulated HPC cluster behind HEAppE: job records, job directories, a scheduler tick and real subprocesses.

Layout on disk (under the emulator's ``state_dir``)::

    heappe/jobs/<SubmittedJobInfoId>.json     one JSON record per job (atomic writes)
    heappe/counters.json                      next job and task ids
    cluster/<clusterUser>/<JobSpecificationId>/<TaskSpecificationId>[/<ClusterTaskSubdirectory>]/
    cluster-archive/<clusterUser>/<JobSpecificationId>/<TaskSpecificationId>/...   (DeleteJob with ArchiveLogs)

The scheduler tick (every ``scheduler_tick_seconds``) moves tasks Submitted (2) → Queued (4) → Running (8) and, when
their process ends, to Finished (16) or Failed (32). A task starts when the tasks it depends on have finished and
its node type has a free node (``NumberOfNodes`` tasks run at once per node type). Starting a task runs
``worker_command + template arguments`` in the task directory with no shell, stdout and stderr going to the task's
files. A task past its walltime gets SIGTERM, then SIGKILL after a grace period, and ends Failed. A task whose
dependency failed or was canceled is canceled (Slurm would keep it pending forever).

A restart of the emulator models a restart of the HEAppE server, not of the cluster: on a real site the Slurm job
keeps running. Here the processes die with the emulator, so tasks left Running are queued again on start and run
once more; the worker then recognises the submission id and attaches to the IQM job it had already started instead
of submitting again (exactly once). Queued tasks survive a restart and run afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from pathlib import Path
from typing import IO, Any, Final

from qaas_core._files import private_dir
from qaas_core.emulator._faults import FaultInjector
from qaas_core.emulator._jsonfile import read_json, write_json

__all__ = [
    "Cluster",
    "JobRecord",
    "PathOutsideJob",
    "State",
    "TaskRecord",
    "die_with_parent_thread",
    "update_job_state",
]

logger = logging.getLogger(__name__)

_KILL_GRACE_SECONDS: Final = 2.0
_LOGIN_ENVIRONMENT: Final = frozenset({"PATH", "LANG", "TZ", "TMPDIR"})
_STDERR_TAIL_BYTES: Final = 2000
_FORM_TWO: Final = re.compile(r"^/?[0-9]+/[0-9]+/")


class State(IntEnum):
    """HEAppE job and task states (bit-flag style values)."""

    CONFIGURING = 1
    SUBMITTED = 2
    QUEUED = 4
    RUNNING = 8
    FINISHED = 16
    FAILED = 32
    CANCELED = 64
    WAITING_FOR_SERVICE_ACCOUNT = 128
    DELETED = 256

    @property
    def label(self) -> str:
        """The C# enum name (``WaitingForServiceAccount``)."""
        return "".join(part.capitalize() for part in self.name.split("_"))


class PathOutsideJob(ValueError):
    """A requested path leaves the job directory."""


@dataclass
class TaskRecord:
    """One task of a job, as stored.

    Attributes:
        id: SubmittedTaskInfo id.
        spec_id: TaskSpecification id (its directory name).
        name: task name.
        state: task state.
        priority: 0-8.
        node_type_id: ClusterNodeType id.
        template_id: CommandTemplate id.
        project_id: HEAppE project id.
        min_cores: MinCores.
        max_cores: MaxCores.
        walltime_limit: seconds.
        arguments: command-line arguments after the worker command (placeholders substituted).
        environment: job and task environment variables, merged.
        parameter_values: TemplateParameterValues by identifier.
        standard_output_file: stdout file name.
        standard_error_file: stderr file name.
        standard_input_file: stdin file name, if any.
        progress_file: ProgressFile.
        log_file: LogFile.
        cluster_task_subdirectory: optional subdirectory of the task directory.
        depends_on: ids of the tasks this one waits for.
        cpu_hyper_threading: as given.
        start_time: epoch seconds.
        end_time: epoch seconds.
        allocated_time: seconds the task ran.
        allocated_core_ids: emulated node names.
        error_message: why the task failed.
        reason: scheduler reason.
        kill_reason: why the emulator signalled the process (``cancel``, ``walltime``).
        eligible_at: when Slurm would start it at the earliest (the emulated scheduling delay), epoch seconds.
    """

    id: int
    spec_id: int
    name: str
    state: int = State.CONFIGURING
    priority: int = 4
    node_type_id: int = 0
    template_id: int = 0
    project_id: int = 0
    min_cores: int | None = None
    max_cores: int = 1
    walltime_limit: int = 0
    arguments: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    parameter_values: dict[str, str] = field(default_factory=dict)
    standard_output_file: str = "stdout.txt"
    standard_error_file: str = "stderr.txt"
    standard_input_file: str | None = None
    progress_file: str = ""
    log_file: str = ""
    cluster_task_subdirectory: str | None = None
    depends_on: list[int] = field(default_factory=list)
    cpu_hyper_threading: bool | None = None
    start_time: float | None = None
    end_time: float | None = None
    allocated_time: float | None = None
    allocated_core_ids: list[str] | None = None
    error_message: str | None = None
    reason: str | None = None
    kill_reason: str | None = None
    eligible_at: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        """Rebuild a stored record (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class JobRecord:
    """One job, as stored.

    Attributes:
        id: SubmittedJobInfo id.
        spec_id: JobSpecification id (its directory name).
        name: job name.
        owner: username of the submitter.
        project_id: HEAppE project id.
        cluster_id: cluster id.
        file_transfer_method_id: file transfer method id.
        cluster_user: cluster account the job runs under.
        sub_project: SubProjectIdentifier.
        state: job state.
        creation_time: epoch seconds.
        submit_time: epoch seconds.
        start_time: epoch seconds.
        end_time: epoch seconds.
        total_allocated_time: sum of the tasks' allocated time.
        walltime_limit: sum of the tasks' walltimes.
        waiting_limit: WaitingLimit as given (not enforced).
        archived: logs were archived by DeleteJob.
        tasks: the tasks in specification order.
    """

    id: int
    spec_id: int
    name: str
    owner: str
    project_id: int
    cluster_id: int
    file_transfer_method_id: int
    cluster_user: str
    sub_project: str | None = None
    state: int = State.CONFIGURING
    creation_time: float = 0.0
    submit_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    total_allocated_time: float | None = None
    walltime_limit: int = 0
    waiting_limit: int | None = None
    archived: bool = False
    tasks: list[TaskRecord] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Rebuild a stored record (unknown keys are ignored)."""
        known = {f.name for f in fields(cls)} - {"tasks"}
        job = cls(**{k: v for k, v in data.items() if k in known})
        job.tasks = [TaskRecord.from_json(t) for t in data.get("tasks", [])]
        return job

    def task(self, task_id: int) -> TaskRecord | None:
        """The task with SubmittedTaskInfo id ``task_id``."""
        return next((t for t in self.tasks if t.id == task_id), None)


def update_job_state(job: JobRecord) -> None:
    """HEAppE's ``UpdateJobStateByTasks``: job state and times from the tasks.

    Walks the tasks in order tracking the minimum state; the first Failed, Running or Canceled task stops the walk
    and becomes the candidate (otherwise Finished); the job state is the lower of the two.
    """
    if not job.tasks:
        return
    job.start_time = job.tasks[0].start_time
    ended = [t.end_time for t in job.tasks if t.end_time is not None]
    job.end_time = ended[-1] if ended else None
    job.total_allocated_time = sum(t.allocated_time or 0.0 for t in job.tasks)
    candidate = int(State.FINISHED)
    minimum = int(State.CANCELED)
    for task in job.tasks:
        minimum = min(minimum, task.state)
        if task.state in (State.FAILED, State.RUNNING, State.CANCELED):
            candidate = task.state
            break
    job.state = min(minimum, candidate)


@dataclass
class _Process:
    popen: subprocess.Popen[bytes]
    job_id: int
    term_sent_at: float | None = None


class Cluster:
    """Jobs, their directories and the processes that run them.

    Args:
        state_dir: the emulator's state directory.
        worker_command: argv prefix of every task.
        pass_account: put ``--account <cluster account>`` after the prefix (what the site's templates do: the
            worker keys its exactly-once records by the account the task runs under).
        scheduling_delay: seconds a submitted task waits before it may start (what a busy Slurm partition costs);
            called once per task at submission.
        faults: fault injector (``fail_next_job`` rules are consumed when a task starts).
        node_capacity: number of tasks that may run at once on a node type id.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        worker_command: Sequence[str],
        pass_account: bool = False,
        scheduling_delay: Callable[[], float] = lambda: 0.0,
        faults: FaultInjector,
        node_capacity: Callable[[int], int],
    ) -> None:
        self.root = state_dir
        self.worker_command = list(worker_command)
        self.pass_account = pass_account
        self._scheduling_delay = scheduling_delay
        self._faults = faults
        self._capacity = node_capacity
        self._jobs: dict[int, JobRecord] = {}
        self._procs: dict[int, _Process] = {}
        self._next_job = 1
        self._next_task = 1
        self._jobs_dir = state_dir / "heappe" / "jobs"

    # -- persistence -----------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the stored jobs; tasks left Running by a previous run are queued again (see the module docstring)."""
        counters = read_json(self.root / "heappe" / "counters.json")
        if isinstance(counters, dict):
            self._next_job = int(counters.get("next_job", 1))
            self._next_task = int(counters.get("next_task", 1))
        if self._jobs_dir.is_dir():
            for path in sorted(self._jobs_dir.glob("*.json")):
                data = read_json(path)
                if not isinstance(data, dict):
                    continue
                try:
                    job = JobRecord.from_json(data)
                except (TypeError, ValueError):
                    logger.warning("ignoring malformed job record %s", path)
                    continue
                self._jobs[job.id] = job
                self._next_job = max(self._next_job, job.id + 1, job.spec_id + 1)
                self._next_task = max([self._next_task, *(t.id + 1 for t in job.tasks)])
        for job in self._jobs.values():
            stale = [t for t in job.tasks if t.state == State.RUNNING]
            for task in stale:
                task.state = State.QUEUED
                task.reason = "Requeued"
                task.start_time = None
                logger.info("job %d task %d was running when the emulator stopped: queued again", job.id, task.id)
            if stale:
                update_job_state(job)
                self.save(job)

    def save(self, job: JobRecord) -> None:
        """Store one job record."""
        write_json(self._jobs_dir / f"{job.id}.json", asdict(job))

    def _save_counters(self) -> None:
        write_json(self.root / "heappe" / "counters.json", {"next_job": self._next_job, "next_task": self._next_task})

    # -- records ---------------------------------------------------------------------------------------------------

    def allocate_ids(self, tasks: int) -> tuple[int, list[int]]:
        """A new job id (also its specification id) and ``tasks`` new task ids."""
        job_id = self._next_job
        task_ids = list(range(self._next_task, self._next_task + tasks))
        self._next_job += 1
        self._next_task += tasks
        self._save_counters()
        return job_id, task_ids

    def add(self, job: JobRecord) -> None:
        """Register a created job and make its directories (job root and one per task)."""
        self._jobs[job.id] = job
        private_dir(self.root / "cluster" / job.cluster_user)  # one account cannot look into another's jobs
        for task in job.tasks:
            self.task_dir(job, task).mkdir(parents=True, exist_ok=True)
        self.save(job)

    def job(self, job_id: int) -> JobRecord | None:
        """The job with that SubmittedJobInfo id."""
        return self._jobs.get(job_id)

    def jobs(self) -> list[JobRecord]:
        """Every job, oldest first."""
        return sorted(self._jobs.values(), key=lambda j: j.id)

    # -- directories and files -------------------------------------------------------------------------------------

    def job_dir(self, job: JobRecord) -> Path:
        """``cluster/<clusterUser>/<JobSpecificationId>``."""
        return self.root / "cluster" / job.cluster_user / str(job.spec_id)

    def task_root(self, job: JobRecord, task: TaskRecord) -> Path:
        """``<jobdir>/<TaskSpecificationId>`` (where uploads with a TaskId land)."""
        return self.job_dir(job) / str(task.spec_id)

    def task_dir(self, job: JobRecord, task: TaskRecord) -> Path:
        """The task's working directory (``task_root`` plus ``ClusterTaskSubdirectory``)."""
        root = self.task_root(job, task)
        return root / task.cluster_task_subdirectory if task.cluster_task_subdirectory else root

    def _archive_dir(self, job: JobRecord) -> Path:
        return self.root / "cluster-archive" / job.cluster_user / str(job.spec_id)

    def files_root(self, job: JobRecord) -> Path | None:
        """Where a job's files are read from: its directory, its archive after deletion, or None."""
        if job.state == State.DELETED:
            return self._archive_dir(job) if job.archived else None
        return self.job_dir(job)

    def changed_files(self, job: JobRecord) -> list[tuple[str, float]]:
        """``(/<TaskSpecificationId>/<relative path>, mtime)`` of task files changed since the job was created."""
        root = self.files_root(job)
        if root is None or not root.is_dir():
            return []
        found: list[tuple[str, float]] = []
        for task in job.tasks:
            base = root / str(task.spec_id)
            for path in _walk_files(base):
                if path.name.endswith(".part"):
                    continue
                mtime = path.stat().st_mtime
                if mtime >= job.creation_time - 1.0:
                    found.append(("/" + path.relative_to(root).as_posix(), mtime))
        return sorted(found)

    def resolve_download(self, job: JobRecord, relative_path: str) -> Path | None:
        """The file a DownloadFileFromCluster path names, or None if it does not exist.

        Accepts ``/<TaskSpecificationId>/…`` and ``/<JobSpecificationId>/<TaskSpecificationId>/…`` like HEAppE
        (a path starting with two numeric segments is the second form).

        Raises:
            PathOutsideJob: the path leaves the job's directory.
        """
        root = self.files_root(job)
        if root is None:
            return None
        rel = relative_path.replace("\\", "/")
        if not _FORM_TWO.match(rel):
            rel = f"{job.spec_id}/{rel.lstrip('/')}"
        candidate = root.parent / rel.lstrip("/")
        base = root.resolve()
        resolved = candidate.resolve()
        if resolved != base and base not in resolved.parents:
            raise PathOutsideJob(relative_path)
        return resolved if resolved.is_file() else None

    def task_file(self, job: JobRecord, task: TaskRecord, name: str) -> tuple[Path | None, str]:
        """A task file by name (for log tails): its path (None if unavailable) and its reported relative path."""
        sub = f"/{task.cluster_task_subdirectory}" if task.cluster_task_subdirectory else ""
        relative = f"/{task.spec_id}{sub}/{name}"
        root = self.files_root(job)
        if root is None or not name:
            return None, relative
        path = (root / relative.lstrip("/")).resolve()
        if root.resolve() not in path.parents:
            return None, relative
        return path, relative

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def submit(self, job: JobRecord) -> None:
        """SubmitJob: hand the tasks to the scheduler (state 2)."""
        now = time.time()
        job.submit_time = now
        for task in job.tasks:
            task.state = State.SUBMITTED
            task.reason = "None"
            task.eligible_at = now + max(0.0, self._scheduling_delay())
        update_job_state(job)
        self.save(job)

    def cancel(self, job: JobRecord) -> None:
        """CancelJob: unstarted tasks are canceled, running ones signalled (SIGTERM, then SIGKILL)."""
        now = time.time()
        for task in job.tasks:
            if task.state in (State.CONFIGURING, State.WAITING_FOR_SERVICE_ACCOUNT):
                task.state = State.CANCELED
            elif task.state in (State.SUBMITTED, State.QUEUED):
                task.state = State.CANCELED
                task.end_time = now
                task.reason = "JobCancelled"
            elif task.state == State.RUNNING:
                self._signal(task, "cancel", now)
                self._end(task, State.CANCELED, now, "Job cancelled manually by the client.")
        if job.state in (State.CONFIGURING, State.WAITING_FOR_SERVICE_ACCOUNT):
            job.state = State.CANCELED
        else:
            update_job_state(job)
        self.save(job)

    def delete(self, job: JobRecord, *, archive_logs: bool) -> None:
        """DeleteJob: optionally archive stdout/stderr, remove the job directory, state 256."""
        for task in job.tasks:
            self._kill_now(task.id)
        if archive_logs:
            for task in job.tasks:
                source = self.task_dir(job, task)
                target = self._archive_dir(job) / str(task.spec_id)
                if task.cluster_task_subdirectory:
                    target = target / task.cluster_task_subdirectory
                for name in (task.standard_output_file, task.standard_error_file):
                    if name and (source / name).is_file():
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(source / name, target / name)
            job.archived = True
        shutil.rmtree(self.job_dir(job), ignore_errors=True)
        job.state = State.DELETED
        for task in job.tasks:
            task.state = State.DELETED
        self.save(job)

    # -- the scheduler ---------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """One scheduler pass: advance every unfinished job, reap and escalate signalled processes."""
        now = time.time()
        for job in self.jobs():
            if not any(t.state in (State.SUBMITTED, State.QUEUED, State.RUNNING) for t in job.tasks):
                continue
            changed = False
            for task in job.tasks:
                changed |= self._advance(job, task, now)
            if changed:
                update_job_state(job)
                self.save(job)
        for task_id, proc in list(self._procs.items()):
            owner = self._jobs.get(proc.job_id)
            owned = owner.task(task_id) if owner else None
            if owned is not None and owned.state == State.RUNNING:
                continue
            if proc.popen.poll() is not None:
                del self._procs[task_id]
            elif proc.term_sent_at is not None and now - proc.term_sent_at > _KILL_GRACE_SECONDS:
                _kill_group(proc.popen, signal.SIGKILL)

    def _advance(self, job: JobRecord, task: TaskRecord, now: float) -> bool:
        if task.state == State.SUBMITTED:
            task.state = State.QUEUED
            task.reason = "Priority"
            return True
        if task.state == State.QUEUED:
            deps = [job.task(d) for d in task.depends_on]
            if any(d is not None and d.state in (State.FAILED, State.CANCELED) for d in deps):
                self._end(task, State.CANCELED, now, None)
                task.reason = "DependencyNeverSatisfied"
                return True
            if any(d is not None and d.state != State.FINISHED for d in deps):
                if task.reason != "Dependency":
                    task.reason = "Dependency"
                    return True
                return False
            if task.eligible_at is not None and now < task.eligible_at:
                return False  # still waiting for the scheduler (reason: Priority)
            if self._running_on(task.node_type_id) >= self._capacity(task.node_type_id):
                if task.reason != "Resources":
                    task.reason = "Resources"
                    return True
                return False
            self._start(job, task, now)
            return True
        if task.state == State.RUNNING:
            return self._watch(job, task, now)
        return False

    def _running_on(self, node_type_id: int) -> int:
        return sum(
            1
            for job in self._jobs.values()
            for t in job.tasks
            if t.state == State.RUNNING and t.node_type_id == node_type_id
        )

    def _start(self, job: JobRecord, task: TaskRecord, now: float) -> None:
        task.start_time = now
        task.reason = "None"
        task.allocated_core_ids = [f"emu-node-{task.node_type_id}"]
        injected = self._faults.take_job_failure(job.name)
        if injected is not None:
            task.state = State.RUNNING
            self._end(task, State.FAILED, now, injected)
            logger.info("job %d task %d failed by an injected fault", job.id, task.id)
            return
        workdir = self.task_dir(job, task)
        workdir.mkdir(parents=True, exist_ok=True)
        # a batch job starts from the cluster account's login environment, not from the HEAppE server's: nothing of
        # the emulator's host process (tokens, passwords) reaches it. HEAppE then exports the job's variables.
        env = {k: v for k, v in os.environ.items() if k in _LOGIN_ENVIRONMENT or k.startswith("LC_")}
        env.update(HOME=str(self.root / "cluster" / job.cluster_user), USER=job.cluster_user, LOGNAME=job.cluster_user)
        env.update(task.environment)
        account = ["--account", job.cluster_user] if self.pass_account else []
        argv = [*self.worker_command, *account, *task.arguments]
        try:
            with contextlib.ExitStack() as stack:
                stdout = stack.enter_context((workdir / task.standard_output_file).open("ab"))
                stderr = stack.enter_context((workdir / task.standard_error_file).open("ab"))
                stdin: IO[bytes] | int = subprocess.DEVNULL
                if task.standard_input_file and (workdir / task.standard_input_file).is_file():
                    stdin = stack.enter_context((workdir / task.standard_input_file).open("rb"))
                popen = subprocess.Popen(  # noqa: S603 - argv list from the template, no shell
                    argv,
                    cwd=workdir,
                    env=env,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    start_new_session=True,
                    close_fds=True,
                    preexec_fn=die_with_parent_thread(),  # noqa: PLW1509 - one prctl call, see there
                )
        except OSError as exc:
            task.state = State.RUNNING
            self._end(task, State.FAILED, now, f"The task could not be started: {exc.strerror or exc}")
            logger.warning("job %d task %d could not start: %s", job.id, task.id, exc)
            return
        task.state = State.RUNNING
        self._procs[task.id] = _Process(popen, job.id)
        logger.info("job %d task %d started (pid %d)", job.id, task.id, popen.pid)

    def _watch(self, job: JobRecord, task: TaskRecord, now: float) -> bool:
        proc = self._procs.get(task.id)
        if proc is None:
            self._end(task, State.FAILED, now, "The task's process was lost.")
            return True
        code = proc.popen.poll()
        if code is None:
            if task.walltime_limit and task.start_time is not None and now - task.start_time > task.walltime_limit:
                if task.kill_reason is None:
                    self._signal(task, "walltime", now)
                elif proc.term_sent_at is not None and now - proc.term_sent_at > _KILL_GRACE_SECONDS:
                    _kill_group(proc.popen, signal.SIGKILL)
            return False
        del self._procs[task.id]
        if task.kill_reason == "walltime":
            message = f"The task exceeded its walltime limit of {task.walltime_limit} s and was killed (TIMEOUT)."
            self._end(task, State.FAILED, now, message)
        elif code == 0:
            self._end(task, State.FINISHED, now, None)
        else:
            what = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            tail = _tail(self.task_dir(job, task) / task.standard_error_file)
            message = f"The task's process {what}." + (f" Standard error ends with:\n{tail}" if tail else "")
            self._end(task, State.FAILED, now, message)
        logger.info("job %d task %d ended with state %d", job.id, task.id, task.state)
        return True

    def _end(self, task: TaskRecord, state: State, now: float, message: str | None) -> None:
        task.state = state
        task.end_time = now
        if task.start_time is not None:
            task.allocated_time = round(max(0.0, now - task.start_time), 3)
        if message is not None:
            task.error_message = message

    def _signal(self, task: TaskRecord, reason: str, now: float) -> None:
        task.kill_reason = reason
        proc = self._procs.get(task.id)
        if proc is not None and proc.popen.poll() is None:
            proc.term_sent_at = now
            _kill_group(proc.popen, signal.SIGTERM)

    def _kill_now(self, task_id: int) -> None:
        proc = self._procs.pop(task_id, None)
        if proc is not None:
            _kill_group(proc.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)

    def stop(self) -> None:
        """Kill every process; tasks still running end Failed (those that had just ended are recorded as such)."""
        now = time.time()
        for task_id, proc in list(self._procs.items()):
            job = self._jobs.get(proc.job_id)
            task = job.task(task_id) if job else None
            if job is None or task is None or task.state != State.RUNNING:
                self._kill_now(task_id)
                continue
            if proc.popen.poll() is None:
                self._kill_now(task_id)  # the task stays Running on record and is queued again on the next start
            else:
                self._watch(job, task, now)
            update_job_state(job)
            self.save(job)


_PR_SET_PDEATHSIG: Final = 1


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


def die_with_parent_thread() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a child process die (SIGKILL) when the thread that starts it ends; None where
    ``prctl(PR_SET_PDEATHSIG)`` does not exist (not Linux).

    The emulator starts its worker service and its tasks from the server thread's event loop, so they die when the
    emulator's server thread ends — after a normal shutdown that already stopped them, when the host process exits
    without stopping the emulator, or when it is killed with SIGKILL. A parent that died before the child's
    ``prctl`` took effect is caught by comparing ``getppid()`` with the parent's pid. The child only makes one libc
    call between fork and exec (libc resolved beforehand), so this is safe in a threaded parent.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)  # our parent is already gone

    return preexec


def _kill_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(popen.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(sig)


def _walk_files(base: Path) -> Iterator[Path]:
    if not base.is_dir():
        return
    for dirpath, _dirnames, filenames in os.walk(base):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _STDERR_TAIL_BYTES))
            return fh.read().decode("utf-8", errors="replace").strip()
    except OSError:
        return ""
