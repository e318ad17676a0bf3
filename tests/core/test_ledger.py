"""The job ledger: records, look-ups, state rules, stored documents, clean-up, damage, and concurrent use."""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qaas_core import ConfigurationError, QaasError, ValidationError
from qaas_core._ledger import (
    JOB_STATES,
    TERMINAL_STATES,
    JobNotFoundError,
    Ledger,
    LedgerEntry,
    default_ledger_path,
    request_digest,
)

REPO = Path(__file__).resolve().parents[2]
REQUEST = b'{"schema":"qaas.run/1","submission_id":"x","shots":10,"circuits":[]}'
RESULT = b'{"schema":"qaas.result/1","status":"completed","circuits":[]}' * 50
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def entry(**overrides: Any) -> LedgerEntry:
    values: dict[str, Any] = {
        "submission_id": str(uuid.uuid4()),
        "request_digest": request_digest(REQUEST),
        "profile": "emulator",
        "project": "proj",
        "resource": "garnet",
        "heappe_url": "http://127.0.0.1:9000/heappe",
        "shots": 100,
        "circuits": 2,
        "meta": {"framework": "qiskit", "names": ["bell", "ghz"]},
    }
    values.update(overrides)
    return LedgerEntry(**values)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "data" / "ledger.sqlite3")


# -- location, permissions, set-up -----------------------------------------------------------------------------------


def test_env_data_dir_and_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAAS_DATA_DIR", str(tmp_path / "qd"))
    ledger = Ledger()
    assert ledger.path == tmp_path / "qd" / "ledger.sqlite3"
    assert ledger.directory == tmp_path / "qd"
    assert mode(ledger.directory) == 0o700
    assert mode(ledger.path) == 0o600
    with raw(ledger.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    assert Ledger(ledger.path).path == ledger.path  # opening again migrates nothing


def test_default_path_is_the_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_data_dir

    monkeypatch.delenv("QAAS_DATA_DIR", raising=False)
    assert default_ledger_path() == Path(user_data_dir("qaas", appauthor=False)) / "ledger.sqlite3"


def test_a_version_3_ledger_gains_the_qpu_time_columns(tmp_path: Path) -> None:
    """A ledger written before QPU times were recorded opens with its jobs intact and both times unknown."""
    path = tmp_path / "old" / "ledger.sqlite3"
    old = Ledger(path)
    kept = entry(qpu_seconds=None)
    old.record_submission(kept)
    with raw(path) as conn:  # back to the version 3 layout, as an older qaas left it
        conn.execute("ALTER TABLE jobs DROP COLUMN estimated_qpu_seconds")
        conn.execute("ALTER TABLE jobs DROP COLUMN qpu_seconds")
        conn.execute("PRAGMA user_version = 3")
    reopened = Ledger(path)
    got = reopened.get(kept.submission_id)
    assert got.submission_id == kept.submission_id and got.meta == kept.meta
    assert got.estimated_qpu_seconds is None and got.qpu_seconds is None
    reopened.update(kept.submission_id, estimated_qpu_seconds=1.5, qpu_seconds=2)
    assert reopened.get(kept.submission_id).qpu_seconds == 2.0


def test_spent_counts_reported_times_and_the_estimates_of_jobs_on_their_way(ledger: Ledger) -> None:
    rows = [
        ("completed", 2.0, 2.5),  # reported: 2.5
        ("completed", 1.0, None),  # completed but the server reported nothing: its estimate
        ("running", 4.0, None),  # on its way: its estimate is held
        ("failed", 8.0, None),  # failed before the QPU: nothing
        ("failed", 8.0, 0.5),  # failed after the QPU ran: what was reported
        ("cancelled", 16.0, None),
    ]
    for state, estimated, reported in rows:
        ledger.record_submission(entry(state=state, estimated_qpu_seconds=estimated, qpu_seconds=reported))
    ledger.record_submission(entry(resource="elsewhere", estimated_qpu_seconds=100.0))
    assert ledger.spent("garnet") == pytest.approx(2.5 + 1.0 + 4.0 + 0.5)
    assert ledger.spent("elsewhere") == 100.0 and ledger.spent("unknown") == 0.0


def test_import_does_not_load_platformdirs() -> None:
    code = "import sys, qaas_core._ledger; assert 'platformdirs' not in sys.modules, 'platformdirs imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all\n" * 40, b"SQLite format 3\x00" + b"\xff" * 4000],
    ids=["text", "bad-header"],
)
def test_damaged_file_is_a_configuration_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="move it away") as info:
        Ledger(path)
    assert str(path) in str(info.value)
    assert not isinstance(info.value.__cause__, ConfigurationError)


