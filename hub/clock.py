"""The hub's clock and its view of local processes, shared by the journal and the locks."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> datetime:
    """Aware UTC now: every stored timestamp is UTC."""
    return datetime.now(UTC)


def process_alive(pid: int | None) -> bool:
    """Whether a process of this machine still runs (a zombie, killed but not reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True
