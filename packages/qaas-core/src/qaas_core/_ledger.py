"""The job ledger: a durable local record of every submission, shared by all processes of one user.

A job outlives the Python process that submitted it. For each client-generated ``submission_id`` the ledger keeps
both remote ids (HEAppE job and task, IQM job), where the job ran, its last known state, and the request and
result documents once they exist. Any process can therefore rebuild a job handle from any of its ids, a retried
submission is recognised by its id and request digest, and a result is downloaded only once.

Storage: one SQLite file, ``ledger.sqlite3`` in the qaas data directory (``$QAAS_DATA_DIR``, else the user data
directory), in WAL mode with a busy timeout so that several processes and threads can use it at the same time.
Every call opens its own short-lived connection, so one :class:`Ledger` may be shared between threads. The
documents live beside the database, gzip-compressed: ``<directory>/jobs/<submission_id>/request.json.gz`` and
``result.json.gz``. Directories are created 0700 and files 0600. The ledger never stores secrets: ``meta`` keys
that name a token, password or secret are refused.

The table layout is versioned with ``PRAGMA user_version``; each entry of ``_MIGRATIONS`` moves it one version up.
Paths inside the data directory are stored relative to it, so the directory can be moved or mounted elsewhere.
Requires SQLite 3.7.15 or newer (what Python 3.11 itself requires); no newer SQL feature is used.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import gzip
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from qaas_core._errors import ConfigurationError, QaasError, ValidationError
from qaas_core._files import private_dir, write_atomic
from qaas_core._phase import JobPhase
from qaas_core._process import machine_identity, pid_alive

__all__ = [
    "JOB_STATES",
    "LEDGER_FILENAME",
    "TERMINAL_STATES",
    "JobNotFoundError",
    "JobState",
    "Lease",
    "Ledger",
    "LedgerEntry",
    "default_ledger_path",
    "request_digest",
    "utcnow",
]

logger = logging.getLogger(__name__)

JobState = str  # a JobPhase value (the ledger stores phases as their strings)
JOB_STATES: Final[tuple[str, ...]] = tuple(phase.value for phase in JobPhase)
TERMINAL_STATES: Final = frozenset(phase.value for phase in JobPhase if phase.terminal)
TRANSPORTS: Final = ("heappe", "iqm")
LEDGER_FILENAME: Final = "ledger.sqlite3"

_APPLICATION_ID: Final = 0x71616173  # b"qaas": marks the SQLite file as a qaas ledger
_BUSY_TIMEOUT_S: Final = 30.0
_GZIP_MAGIC: Final = b"\x1f\x8b"
_INT64_MAX: Final = 2**63 - 1
_SUBMISSION_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")
_HEAPPE_ID: Final = re.compile(r"[0-9]{1,18}")
_SECRET_WORDS: Final = ("token", "password", "secret")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.")  # header.payload. of a JSON Web Token

# one tuple of statements per schema version; never edit a released entry, append a new one
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE jobs (
            submission_id      TEXT PRIMARY KEY NOT NULL,
            heappe_job_id      INTEGER,
            heappe_task_id     INTEGER,
            iqm_job_id         TEXT,
            profile            TEXT NOT NULL,
            project            TEXT NOT NULL,
            resource           TEXT NOT NULL,
            heappe_url         TEXT NOT NULL,
            state              TEXT NOT NULL,
            request_digest     TEXT NOT NULL,
            request_path       TEXT,
            result_path        TEXT,
            shots              INTEGER NOT NULL,
            circuits           INTEGER NOT NULL,
            calibration_set_id TEXT,
            created            TEXT NOT NULL,
            updated            TEXT NOT NULL,
            error              TEXT,
            meta               TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX jobs_heappe_job_id ON jobs (heappe_job_id)",
        "CREATE INDEX jobs_iqm_job_id ON jobs (iqm_job_id)",
        "CREATE INDEX jobs_created ON jobs (created)",
    ),
    (
        # who is working on a submission right now (a lease, renewed while the work goes on)
        """
        CREATE TABLE leases (
            submission_id TEXT PRIMARY KEY NOT NULL,
            owner         TEXT NOT NULL,
            host          TEXT NOT NULL,
            boot          TEXT NOT NULL,
            pid           INTEGER NOT NULL,
            until         REAL NOT NULL
        )
        """,
    ),
    (
        # which transport carries a job: heappe (LEXIS + HEAppE, the cluster side) or iqm (the IQM server directly)
        "ALTER TABLE jobs ADD COLUMN transport TEXT NOT NULL DEFAULT 'heappe'",
    ),
    (
        # what a job was estimated to take on the QPU, and what the server reported it took (seconds)
        "ALTER TABLE jobs ADD COLUMN estimated_qpu_seconds REAL",
        "ALTER TABLE jobs ADD COLUMN qpu_seconds REAL",
    ),
)


class JobNotFoundError(ValidationError, KeyError):
    """No job in the ledger has the given id (also a :class:`KeyError`).

    Attributes:
        key: The id that was looked up.
    """

    def __init__(self, message: str, *, key: str | int | None = None) -> None:
        super().__init__(message)
        self.key = key

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return self.message


def utcnow() -> datetime:
    """The current time, time-zone aware in UTC (what the ledger stamps records with)."""
    return datetime.now(UTC)


def _format_time(moment: datetime) -> str:
    # fixed width (microseconds, +00:00), so that text order is time order in SQL
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


def _check_submission_id(submission_id: object) -> str:
    if not isinstance(submission_id, str) or not _SUBMISSION_ID.fullmatch(submission_id):
        raise ValidationError(
            f"invalid submission id {submission_id!r}: use 1-128 characters from A-Z a-z 0-9 . _ - "
            "starting with a letter or digit (a uuid4 string fits)"
        )
    return submission_id


def _check_json(value: object, where: str) -> None:
    """Check that ``value`` is plain JSON and names no secret (the message never shows a value)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"meta key {key!r} in {where} is not a string")
            if any(word in key.lower() for word in _SECRET_WORDS):
                raise ValidationError(
                    f"meta key {key!r} in {where} names a secret; the ledger never stores tokens, passwords or secrets"
                )
            _check_json(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_json(item, f"{where}[{index}]")
    elif isinstance(value, str):
        if _JWT.search(value):
            raise ValidationError(f"the value of {where} looks like an access token; the ledger never stores tokens")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"the value of {where} is not a finite number, which JSON cannot hold")
    elif value is not None and not isinstance(value, int):
        raise ValidationError(f"the value of {where} is a {type(value).__name__}, not a JSON value")