def test_damage_after_opening_is_a_configuration_error(ledger: Ledger) -> None:
    ledger.record_submission(first := entry())
    ledger.path.write_bytes(b"garbage" * 1000)
    with pytest.raises(ConfigurationError, match="move it away"):
        ledger.get(first.submission_id)


def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with raw(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    with pytest.raises(ConfigurationError, match="not a qaas ledger"):
        Ledger(path)


def test_newer_schema_is_refused(ledger: Ledger) -> None:
    with raw(ledger.path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigurationError, match="newer than this qaas"):
        Ledger(ledger.path)


def test_unusable_locations(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="cannot create the qaas data directory"):
        Ledger(blocker / "sub" / "ledger.sqlite3")
    with pytest.raises(ConfigurationError, match="is a directory"):
        Ledger(tmp_path)


# -- records and look-ups --------------------------------------------------------------------------------------------


def test_get_by_every_kind_of_id(ledger: Ledger) -> None:
    first = entry(heappe_job_id=42, heappe_task_id=7, iqm_job_id="0193c2a4-iqm")
    ledger.record_submission(first)
    ledger.record_submission(entry(heappe_job_id=43))
    assert ledger.get(first.submission_id) == first
    assert ledger.get(42) == first
    assert ledger.get("42") == first
    assert ledger.get("0193c2a4-iqm") == first


def test_unknown_ids(ledger: Ledger) -> None:
    ledger.record_submission(entry(heappe_job_id=1))
    for key in ("nope", 2, "2", -1, 2**70, "99999999999999999999"):
        with pytest.raises(JobNotFoundError) as info:
            ledger.get(key)
        assert info.value.key == key
    error = info.value
    assert isinstance(error, ValidationError)
    assert isinstance(error, KeyError)
    assert str(error).startswith("no job with id")  # not quoted like a plain KeyError
    with pytest.raises(ValidationError, match="string or an int"):
        ledger.get(True)
    with pytest.raises(JobNotFoundError):
        ledger.update(str(uuid.uuid4()), state="queued")
    with pytest.raises(JobNotFoundError):
        ledger.forget(str(uuid.uuid4()))


def test_heappe_id_shared_by_two_instances_is_ambiguous(ledger: Ledger) -> None:
    a = entry(heappe_job_id=5, heappe_url="http://127.0.0.1:1/")
    b = entry(heappe_job_id=5, heappe_url="http://127.0.0.1:2/")
    ledger.record_submission(a)
    ledger.record_submission(b)
    with pytest.raises(ValidationError, match="use the submission id") as info:
        ledger.get(5)
    assert not isinstance(info.value, JobNotFoundError)
    assert ledger.get(a.submission_id) == a


def test_record_is_idempotent_for_the_same_request(ledger: Ledger) -> None:
    first = entry()
    ledger.record_submission(first)
    ledger.record_submission(dataclasses.replace(first, state="queued", shots=5))  # a retry: no-op
    assert ledger.get(first.submission_id) == first
    other = dataclasses.replace(first, request_digest=request_digest(b"{}"))
    with pytest.raises(ValidationError, match="never reuse a submission id"):
        ledger.record_submission(other)
    with pytest.raises(ValidationError, match="takes a LedgerEntry"):
        ledger.record_submission({"submission_id": "x"})  # type: ignore[arg-type]


def test_update_sets_fields_and_timestamp(ledger: Ledger) -> None:
    first = entry(created=T0, updated=T0)
    ledger.record_submission(first)
    before = datetime.now(UTC)
    changed = ledger.update(first.submission_id, state="queued", heappe_job_id=9, meta={"framework": "cirq"})
    assert changed == ledger.get(9)
    assert (changed.state, changed.heappe_job_id, changed.meta) == ("queued", 9, {"framework": "cirq"})
    assert changed.created == T0
    assert changed.updated >= before
    again = ledger.update(first.submission_id, error=None)
    assert again.updated >= changed.updated


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"colour": "red"}, "cannot update colour"),
        ({"submission_id": "other"}, "cannot update submission_id"),
        ({"created": T0}, "cannot update created"),
        ({"request_digest": "0" * 64}, "cannot update request_digest"),
        ({"state": "exploded"}, "unknown job state"),
        ({"shots": -1}, "shots must be"),
        ({"heappe_job_id": True}, "heappe_job_id must be"),
        ({"result_path": "relative/result.json"}, "absolute path"),
    ],
)
def test_update_rejects_bad_fields_atomically(ledger: Ledger, fields: dict[str, Any], message: str) -> None:
    first = entry()
    ledger.record_submission(first)
    with pytest.raises(ValidationError, match=message):
        ledger.update(first.submission_id, **{"state": "running", **fields})
    assert ledger.get(first.submission_id) == first


