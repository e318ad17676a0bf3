"""Private directories and atomic writes: modes never depend on the umask, and nothing half-written is left."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import qaas_core as q
from qaas_core._auth import _Store
from qaas_core._calcache import CalibrationCache
from qaas_core._files import private_dir, write_atomic
from qaas_core._ledger import Ledger, LedgerEntry, request_digest
from qaas_core._lexis import HeappeTarget, QuantumResource, TargetCache

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(params=[0o000, 0o002, 0o022], ids=lambda u: f"umask{u:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def modes_under(root: Path) -> dict[str, int]:
    found = {}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = mode(path)
    return found


def assert_private(root: Path) -> None:
    bad = {}
    for name, bits in modes_under(root).items():
        want = 0o700 if (root / name).is_dir() else 0o600
        if bits != want:
            bad[name] = oct(bits)
    assert bad == {}


# -- the helpers ------------------------------------------------------------------------------------------------------


def test_private_dir_creates_every_missing_parent_0700(tmp_path: Path, umask: int) -> None:
    target = tmp_path / "a" / "b" / "c"
    assert private_dir(target) == target
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3
    assert private_dir(str(target)) == target  # again: nothing to do


def test_private_dir_tightens_an_existing_loose_directory_but_not_its_parents(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o755)
    loose = parent / "mine"
    loose.mkdir()
    loose.chmod(0o777)
    private_dir(loose)
    assert mode(loose) == 0o700
    assert mode(parent) == 0o755


def test_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError):
        private_dir(tmp_path / "f")


def test_write_atomic_mode_content_and_no_leftovers(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "doc.json"
    write_atomic(path, b"one")
    assert path.read_bytes() == b"one" and mode(path) == 0o600
    path.chmod(0o666)
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and mode(path) == 0o600
    write_atomic(path, b"three", mode=0o640)
    assert mode(path) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_write_atomic_removes_its_temporary_file_on_failure(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path / "target", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_write_atomic_from_many_threads_never_mixes(tmp_path: Path) -> None:
    path = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 100_000 for i in range(8)]

    def write(data: bytes) -> None:
        for _ in range(5):
            write_atomic(path, data)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in payloads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.bin"]


# -- every store that keeps files -------------------------------------------------------------------------------------


def test_ledger_dirs_and_files_are_private(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "home"
    ledger = Ledger(root / "data" / "ledger.sqlite3")
    request = b'{"schema":"qaas.run/1","submission_id":"x","shots":10,"circuits":[]}'
    sid = "9f0c2c1e-2f40-4c1b-9a55-1f7f2d1c0a11"
    ledger.record_submission(LedgerEntry(submission_id=sid, request_digest=request_digest(request), profile="p",
                                         project="proj", resource="r", heappe_url="http://127.0.0.1/h", shots=10,
                                         circuits=1))  # fmt: skip
    ledger.store_request(sid, request)
    ledger.store_result(sid, b'{"schema":"qaas.result/1"}')
    names = set(modes_under(root))
    assert {"data/ledger.sqlite3", f"data/jobs/{sid}/request.json.gz", f"data/jobs/{sid}/result.json.gz"} <= names
    assert_private(root)


def test_ledger_fixes_a_loose_existing_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    Ledger(data / "ledger.sqlite3")
    assert mode(data) == 0o700


def test_token_cache_is_private(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "home"
    store = _Store(root / "data" / "tokens.json")
    store.save("https://auth|client", {"refresh_token": "r"})
    store.save("https://other|client", {"refresh_token": "s"})
    assert store.load("https://auth|client") == {"refresh_token": "r"}
    assert set(modes_under(root)) == {"data", "data/tokens.json"}
    assert_private(root)


def test_calibration_cache_is_private(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "home"
    cache = CalibrationCache(root / "data" / "calibrations", "EQE1-CZ-P0001", ttl=60)
    calibration = q.load_profile("garnet20")
    cache.store(calibration, current=True)
    cache.store(calibration, current=True)
    loaded = cache.current()
    assert loaded is not None and loaded.calibration_set_id == calibration.calibration_set_id
    assert set(modes_under(root)) == {
        "data",
        "data/calibrations",
        "data/calibrations/EQE1-CZ-P0001",
        f"data/calibrations/EQE1-CZ-P0001/{calibration.calibration_set_id}.json",
        "data/calibrations/EQE1-CZ-P0001/current.json",
    }
    assert_private(root)


def test_target_cache_is_private(tmp_path: Path, umask: int) -> None:
    root = tmp_path / "home"
    cache = TargetCache(root / "data" / "cache" / "targets.json", ttl=60)
    resource = QuantumResource("EQE1-CZ-P0001", "proj", "cluster", "http://127.0.0.1/heappe")
    target = HeappeTarget("http://127.0.0.1/heappe", 1, "cluster", 2, 3, 4, 5, ("a",), None, (), 3600,
                          "EQE1-CZ-P0001")  # fmt: skip
    cache.put("k1", resource, target)
    cache.put("k2", resource, target)
    assert cache.get("k2") == (resource, target)
    assert set(modes_under(root)) == {"data", "data/cache", "data/cache/targets.json"}
    assert_private(root)