def _normalise_meta(meta: object) -> dict[str, Any]:
    if not isinstance(meta, Mapping):
        raise ValidationError(f"meta must be a JSON object (a dict), not {type(meta).__name__}")
    try:
        _check_json(dict(meta), "meta")
        copy: dict[str, Any] = json.loads(_dump_meta(dict(meta)))
    except RecursionError as exc:
        raise ValidationError("meta is nested too deeply") from exc
    return copy


def _dump_meta(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _gunzip(data: bytes) -> bytes:
    """Decompress gzip data (raises ``OSError``, ``EOFError`` or ``zlib.error`` when damaged)."""
    return gzip.decompress(data)


def _split_gzip(data: bytes, what: str) -> tuple[bytes, bytes]:
    """Return ``(plain, compressed)`` for data given either plain or gzip-compressed (told by its magic bytes)."""
    if data[:2] != _GZIP_MAGIC:
        return data, gzip.compress(data, compresslevel=6, mtime=0)
    try:
        return _gunzip(data), data
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationError(f"the {what} starts like gzip but cannot be decompressed: {exc}") from exc


def request_digest(data: bytes) -> str:
    """The ``request_digest`` of a request: SHA-256 (hex) of its JSON bytes, decompressed first if gzip.

    Raises:
        ValidationError: ``data`` is not bytes, or starts like gzip but cannot be decompressed.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"request data must be bytes, not {type(data).__name__}")
    plain, _ = _split_gzip(bytes(data), "request")
    return hashlib.sha256(plain).hexdigest()


def default_ledger_path() -> Path:
    """The ledger file used when none is given: ``<data directory>/ledger.sqlite3``.

    The data directory is ``$QAAS_DATA_DIR`` if set and not empty, else the user data directory of ``qaas``.
    """
    from qaas_core._config import data_dir

    return data_dir() / LEDGER_FILENAME


_TEXT_FIELDS: Final = ("profile", "project", "resource", "heappe_url")
_OPTIONAL_TEXT_FIELDS: Final = ("iqm_job_id", "calibration_set_id", "error")
_COUNT_FIELDS: Final = ("shots", "circuits")
_OPTIONAL_ID_FIELDS: Final = ("heappe_job_id", "heappe_task_id")
_PATH_FIELDS: Final = ("request_path", "result_path")
_TIME_FIELDS: Final = ("created", "updated")
_SECONDS_FIELDS: Final = ("estimated_qpu_seconds", "qpu_seconds")


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One submission as the ledger records it (validated on construction; ``meta`` is copied).

    Attributes:
        submission_id: Client-generated id (a uuid4 string), the primary key.
        request_digest: SHA-256 (hex) of the request JSON bytes (:func:`request_digest`), or of the gzip bytes
            exactly as uploaded.
        profile: Name of the qaas profile used (e.g. ``lexis`` or ``emulator``).
        project: LEXIS project.
        resource: LEXIS resource (the quantum computer) the batch was prepared for.
        heappe_url: Base URL of the service that runs the job: the HEAppE instance (HEAppE job ids are per
            instance), or the IQM server on the ``iqm`` transport.
        shots: Shots per circuit.
        circuits: Number of circuits in the batch.
        state: Last known state, one of :data:`JOB_STATES`.
        heappe_job_id: HEAppE job id, once the job was created.
        heappe_task_id: HEAppE task id, once known.
        iqm_job_id: IQM job id, once the cluster side reported it.
        calibration_set_id: Calibration set the batch was compiled against.
        request_path: Absolute path of the stored request document, if stored.
        result_path: Absolute path of the stored result document, if downloaded.
        created: When the submission was recorded (UTC).
        updated: When the record last changed (UTC).
        error: Why the job failed, if it did (never a secret).
        meta: Extra JSON facts (framework, circuit names, ...); keys naming secrets are refused.
        transport: ``heappe`` or ``iqm`` (the IQM job id is then the durable remote id).
        estimated_qpu_seconds: QPU time the client estimated before sending (see :mod:`qaas_core._estimate`).
        qpu_seconds: QPU time the server reported (its timeline's execution steps), once known.
    """

    submission_id: str
    request_digest: str
    profile: str
    project: str
    resource: str
    heappe_url: str
    shots: int
    circuits: int
    state: JobState = JobPhase.PREPARING
    heappe_job_id: int | None = None
    heappe_task_id: int | None = None
    iqm_job_id: str | None = None
    calibration_set_id: str | None = None
    request_path: Path | None = None
    result_path: Path | None = None
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    transport: str = "heappe"
    estimated_qpu_seconds: float | None = None
    qpu_seconds: float | None = None

    def __post_init__(self) -> None:
        """Check every field.

        Raises:
            ValidationError: a field has the wrong type or an impossible value, or ``meta`` names a secret.
        """
        _check_submission_id(self.submission_id)
        if not isinstance(self.request_digest, str) or not _DIGEST.fullmatch(self.request_digest):
            raise ValidationError("request_digest must be a SHA-256 digest: 64 lower-case hex digits")
        if self.state not in JOB_STATES:
            raise ValidationError(f"unknown job state {self.state!r}; known: {', '.join(JOB_STATES)}")
        if self.transport not in TRANSPORTS:
            raise ValidationError(f"unknown transport {self.transport!r}; known: {', '.join(TRANSPORTS)}")
        for name in _TEXT_FIELDS + _OPTIONAL_TEXT_FIELDS:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_TEXT_FIELDS:
                continue
            if not isinstance(value, str):
                raise ValidationError(f"{name} must be a string, not {type(value).__name__}")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValidationError(f"{name} is not valid Unicode text: {exc.reason}") from exc
        for name in _COUNT_FIELDS + _OPTIONAL_ID_FIELDS:
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_ID_FIELDS:
                continue
            if type(value) is not int or not 0 <= value <= _INT64_MAX:
                raise ValidationError(f"{name} must be a non-negative integer below 2**63, got {value!r}")
        for name in _SECONDS_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ValidationError(f"{name} must be a non-negative number of seconds, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str | os.PathLike):
                raise ValidationError(f"{name} must be a path, not {type(value).__name__}")
            path = Path(value)
            if not path.is_absolute():
                raise ValidationError(f"{name} must be an absolute path, got {str(path)!r}")
            object.__setattr__(self, name, path)
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
                raise ValidationError(f"{name} must be a time-zone aware datetime, got {value!r}")
            object.__setattr__(self, name, value.astimezone(UTC))
        object.__setattr__(self, "meta", _normalise_meta(self.meta))

    def __hash__(self) -> int:  # meta is a dict; equal entries share their submission id
        return hash(self.submission_id)

    @property
    def is_terminal(self) -> bool:
        """Whether the job reached a final state (completed, failed, cancelled or deleted)."""
        return self.state in TERMINAL_STATES

    def to_row(self, *, base: Path | None = None) -> dict[str, str | int | None]:
        """The entry as ledger column values (paths inside ``base`` are written relative to it)."""
        row: dict[str, str | int | None] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name in _TIME_FIELDS:
                row[item.name] = _format_time(value)
            elif item.name == "meta":
                row[item.name] = _dump_meta(value)
            elif isinstance(value, Path):
                row[item.name] = (
                    value.relative_to(base).as_posix() if base and value.is_relative_to(base) else str(value)
                )
            else:
                row[item.name] = value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, base: Path | None = None) -> LedgerEntry:
        """Build an entry from ledger column values (relative paths are taken relative to ``base``).

        Raises:
            ValidationError: a column is missing or holds a value that does not parse.
        """
        try:
            values = {name: row[name] for name in _FIELD_NAMES}
        except KeyError as exc:
            raise ValidationError(f"ledger row has no column {exc}") from exc
        try:
            for name in _TIME_FIELDS:
                values[name] = _parse_time(values[name])
            meta = json.loads(values["meta"])
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"ledger row {values.get('submission_id')!r} does not parse: {exc}") from exc
        values["meta"] = meta
        for name in _PATH_FIELDS:
            if isinstance(values[name], str):
                path = Path(values[name])
                values[name] = base / path if base is not None and not path.is_absolute() else path
        return cls(**values)