@pytest.mark.parametrize("final", sorted(TERMINAL_STATES))
def test_terminal_states_do_not_go_back(ledger: Ledger, final: str) -> None:
    first = entry(state="running")
    ledger.record_submission(first)
    ledger.update(first.submission_id, state=final)
    assert ledger.get(first.submission_id).is_terminal
    for state in JOB_STATES:
        if state not in (final, "deleted"):
            with pytest.raises(ValidationError, match="final state"):
                ledger.update(first.submission_id, state=state)
    ledger.update(first.submission_id, state=final, error="kept")  # same state, other fields: fine
    assert ledger.update(first.submission_id, state="deleted").state == "deleted"
    assert ledger.get(first.submission_id).error == "kept"


def test_list_filters_and_order(ledger: Ledger) -> None:
    states = ["queued", "running", "completed", "failed", "queued"]
    made = [
        entry(state=state, resource="deneb" if i % 2 else "garnet", created=T0 + timedelta(minutes=i))
        for i, state in enumerate(states)
    ]
    for item in reversed(made):
        ledger.record_submission(item)
    newest_first = made[::-1]
    assert ledger.list() == newest_first
    assert ledger.list(limit=2) == newest_first[:2]
    assert ledger.list(limit=None) == newest_first
    assert ledger.list(limit=0) == []
    assert ledger.list(state="queued") == [made[4], made[0]]
    assert ledger.list(state=("completed", "failed")) == [made[3], made[2]]
    assert ledger.list(state=iter(["running"])) == [made[1]]
    assert ledger.list(state=[]) == []
    assert ledger.list(resource="deneb") == [made[3], made[1]]
    assert ledger.list(state="queued", resource="garnet") == [made[4], made[0]]
    with pytest.raises(ValidationError, match="unknown job state"):
        ledger.list(state="done")
    with pytest.raises(ValidationError, match="limit"):
        ledger.list(limit=-1)


# -- validation and secrets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"submission_id": "../escape"}, "invalid submission id"),
        ({"submission_id": ""}, "invalid submission id"),
        ({"submission_id": "a" * 129}, "invalid submission id"),
        ({"request_digest": "ABC"}, "SHA-256"),
        ({"created": datetime(2026, 1, 1)}, "time-zone aware"),
        ({"shots": 1.5}, "shots must be"),
        ({"circuits": 2**63}, "circuits must be"),
        ({"profile": None}, "profile must be a string"),
        ({"error": "\ud800"}, "not valid Unicode"),
        ({"meta": ["not", "a", "dict"]}, "JSON object"),
        ({"meta": {"x": float("nan")}}, "finite"),
        ({"meta": {"x": object()}}, "not a JSON value"),
        ({"meta": {1: "int key"}}, "not a string"),
        ({"qpu_seconds": -1.0}, "non-negative number of seconds"),
        ({"estimated_qpu_seconds": float("inf")}, "non-negative number of seconds"),
        ({"qpu_seconds": True}, "non-negative number of seconds"),
        ({"estimated_qpu_seconds": "3"}, "non-negative number of seconds"),
    ],
)
def test_entry_validation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        entry(**overrides)


def test_entry_normalises_times_paths_and_meta() -> None:
    cet = timezone(timedelta(hours=1))
    item = entry(created=datetime(2026, 1, 1, 13, 0, tzinfo=cet), result_path="/tmp/r.json", meta={"t": (1, 2)})
    assert item.created == T0
    assert item.created.tzinfo is UTC
    assert item.result_path == Path("/tmp/r.json")
    assert item.meta == {"t": [1, 2]}
    assert hash(item) == hash(dataclasses.replace(item))
    assert not item.is_terminal


