"""A source's reader in a second process, so reading and the core's work run on two cores.

Parsing files or directory entries into records is most of a big read's Python work; a
forked child does it while the core normalizes and stages what came before. Items travel
through a pipe in batches, people as plain tuples (pickling a slotted dataclass costs
about ten times more), everything else as it is. The pipe's buffer holds a few batches,
so the child waits when the core is behind and memory stays flat.

The child is forked: it starts at once with the reader's state and the modules already
loaded. A `SourceError` in the child is raised in the core, as the reader in process
would raise it; a child that dies without a word is one too. What the reader learns only
at the end (a cursor, counts, notes) comes last, through ``result`` and ``on_result``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator

from hub.errors import SourceError
from hub.model import (
    Enrollment,
    Function,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    TeachingAssignment,
)

BATCH = 500  # items per message: big enough to amortize a message, small enough to keep the core busy
KINDS = {k.value: k for k in PersonKind}
GROUP_KINDS = {k.value: k for k in GroupKind}


def items_in_child(name: str, items: Callable[[], Iterable], result: Callable[[], object],
                   on_result: Callable[[object], None]) -> Iterator:
    """What ``items()`` yields, computed in a forked child named after the source (``name``, e.g. "AAF");
    once it is exhausted, the child's ``result()`` is handed to ``on_result`` in the core."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(name, items, result, send), name=f"{name.lower()}-reader",
                            daemon=True)
    child.start()
    send.close()  # the child's end: once it exits, recv() says so instead of waiting forever
    try:
        while True:
            try:
                kind, payload = receive.recv()
            except EOFError:
                child.join(5)  # it is gone: its exit code tells how (None until it is joined)
                raise SourceError(f"the {name} reader process ended unexpectedly "
                                  f"(exit code {child.exitcode})") from None
            if kind == "items":
                yield from (_person(x) if type(x) is tuple else x for x in payload)
            elif kind == "error":
                raise payload
            else:
                on_result(payload)
                return
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _produce(name: str, items: Callable[[], Iterable], result: Callable[[], object], send) -> None:
    """The child: read, send batches, then the result (or the error)."""
    try:
        batch: list = []
        for item in items():
            batch.append(_tuple(item) if type(item) is Person else item)
            if len(batch) >= BATCH:
                send.send(("items", batch))
                batch = []
        send.send(("items", batch))
        send.send(("end", result()))
    except SourceError as exc:
        send.send(("error", SourceError(str(exc))))
    except Exception as exc:  # noqa: BLE001 - whatever it is, the core must hear of it
        send.send(("error", SourceError(f"the {name} reader process failed: {type(exc).__name__}: {exc}")))
    finally:
        send.close()


def _tuple(p: Person) -> tuple:
    e = p.enrollment
    return (str(p.kind), p.last_name, p.first_name, p.jointure, p.ine, p.birth_date, p.email, p.uai,
            e and (e.school_year, e.uai, e.mef, e.niveau, e.division, e.subjects),
            tuple((m.uai, m.code, str(m.kind)) for m in p.memberships),
            tuple((g.parent_key, g.rank) for g in p.guardians),
            tuple((a.uai, a.group_code, a.subject, a.principal) for a in p.assignments),
            tuple((f.uai, f.code, f.label, f.discipline) for f in p.functions), p.source_ref)  # fmt: skip


# Relations as sent -> their records, built once and shared: the pupils of a class have the same enrollment
# and memberships, the staff of an establishment the same functions, and building a frozen record costs more
# than finding it. Emptied when they grow too big.
_ENROLLMENTS: dict[tuple, Enrollment] = {}
_MEMBERSHIPS: dict[tuple, Membership] = {}
_FUNCTIONS: dict[tuple, Function] = {}
SHARED_MAX = 50_000  # records kept per kind


def _person(t: tuple) -> Person:
    kind, last, first, jointure, ine, born, email, uai, e, memberships, guardians, assignments, functions, ref = t
    return Person(
        KINDS[kind], last, first, jointure, ine, born, email, uai,
        e and (_ENROLLMENTS.get(e) or _shared(_ENROLLMENTS, e, Enrollment(*e))),
        tuple([_MEMBERSHIPS.get(m) or _shared(_MEMBERSHIPS, m, Membership(m[0], m[1], GROUP_KINDS[m[2]]))
               for m in memberships]),
        tuple([Guardianship(*g) for g in guardians]),
        tuple([TeachingAssignment(*a) for a in assignments]),
        tuple([_FUNCTIONS.get(f) or _shared(_FUNCTIONS, f, Function(*f)) for f in functions]), ref,
    )  # fmt: skip


def _shared(records: dict, sent: tuple, record):
    if len(records) >= SHARED_MAX:
        records.clear()
    records[sent] = record
    return record