_FIELD_NAMES: Final = tuple(item.name for item in dataclasses.fields(LedgerEntry))
_UPDATABLE: Final = frozenset(_FIELD_NAMES) - {"submission_id", "request_digest", "created", "updated"}
# column names come from LedgerEntry, never from input
_INSERT: Final = f"INSERT INTO jobs ({', '.join(_FIELD_NAMES)}) VALUES ({', '.join('?' * len(_FIELD_NAMES))})"  # noqa: S608
_UPDATE: Final = (
    f"UPDATE jobs SET {', '.join(f'{name} = ?' for name in _FIELD_NAMES if name != 'submission_id')} "  # noqa: S608
    "WHERE submission_id = ?"
)
_SET_PATH: Final = {
    "request": "UPDATE jobs SET request_path = ?, updated = max(updated, ?) WHERE submission_id = ?",
    "result": "UPDATE jobs SET result_path = ?, updated = max(updated, ?) WHERE submission_id = ?",
}
_TERMINAL_SQL: Final = ", ".join(f"'{state}'" for state in sorted(TERMINAL_STATES))


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


LEASE_SECONDS: Final = 30.0


class Lease:
    """A process's claim to work on one submission, kept alive by a heartbeat while it works.

    A submission in flight (being created, uploaded, submitted or resumed) is leased by the process doing it. Any
    other process that wants to finish it — ``recover()`` or ``retrieve()`` after a crash — waits while the lease is
    alive and takes it over only once it has expired (``ttl`` seconds without renewal; wall-clock time, so it holds
    across machines sharing a data directory) or its holder is provably dead (same machine and boot, no such pid).

    Use as a context manager (``with ledger.lease(sid):`` waits, then holds and renews until the block ends).
    """

    def __init__(self, ledger: Ledger, submission_id: str, ttl: float) -> None:
        import secrets

        self.ledger = ledger
        self.submission_id = submission_id
        self.ttl = ttl
        self.host, self.boot = machine_identity()
        self.owner = f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO leases (submission_id, owner, host, boot, pid, until) VALUES (?, ?, ?, ?, ?, ?)",
            (self.submission_id, self.owner, self.host, self.boot, os.getpid(), time.time() + self.ttl),
        )
        self._start()

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired, ours, or its holder is dead; True on success."""
        with self.ledger._transaction() as conn:
            row = conn.execute("SELECT * FROM leases WHERE submission_id = ?", (self.submission_id,)).fetchone()
            if row is not None and row["owner"] != self.owner and row["until"] > time.time():
                dead = row["host"] == self.host and row["boot"] == self.boot and bool(self.boot)
                if not (dead and not pid_alive(int(row["pid"]))):
                    return False
                logger.info("ledger: the holder of %s (pid %s) is gone; taking over", self.submission_id, row["pid"])
            self._write(conn)
        return True

    def acquire(self, timeout: float | None = None, poll: float = 0.2) -> None:
        """Wait until the lease is ours.

        Raises:
            JobTimeoutError: not free within ``timeout`` seconds.
        """
        end = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            if end is not None and time.monotonic() > end:
                from qaas_core._errors import JobTimeoutError

                raise JobTimeoutError(f"submission {self.submission_id} is still being worked on by another process")
            time.sleep(poll)

    def _start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name=f"lease-{self.submission_id}", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                with self.ledger._connect() as conn:
                    cursor = conn.execute(
                        "UPDATE leases SET until = ? WHERE submission_id = ? AND owner = ?",
                        (time.time() + self.ttl, self.submission_id, self.owner),
                    )
                if cursor.rowcount == 0:
                    logger.warning("ledger: the lease on %s was taken over", self.submission_id)
                    return
            except QaasError as exc:  # a busy or vanished ledger: try again at the next beat
                logger.warning("ledger: could not renew the lease on %s: %s", self.submission_id, exc)

    def release(self) -> None:
        """Stop renewing and give the lease up."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with contextlib.suppress(QaasError), self.ledger._connect() as conn:
            conn.execute("DELETE FROM leases WHERE submission_id = ? AND owner = ?", (self.submission_id, self.owner))

    def __enter__(self) -> Lease:
        if self._thread is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Ledger:
    """The durable local record of submissions (thread-safe; several processes may share one file).

    Args:
        path: The SQLite file. Default: ``$QAAS_DATA_DIR/ledger.sqlite3``, else ``ledger.sqlite3`` in the user
            data directory of ``qaas``. Its directory is created (0700) if missing, the file (0600) likewise.

    Raises:
        ConfigurationError: the directory cannot be created or written, the file is not a qaas ledger (or is
            damaged), or it was written by a newer qaas.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        chosen = default_ledger_path() if path is None else Path(path)
        self._path = chosen.expanduser().absolute()
        if self._path.is_dir():
            raise ConfigurationError(f"the ledger path {self._path} is a directory; give the path of a file in it")
        self._directory = self._path.parent
        self._prepare_files()
        self._migrate()

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def directory(self) -> Path:
        """The data directory: holds the SQLite file and ``jobs/<submission_id>/`` with the stored documents."""
        return self._directory

    def __repr__(self) -> str:
        return f"Ledger(path={str(self._path)!r})"

    # -- set-up ---------------------------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        where = "set QAAS_DATA_DIR or pass path= to use another place"
        try:
            private_dir(self._directory)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the qaas data directory {self._directory}: {exc.strerror or exc}; {where}"
            ) from exc
        if not os.access(self._directory, os.W_OK | os.X_OK):
            raise ConfigurationError(f"the qaas data directory {self._directory} is not writable; {where}")
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise ConfigurationError(f"cannot create the ledger {self._path}: {exc.strerror or exc}; {where}") from exc
        os.close(fd)
        os.chmod(self._path, 0o600)  # the WAL and shared-memory files inherit this mode from SQLite

    def _migrate(self) -> None:
        with self._connect() as conn:
            self._enable_wal(conn)
            if self._schema_state(conn) == (_APPLICATION_ID, len(_MIGRATIONS)):
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                application_id, version = self._schema_state(conn)
                if version == 0 and application_id == 0:
                    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
                    if tables:
                        raise self._foreign_file("it holds other tables")
                elif application_id != _APPLICATION_ID:
                    raise self._foreign_file(f"its application id is {application_id:#x}")
                if version > len(_MIGRATIONS):
                    raise ConfigurationError(
                        f"the ledger {self._path} has schema version {version}, newer than this qaas understands "
                        f"({len(_MIGRATIONS)}); upgrade qaas, or pass path= to use another ledger"
                    )
                for number in range(version, len(_MIGRATIONS)):
                    logger.debug("ledger %s: migrating to schema version %d", self._path, number + 1)
                    for statement in _MIGRATIONS[number]:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _schema_state(conn: sqlite3.Connection) -> tuple[int, int]:
        application_id = int(conn.execute("PRAGMA application_id").fetchone()["application_id"])
        version = int(conn.execute("PRAGMA user_version").fetchone()["user_version"])
        return application_id, version

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, kept by every later connection. Switching needs a moment
        # alone with the file, which a concurrent first use can deny, so try again within the busy timeout.
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode").fetchone()["journal_mode"]
                if mode == "wal":
                    return
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()["journal_mode"]
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            if mode != "wal":  # e.g. a file system that cannot share memory: work on, one writer at a time
                logger.warning("ledger %s: WAL mode unavailable, using journal mode %s", self._path, mode)
            return

    def _foreign_file(self, reason: str) -> ConfigurationError:
        return ConfigurationError(
            f"{self._path} is not a qaas ledger ({reason}); move it away or pass path= to use another file"
        )

    # -- connections ----------------------------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection (autocommit; explicit transactions); sqlite3 errors become qaas errors."""
        try:
            conn = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._database_error(exc) from exc
        try:
            conn.row_factory = _dict_row
            yield conn
        except sqlite3.IntegrityError as exc:
            raise ValidationError(f"the ledger refused the change: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._database_error(exc) from exc
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no lock upgrade, hence no deadlock)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.execute("COMMIT")

    def _database_error(self, exc: sqlite3.Error) -> ConfigurationError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ConfigurationError(
                f"the ledger {self._path} stayed locked by another process for over {_BUSY_TIMEOUT_S:g} s ({text}); "
                "try again, or look for a qaas process that hangs"
            )
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return ConfigurationError(
                f"the ledger {self._path} is damaged or not an SQLite database ({text}); move it away "
                f"(e.g. to {self._path.name}.broken) and qaas starts a new, empty ledger"
            )
        return ConfigurationError(
            f"the ledger {self._path} cannot be used ({text}); check that {self._directory} is writable, "
            "or set QAAS_DATA_DIR or pass path= to use another place"
        )

    def _entry(self, row: Mapping[str, Any]) -> LedgerEntry:
        try:
            return LedgerEntry.from_row(row, base=self._directory)
        except ValidationError as exc:
            raise ConfigurationError(
                f"the ledger {self._path} holds a damaged record ({exc.message}); forget that submission"
            ) from exc

    def _fetch(self, conn: sqlite3.Connection, submission_id: str) -> LedgerEntry:
        row = conn.execute("SELECT * FROM jobs WHERE submission_id = ?", (submission_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no submission {submission_id!r} in the ledger {self._path}", key=submission_id)
        return self._entry(row)

    def _job_dir(self, submission_id: str) -> Path:
        return self._directory / "jobs" / _check_submission_id(submission_id)

    # -- records --------------------------------------------------------------------------------------------------

    def record_submission(self, entry: LedgerEntry, *, lease: Lease | None = None) -> None:
        """Record a new submission (and, with ``lease``, hold it in the same step, so no other process can see it
        unattended).

        Recording the same ``submission_id`` again with the same ``request_digest`` does nothing, so a retried
        submission step is harmless.

        Raises:
            ValidationError: the id is already recorded for a different request, or ``entry`` is not an entry.
            ConfigurationError: the ledger cannot be written.
        """
        if not isinstance(entry, LedgerEntry):
            raise ValidationError(f"record_submission takes a LedgerEntry, not {type(entry).__name__}")
        row = entry.to_row(base=self._directory)
        with self._transaction() as conn:
            existing = conn.execute(
                "SELECT request_digest FROM jobs WHERE submission_id = ?", (entry.submission_id,)
            ).fetchone()
            if existing is not None:
                if existing["request_digest"] == entry.request_digest:
                    logger.debug("ledger: submission %s already recorded", entry.submission_id)
                    return
                raise ValidationError(
                    f"submission id {entry.submission_id!r} is already recorded for a different request; "
                    "never reuse a submission id"
                )
            conn.execute(_INSERT, [row[name] for name in _FIELD_NAMES])
            if lease is not None:
                lease._write(conn)

    # -- leases ---------------------------------------------------------------------------------------------------

    def lease(self, submission_id: str, *, ttl: float = LEASE_SECONDS) -> Lease:
        """A lease on ``submission_id`` for this process (not yet taken: use :meth:`Lease.acquire` or ``with``)."""
        return Lease(self, _check_submission_id(submission_id), ttl)

    def lease_holder(self, submission_id: str) -> dict[str, Any] | None:
        """The live lease on a submission (owner, host, pid, seconds left), or None."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM leases WHERE submission_id = ?", (submission_id,)).fetchone()
        if row is None or row["until"] <= time.time():
            return None
        return {"owner": row["owner"], "host": row["host"], "pid": row["pid"], "left": row["until"] - time.time()}

    def update(self, submission_id: str, /, **fields: Any) -> LedgerEntry:
        """Change fields of a recorded submission in one atomic step; ``updated`` is set to now.

        A job in a terminal state (completed, failed, cancelled, deleted) may only move on to ``deleted``; its
        other fields may still change (for example ``result_path``). ``meta`` is replaced as a whole.

        Args:
            submission_id: The submission to change.
            **fields: New values, by field name of :class:`LedgerEntry` (not ``submission_id``,
                ``request_digest``, ``created`` or ``updated``).

        Returns:
            The entry as stored.

        Raises:
            JobNotFoundError: no such submission.
            ValidationError: an unknown or read-only field, an invalid value, or a state change out of a
                terminal state.
            ConfigurationError: the ledger cannot be written.
        """
        _check_submission_id(submission_id)
        unknown = sorted(set(fields) - _UPDATABLE)
        if unknown:
            raise ValidationError(
                f"cannot update {', '.join(unknown)}; updatable fields: {', '.join(sorted(_UPDATABLE))}"
            )
        with self._transaction() as conn:
            current = self._fetch(conn, submission_id)
            state = fields.get("state", current.state)
            if current.is_terminal and state not in (current.state, "deleted"):
                raise ValidationError(
                    f"submission {submission_id!r} is {current.state}, a final state; it cannot become {state!r}"
                )
            changed = dataclasses.replace(current, **fields, updated=max(utcnow(), current.updated))
            row = changed.to_row(base=self._directory)
            values = [row[name] for name in _FIELD_NAMES if name != "submission_id"]
            conn.execute(_UPDATE, [*values, submission_id])
        return changed

    def get(self, key: str | int) -> LedgerEntry:
        """Find a submission by its submission id, HEAppE job id (an int or a string of digits) or IQM job id.

        Raises:
            JobNotFoundError: no submission has that id.
            ValidationError: ``key`` is neither a string nor an int, or a HEAppE job id is shared by jobs of
                different HEAppE instances (use the submission id then).
            ConfigurationError: the ledger cannot be read.
        """
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise ValidationError(f"a job id is a string or an int, not {type(key).__name__}")
        with self._connect() as conn:
            if isinstance(key, str):
                row = conn.execute("SELECT * FROM jobs WHERE submission_id = ?", (key,)).fetchone()
                if row is not None:
                    return self._entry(row)
            rows: builtins.list[dict[str, Any]] = []
            if isinstance(key, int) or _HEAPPE_ID.fullmatch(key):
                heappe_id = int(key)
                if 0 <= heappe_id <= _INT64_MAX:
                    query = "SELECT * FROM jobs WHERE heappe_job_id = ? ORDER BY created DESC"
                    rows = conn.execute(query, (heappe_id,)).fetchall()
            if not rows and isinstance(key, str):
                query = "SELECT * FROM jobs WHERE iqm_job_id = ? ORDER BY created DESC"
                rows = conn.execute(query, (key,)).fetchall()
        if not rows:
            raise JobNotFoundError(f"no job with id {key!r} in the ledger {self._path}", key=key)
        if len(rows) > 1:
            ids = ", ".join(row["submission_id"] for row in rows[:5])
            raise ValidationError(f"{len(rows)} recorded jobs have the id {key!r} ({ids}); use the submission id")
        return self._entry(rows[0])

    def list(
        self,
        *,
        state: str | Iterable[str] | None = None,
        resource: str | None = None,
        limit: int | None = 50,
    ) -> builtins.list[LedgerEntry]:
        """Recorded submissions, newest first.

        Args:
            state: Only jobs in this state or these states.
            resource: Only jobs for this LEXIS resource.
            limit: At most this many (None: all).

        Raises:
            ValidationError: an unknown state or a negative limit.
            ConfigurationError: the ledger cannot be read.
        """
        clauses: builtins.list[str] = []
        params: builtins.list[str | int] = []
        if state is not None:
            states = [state] if isinstance(state, str) else builtins.list(state)
            for name in states:
                if name not in JOB_STATES:
                    raise ValidationError(f"unknown job state {name!r}; known: {', '.join(JOB_STATES)}")
            if not states:
                return []
            clauses.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(states)
        if resource is not None:
            clauses.append("resource = ?")
            params.append(resource)
        query = "SELECT * FROM jobs"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            if type(limit) is not int or limit < 0:
                raise ValidationError(f"limit must be a non-negative integer or None, got {limit!r}")
            query += " LIMIT ?"
            params.append(limit)
        with self._connect() as conn:
            rows = conn.execute(query, params).fetchall()
        return [self._entry(row) for row in rows]

    def spent(self, resource: str) -> float:
        """QPU seconds the recorded jobs on ``resource`` have spent or hold: the reported time of each job that has
        one, the estimate of each job still on its way (failed, cancelled and deleted jobs without a reported time
        count nothing).

        Raises:
            ConfigurationError: the ledger cannot be read.
        """
        query = (
            "SELECT coalesce(sum(coalesce(qpu_seconds, CASE WHEN state IN ('failed', 'cancelled', 'deleted') "
            "THEN 0 ELSE estimated_qpu_seconds END, 0)), 0) AS spent FROM jobs WHERE resource = ?"
        )
        with self._connect() as conn:
            row = conn.execute(query, (resource,)).fetchone()
        return float(row["spent"])

    # -- documents ------------------------------------------------------------------------------------------------

    def store_request(self, submission_id: str, data: bytes) -> Path:
        """Store the request document (gzip-compressed unless it already is) and record its path.

        Returns:
            The stored file, ``<directory>/jobs/<submission_id>/request.json.gz`` (mode 0600).

        Raises:
            JobNotFoundError: no such submission.
            ValidationError: ``data`` is not bytes, is damaged gzip, or matches the recorded digest neither as
                JSON (see :func:`request_digest`) nor as the gzip bytes given.
            ConfigurationError: the file or the ledger cannot be written.
        """
        return self._store(submission_id, data, "request")

    def store_result(self, submission_id: str, data: bytes) -> Path:
        """Store the result document (gzip-compressed unless it already is) and record its path.

        Returns:
            The stored file, ``<directory>/jobs/<submission_id>/result.json.gz`` (mode 0600).

        Raises:
            JobNotFoundError: no such submission.
            ValidationError: ``data`` is not bytes or is damaged gzip.
            ConfigurationError: the file or the ledger cannot be written.
        """
        return self._store(submission_id, data, "result")

    def load_request(self, submission_id: str) -> bytes | None:
        """The stored request document (decompressed JSON bytes), or None if none is stored.

        Raises:
            JobNotFoundError: no such submission.
            ConfigurationError: the stored file cannot be read or is damaged.
        """
        return self._load(submission_id, "request")

    def load_result(self, submission_id: str) -> bytes | None:
        """The stored result document (decompressed JSON bytes), or None if it was not downloaded yet.

        Raises:
            JobNotFoundError: no such submission.
            ConfigurationError: the stored file cannot be read or is damaged.
        """
        return self._load(submission_id, "result")

    def _store(self, submission_id: str, data: bytes, kind: Literal["request", "result"]) -> Path:
        job_dir = self._job_dir(submission_id)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValidationError(f"the {kind} must be bytes, not {type(data).__name__}")
        plain, packed = _split_gzip(bytes(data), kind)
        with self._connect() as conn:
            entry = self._fetch(conn, submission_id)
        if kind == "request" and entry.request_digest not in {
            hashlib.sha256(plain).hexdigest(),
            hashlib.sha256(packed).hexdigest(),
        }:
            raise ValidationError(f"the request does not match the digest recorded for submission {submission_id!r}")
        target = job_dir / f"{kind}.json.gz"
        try:
            private_dir(job_dir.parent)
            private_dir(job_dir)
            write_atomic(target, packed)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {target}: {exc.strerror or exc}") from exc
        try:
            with self._transaction() as conn:
                self._fetch(conn, submission_id)  # forgotten meanwhile? then do not leave the file behind
                relative = target.relative_to(self._directory).as_posix()
                conn.execute(_SET_PATH[kind], (relative, _format_time(utcnow()), submission_id))
        except JobNotFoundError:
            target.unlink(missing_ok=True)
            raise
        return target

    def _load(self, submission_id: str, kind: Literal["request", "result"]) -> bytes | None:
        _check_submission_id(submission_id)
        with self._connect() as conn:
            entry = self._fetch(conn, submission_id)
        path = entry.request_path if kind == "request" else entry.result_path
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            logger.warning("ledger: the stored %s of %s is missing (%s)", kind, submission_id, path)
            return None
        except OSError as exc:
            raise ConfigurationError(f"cannot read the stored {kind} {path}: {exc.strerror or exc}") from exc
        if data[:2] != _GZIP_MAGIC:
            return data
        try:
            return _gunzip(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ConfigurationError(
                f"the stored {kind} {path} is damaged ({exc}); delete it"
                + (" and download the result again" if kind == "result" else "")
            ) from exc

    # -- clean-up -------------------------------------------------------------------------------------------------

    def forget(self, submission_id: str) -> None:
        """Delete a submission's record and its stored documents (files outside ``jobs/`` are left alone).

        Raises:
            JobNotFoundError: no such submission.
            ConfigurationError: the ledger cannot be written.
        """
        job_dir = self._job_dir(submission_id)
        with self._transaction() as conn:
            if conn.execute("DELETE FROM jobs WHERE submission_id = ?", (submission_id,)).rowcount == 0:
                raise JobNotFoundError(f"no submission {submission_id!r} in the ledger {self._path}", key=submission_id)
        self._remove_dir(job_dir)

    def prune(self, older_than: timedelta) -> int:
        """Forget jobs in a terminal state whose record has not changed for ``older_than``.

        Returns:
            How many submissions were forgotten.

        Raises:
            ValidationError: ``older_than`` is not a non-negative timedelta.
            ConfigurationError: the ledger cannot be written.
        """
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise ValidationError(f"older_than must be a non-negative timedelta, got {older_than!r}")
        try:
            cutoff = _format_time(utcnow() - older_than)
        except OverflowError:
            return 0  # nothing is that old
        where = f"WHERE state IN ({_TERMINAL_SQL}) AND updated < ?"
        with self._transaction() as conn:
            rows = conn.execute(f"SELECT submission_id FROM jobs {where}", (cutoff,)).fetchall()  # noqa: S608
            conn.execute(f"DELETE FROM jobs {where}", (cutoff,))  # noqa: S608
        for row in rows:
            if _SUBMISSION_ID.fullmatch(row["submission_id"]):
                self._remove_dir(self._job_dir(row["submission_id"]))
        return len(rows)

    @staticmethod
    def _remove_dir(job_dir: Path) -> None:
        try:
            shutil.rmtree(job_dir)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("ledger: could not remove %s: %s", job_dir, exc)
