"""Private files on disk: directories only their owner can enter, and writes that are atomic and durable.

Every directory and file qaas keeps (ledger, token cache, calibration and target caches, worker state) goes through
these two functions, so modes never depend on the umask: directories 0700, files 0600 unless said otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["private_dir", "write_atomic"]

_DIR_MODE = 0o700
logger = logging.getLogger(__name__)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Make sure ``path`` is a directory that only its owner can list or enter (mode 0700), whatever the umask.

    Missing parents are created 0700 as well. An existing directory that belongs to the current user and lets
    group or others in is tightened to 0700 (a warning is logged if the file system refuses); parents that already
    existed are left alone, as are directories of other users (which we could not change).

    Args:
        path: the directory.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the directory cannot be created, or ``path`` exists and is not a directory.
    """
    target = Path(path)
    missing: list[Path] = []
    for candidate in (target, *target.parents):
        if os.path.lexists(candidate):
            break
        missing.append(candidate)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, _DIR_MODE)
        except FileExistsError:  # made by another process meanwhile: treat it like one that existed
            continue
        os.chmod(directory, _DIR_MODE)  # mkdir's mode is filtered by the umask
    info = os.stat(target)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{target} exists and is not a directory")
    owned = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if owned and stat.S_IMODE(info.st_mode) & 0o077:
        try:
            os.chmod(target, stat.S_IMODE(info.st_mode) & _DIR_MODE)
        except OSError as exc:  # a file system without modes: it was usable before, so keep using it
            logger.warning("cannot make %s private (mode 0700): %s", target, exc.strerror or exc)
    return target


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600) -> None:
    """Replace the file ``path`` with ``data`` so that readers see the old file or the new one, never a mix.

    The bytes go to a uniquely named temporary file in the same directory (several processes may write at once),
    are flushed and synced to disk, and the file is renamed over ``path``; the temporary file is removed if anything
    fails. The file gets exactly ``mode``, whatever the umask. The directory must exist.

    Args:
        path: the file to write.
        data: its new content.
        mode: permission bits of the file.

    Raises:
        OSError: the file cannot be written.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")  # created 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), mode)
            else:  # pragma: no cover - Windows
                os.chmod(tmp, mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable; not possible everywhere, and not essential."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
