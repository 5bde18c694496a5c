"""The sync pipeline: read → normalize → stage → plan → safety checks → apply → outbox → journal.

`hub.sync.run.sync` runs it; each step lives in its own module. `Feed` is what a
source's ``hub_read_directory`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Feed:
    """A source's answer: a stream of model items, and what the stream stands for.

    ``complete``: the items are the source's whole current state (an AAF Complet, a
    full LDAP read), so stored people it does not mention are deleted. ``cursor``:
    an opaque value handed back as ``since`` next time (incremental sources).

    Filled by the source as it reads (the core reads them once the items are exhausted):
    ``records``, how many source records were read (AAF requests, LDAP entries, CSV
    rows), when that differs from the number of items; ``notes``, one line each for
    what the operator should know about the read as a whole ("1,204 modifications of
    unmodelled attributes ignored (mobile: 800, …)", "files skipped: …"), journaled
    as info events and shown after the run.
    """

    items: Iterable[Any]
    complete: bool = True
    cursor: str | None = None
    description: str = ""
    details: dict = field(default_factory=dict)
    records: int | None = None
    notes: list[str] = field(default_factory=list)
