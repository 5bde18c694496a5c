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
    """

    items: Iterable[Any]
    complete: bool = True
    cursor: str | None = None
    description: str = ""
    details: dict = field(default_factory=dict)
