"""What the broker records: each refused login or message in the journal, each login in ``login_event``."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, insert

from hub.clock import now
from hub.store.tables import login_event
from hub.sync.journal import Journal

log = logging.getLogger("hub.sso")


def journal_refusal(engine: Engine, protocol: str, source: str, record: str, code: str, reason: str) -> int:
    """One journal run (action ``sso``) per refusal, so ``hub journal`` lists them with their reason.

    ``record`` names the message (an assertion or request id, a client), never its content.
    """
    journal = Journal(engine)
    run_id = journal.start("sso", source=source[:50], trigger=f"web:{protocol}")
    journal.event(run_id, "error", record, reason, key=code)
    journal.finish(run_id, "refused", counts={"refused": 1}, message=f"{code}: {reason}")
    log.warning("sso %s refused (%s, %s): %s", protocol, source, code, reason)
    return run_id


def record_login(engine: Engine, person_key: str, person, client_id: str, idp: str) -> None:
    with engine.begin() as conn:
        conn.execute(insert(login_event).values(
            at=now(), person_key=person_key, uai=person.uai, profile=str(person.kind), client_id=client_id[:100],
            idp=idp[:100]))
