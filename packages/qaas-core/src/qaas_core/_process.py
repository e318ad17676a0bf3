"""Who holds something: the identity of this machine and boot, and whether a process on it still lives.

A pid means something only on the machine (and the boot) it was recorded on; leases and claims kept in shared
directories record all three, so that a holder on this very machine can be known dead at once, while one on another
machine is judged by its heartbeat alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from pathlib import Path

__all__ = ["machine_identity", "pid_alive"]


@functools.cache
def machine_identity() -> tuple[str, str]:
    """(host name, boot id); the boot id is empty where the system does not tell it (then no pid is trusted)."""
    boot = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return socket.gethostname(), boot


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (a pid we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