@pytest.mark.parametrize(
    "meta",
    [
        {"access_token": "abc"},
        {"lexis": {"Password": "hunter2"}},
        {"items": [{"client_secret": "s"}]},
        {"note": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"},
    ],
)
def test_secret_guard(ledger: Ledger, meta: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="never stores") as info:
        entry(meta=meta)
    assert "hunter2" not in str(info.value)
    assert "c2lnbmF0dXJl" not in str(info.value)
    first = entry()
    ledger.record_submission(first)
    with pytest.raises(ValidationError, match="never stores"):
        ledger.update(first.submission_id, meta=meta)
    assert ledger.get(first.submission_id).meta == first.meta


# -- stored documents ------------------------------------------------------------------------------------------------


def test_store_and_load_documents(ledger: Ledger) -> None:
    first = entry()
    ledger.record_submission(first)
    sid = first.submission_id
    assert ledger.load_request(sid) is None
    assert ledger.load_result(sid) is None

    request_file = ledger.store_request(sid, REQUEST)
    result_file = ledger.store_result(sid, RESULT)
    assert request_file == ledger.directory / "jobs" / sid / "request.json.gz"
    assert result_file == ledger.directory / "jobs" / sid / "result.json.gz"
    for path in (request_file, result_file):
        assert mode(path) == 0o600
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert mode(ledger.directory / "jobs") == 0o700
    assert mode(ledger.directory / "jobs" / sid) == 0o700
    assert len(result_file.read_bytes()) < len(RESULT)
    assert ledger.load_request(sid) == REQUEST
    assert ledger.load_result(sid) == RESULT
    stored = ledger.get(sid)
    assert (stored.request_path, stored.result_path) == (request_file, result_file)
    assert stored.updated >= first.updated
    assert not list(result_file.parent.glob(".*"))  # no temporary files left

    packed = gzip.compress(b'{"again":true}')
    ledger.store_result(sid, packed)
    assert result_file.read_bytes() == packed  # already gzip: stored as given
    assert ledger.load_result(sid) == b'{"again":true}'


def test_documents_follow_a_moved_data_directory(ledger: Ledger, tmp_path: Path) -> None:
    first = entry()
    ledger.record_submission(first)
    ledger.store_result(first.submission_id, RESULT)
    moved = tmp_path / "moved"
    ledger.directory.rename(moved)
    again = Ledger(moved / "ledger.sqlite3")
    assert again.load_result(first.submission_id) == RESULT
    assert again.get(first.submission_id).result_path == moved / "jobs" / first.submission_id / "result.json.gz"


def test_store_checks(ledger: Ledger) -> None:
    first = entry()
    ledger.record_submission(first)
    sid = first.submission_id
    with pytest.raises(ValidationError, match="does not match the digest"):
        ledger.store_request(sid, b'{"other":1}')
    ledger.store_request(sid, gzip.compress(REQUEST))  # the digest is of the JSON bytes, compressed or not
    assert request_digest(gzip.compress(REQUEST)) == request_digest(REQUEST)
    with pytest.raises(ValidationError, match="cannot be decompressed"):
        ledger.store_result(sid, b"\x1f\x8b" + b"not gzip")
    with pytest.raises(ValidationError, match="must be bytes"):
        ledger.store_result(sid, "text")  # type: ignore[arg-type]
    with pytest.raises(JobNotFoundError):
        ledger.store_result(str(uuid.uuid4()), RESULT)
    with pytest.raises(ValidationError, match="invalid submission id"):
        ledger.store_result("../../etc", RESULT)
    assert ledger.load_result(sid) is None


def test_digest_of_the_uploaded_gzip_bytes_is_accepted(ledger: Ledger) -> None:
    packed = gzip.compress(REQUEST, mtime=0)
    first = entry(request_digest=hashlib.sha256(packed).hexdigest())
    ledger.record_submission(first)
    assert ledger.store_request(first.submission_id, packed).read_bytes() == packed
    assert ledger.load_request(first.submission_id) == REQUEST
    with pytest.raises(ValidationError, match="does not match the digest"):
        ledger.store_request(first.submission_id, gzip.compress(b"{}"))


def test_missing_or_damaged_stored_files(ledger: Ledger) -> None:
    first = entry()
    ledger.record_submission(first)
    path = ledger.store_result(first.submission_id, RESULT)
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ConfigurationError, match="damaged"):
        ledger.load_result(first.submission_id)
    path.unlink()
    assert ledger.load_result(first.submission_id) is None
    outside = ledger.directory / "plain.json"
    outside.write_bytes(b"{}")
    ledger.update(first.submission_id, result_path=outside)
    assert ledger.load_result(first.submission_id) == b"{}"


