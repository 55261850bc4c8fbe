"""This machine: who this process is, whether another one is still alive, how much memory there is.

Liveness is by PID *and* start time. A PID alone is not an identity: once a killed training or
search worker's PID is handed to a new process, `os.kill(pid, 0)` says "alive" for ever, and a
run or trial would wait on it for good. The start time (Linux: /proc/PID/stat, in clock ticks
since boot) tells the two apart.
"""

from __future__ import annotations

import os
import socket


def start_time(pid: int) -> str | None:
    """When process `pid` started, as an opaque token; None where the system cannot say (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may hold spaces: count from the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def identity(pid: int | None = None) -> dict:
    """This process (or `pid`) as run.json and trials record it."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "pid_started": start_time(pid)}


def alive(pid: int, started: str | None = None) -> bool:
    """Whether process `pid` exists and, when its start time was recorded, is the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    if started is None:
        return True
    now = start_time(pid)
    return now is None or now == started


def on_this_host(host: str | None) -> bool:
    return host == socket.gethostname()


def memory_bytes() -> int | None:
    """This machine's physical memory (None where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