# -- clean-up --------------------------------------------------------------------------------------------------------


def test_forget_removes_row_and_files(ledger: Ledger) -> None:
    first, second = entry(), entry()
    for item in (first, second):
        ledger.record_submission(item)
        ledger.store_result(item.submission_id, RESULT)
    outside = ledger.directory / "keep.json"
    outside.write_bytes(b"{}")
    ledger.update(second.submission_id, request_path=outside)
    ledger.forget(first.submission_id)
    ledger.forget(second.submission_id)
    assert ledger.list() == []
    assert not (ledger.directory / "jobs" / first.submission_id).exists()
    assert outside.exists()  # files outside jobs/ are not the ledger's to delete


def test_prune_forgets_old_terminal_jobs(ledger: Ledger) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    old_done = entry(state="completed", created=old, updated=old)
    old_failed = entry(state="failed", created=old, updated=old)
    old_running = entry(state="running", created=old, updated=old)
    new_done = entry(state="completed")
    for item in (old_done, old_failed, old_running, new_done):
        ledger.record_submission(item)
    assert ledger.prune(timedelta(days=30)) == 2
    assert {e.submission_id for e in ledger.list()} == {old_running.submission_id, new_done.submission_id}
    assert ledger.prune(timedelta.max) == 0
    ledger.store_result(new_done.submission_id, RESULT)  # a change: counts from now
    assert ledger.prune(timedelta(days=1)) == 0
    assert ledger.prune(timedelta(0)) == 1
    assert not (ledger.directory / "jobs" / new_done.submission_id).exists()
    assert ledger.list() == [old_running]
    with pytest.raises(ValidationError, match="non-negative"):
        ledger.prune(timedelta(days=-1))


# -- concurrency -----------------------------------------------------------------------------------------------------

INSERTER = textwrap.dedent(
    """
    import sys, time, pathlib
    from qaas_core._ledger import Ledger, LedgerEntry

    path, prefix, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    (go.parent / f"ready-{prefix}").touch()
    while not go.exists():
        time.sleep(0.002)
    ledger = Ledger(path)  # first use of a fresh file, racing the other processes
    for i in range(100):
        ledger.record_submission(LedgerEntry(
            submission_id=f"{prefix}-{i}", request_digest="0" * 64, profile="p", project="pr", resource=prefix,
            heappe_url="http://127.0.0.1/", shots=1, circuits=1, heappe_job_id=1000 * (prefix == "b") + i,
        ))
        ledger.update(f"{prefix}-{i}", state="queued")
    """
)


def test_processes_and_threads_share_one_ledger(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "ledger.sqlite3"
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", INSERTER, str(path), prefix, str(go)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for prefix in ("a", "b")
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{prefix}").exists() for prefix in ("a", "b")):
        assert time.monotonic() < deadline, "the inserting processes did not start"
        time.sleep(0.002)
    go.touch()  # from here on three processes open, migrate and write the same fresh file
    ledger = Ledger(path)
    mine = [entry(state="submitted") for _ in range(8)]
    for item in mine:
        ledger.record_submission(item)

    def work(i: int) -> str:
        item = mine[i % len(mine)]
        ledger.update(item.submission_id, state="running", meta={"poll": i})
        return ledger.get(item.submission_id).state

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(work, range(200))) == {"running"}
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
        assert b"locked" not in err
    assert len(ledger.list(limit=None)) == 208
    assert len(ledger.list(state="queued", limit=None)) == 200
    assert {e.submission_id for e in ledger.list(resource="b", limit=None)} == {f"b-{i}" for i in range(100)}
    assert ledger.get(1099).submission_id == "b-99"


# -- round trip ------------------------------------------------------------------------------------------------------

SECRET_WORDS = ("token", "password", "secret")
keys = st.text(max_size=8).filter(lambda k: not any(w in k.lower() for w in SECRET_WORDS))
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12).filter(lambda s: "eyJ" not in s)
)
json_values = st.recursive(
    leaves, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=3), max_leaves=8
)
names = st.text(st.characters(codec="utf-8"), max_size=16)
ids = st.none() | st.integers(0, 2**63 - 1)
parts = st.lists(st.text("abcXYZ019._-", min_size=1, max_size=6).filter(lambda p: p not in (".", "..")), max_size=3)


@st.composite
def entries(draw: st.DrawFn) -> tuple[LedgerEntry, bool, bool]:
    moment = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]))
    item = LedgerEntry(
        submission_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)),
        request_digest=draw(st.binary(max_size=32)).hex().ljust(64, "0")[:64],
        profile=draw(names),
        project=draw(names),
        resource=draw(names),
        heappe_url=draw(names),
        shots=draw(st.integers(0, 2**63 - 1)),
        circuits=draw(st.integers(0, 10_000)),
        state=draw(st.sampled_from(JOB_STATES)),
        heappe_job_id=draw(ids),
        heappe_task_id=draw(ids),
        iqm_job_id=draw(st.none() | names),
        calibration_set_id=draw(st.none() | names),
        created=draw(moment),
        updated=draw(moment),
        error=draw(st.none() | names),
        meta=draw(st.dictionaries(keys, json_values, max_size=4)),
    )
    inside = draw(st.none() | parts), draw(st.none() | parts)
    return item, inside[0] is not None, inside[1] is not None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=entries(), request_parts=parts, result_parts=parts)
def test_entries_round_trip_through_the_ledger(
    ledger: Ledger, drawn: tuple[LedgerEntry, bool, bool], request_parts: list[str], result_parts: list[str]
) -> None:
    item, request_inside, result_inside = drawn
    item = dataclasses.replace(
        item,
        request_path=(ledger.directory if request_inside else Path("/elsewhere")).joinpath(*request_parts),
        result_path=(ledger.directory if result_inside else Path("/")).joinpath(*result_parts),
    )
    ledger.record_submission(item)
    try:
        assert ledger.get(item.submission_id) == item
        assert LedgerEntry.from_row(item.to_row(base=ledger.directory), base=ledger.directory) == item
        assert LedgerEntry.from_row(item.to_row()) == item
        assert item in ledger.list(limit=None)
    finally:
        ledger.forget(item.submission_id)


def test_errors_are_qaas_errors() -> None:
    assert issubclass(JobNotFoundError, QaasError)


# -- leases: one process at a time works on a submission in flight ----------------------------------------------

LEASE_HOLDER = """
import sys, time
from qaas_core._ledger import Ledger
lease = Ledger(sys.argv[1]).lease(sys.argv[2], ttl=float(sys.argv[3]))
lease.acquire()
print("holding", flush=True)
time.sleep(float(sys.argv[4]))
lease.release()
print("released", flush=True)
"""


def _holder(path: Path, sid: str, ttl: float, hold: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", LEASE_HOLDER, str(path), sid, str(ttl), str(hold)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_live_lease_is_waited_for_and_renewed_beyond_its_ttl(ledger: Ledger) -> None:
    record = entry()
    ledger.record_submission(record)
    with _holder(ledger.path, record.submission_id, ttl=0.6, hold=2.0) as proc:
        started = time.monotonic()
        assert ledger.lease(record.submission_id, ttl=0.6).try_acquire() is False
        holder = ledger.lease_holder(record.submission_id)
        assert holder is not None and holder["pid"] == proc.pid
        with ledger.lease(record.submission_id, ttl=0.6):  # waits: the holder renews its lease while it works
            waited = time.monotonic() - started
            assert proc.stdout is not None and proc.stdout.readline().strip() == "released"
        proc.wait(10)
    assert waited > 1.5
    assert ledger.lease_holder(record.submission_id) is None


def test_the_lease_of_a_killed_process_is_taken_over_at_once(ledger: Ledger) -> None:
    record = entry()
    ledger.record_submission(record)
    with _holder(ledger.path, record.submission_id, ttl=3600, hold=3600) as proc:
        proc.kill()
        proc.wait(10)
        lease = ledger.lease(record.submission_id)
        assert lease.try_acquire() is True  # same machine, dead pid: no need to wait an hour
        lease.release()


def test_an_expired_lease_of_another_machine_is_taken_over(ledger: Ledger) -> None:
    record = entry()
    lease = ledger.lease(record.submission_id, ttl=0.5)
    ledger.record_submission(record, lease=lease)  # recorded and held in one step
    lease._stop.set()  # it stops renewing, as a crashed machine would
    with raw(ledger.path) as conn:
        conn.execute("UPDATE leases SET host = 'other-node', pid = 1")
        conn.commit()
    other = ledger.lease(record.submission_id, ttl=0.5)
    assert other.try_acquire() is False
    time.sleep(0.6)
    assert other.try_acquire() is True
    other.release()
