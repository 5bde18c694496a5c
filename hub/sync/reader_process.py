"""A source's reader in child processes, so reading and the core's work run on every core.

Parsing files or directory entries into records is most of a big read's Python work; a
forked child does it while the core stages what came before. Items travel through a pipe
in batches, people as plain tuples (pickling a slotted dataclass costs about ten times
more), everything else as it is. The pipe's buffer holds a few batches, so a child waits
when the core is behind and memory stays flat.

The core may hand the children a conversion (`InChild.converted`): the stager then turns
people into staged rows there, and the core is left with inserting them. A reader whose
input splits (the AAF's files of people) runs several children at once, which share out
its parts; some items (the AAF's establishments, which the people after them need) may be
read first, in the core (``before``). Before each part a child yields `Renumber`: the
items are numbered from where the parts before could end, so that their numbers follow
the input's order whichever child read them.

Children are forked: they start at once with the reader's state and the modules already
loaded. A `SourceError` in a child is raised in the core, as the reader in process would
raise it; a child that dies without a word is one too. What the reader learns only at the
end (a cursor, counts, notes) comes last, through ``result`` and ``on_result`` (once per
child, in order, when every child is done).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

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


@dataclass(frozen=True, slots=True)
class Renumber:
    """In a reader's items: the items after it are numbered from ``start`` (see the module docstring)."""

    start: int


def shared_out(parts: int, start: Callable[[int], int], read: Callable[[int], Iterable]) -> Callable[[], Iterator]:
    """``items`` for `InChild` whose children share out ``parts`` parts of the input: each child takes the
    next part not taken yet (a counter shared by the forked children) and yields `Renumber(start(i))`,
    then ``read(i)``, until none is left."""
    taken = multiprocessing.get_context("fork").Value("i", 0)

    def items() -> Iterator:
        while True:
            with taken.get_lock():
                i, taken.value = taken.value, taken.value + 1
            if i >= parts:
                return
            yield Renumber(start(i))
            yield from read(i)

    return items


def items_in_child(name: str, items: Callable[[], Iterable], result: Callable[[], object],
                   on_result: Callable[[object], None]) -> InChild:
    """What ``items()`` yields, computed in a forked child named after the source (``name``, e.g. "AAF");
    once it is exhausted, the child's ``result()`` is handed to ``on_result`` in the core."""
    return InChild(name, items, result, on_result)


class InChild:
    """A source's items read in ``children`` forked children, each yielding ``items()`` (which share out
    the parts of the input between them); ``before``: items read in the core first. Iterate it for the
    items, or ask the children to convert them (`converted`)."""

    def __init__(self, name: str, items: Callable[[], Iterable], result: Callable[[], object],
                 on_result: Callable[[object], None], *, before: Iterable = (), children: int = 1):
        self.name, self.items, self.result, self.on_result = name, items, result, on_result
        self.before, self.children = before, children

    def __iter__(self) -> Iterator:
        """The items: one child reads them all, in order."""
        yield from self.before
        for batch in self._received(None, None, 1):
            yield from (unpacked(x) if type(x) is tuple else x for x in batch if type(x) is not Renumber)

    def converted(self, convert: Callable[[list], object], begin: Callable[[], None],
                  end: Callable[[], None] | None = None) -> Iterator:
        """``convert(batch)`` for each batch of items, computed by the children (forked when the iteration
        starts, with ``convert``'s object as it is then; each calls ``begin()`` first, and ``end()`` after
        its last batch): what it returns, the batches of different children in any order."""
        return self._received(convert, begin, self.children, end)

    def _received(self, convert, begin, count: int, end=None) -> Iterator:
        name = self.name
        context = multiprocessing.get_context("fork")
        children, results = {}, [None] * count
        for k in range(count):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_produce, args=(name, self.items, self.result, send, convert, begin, end),
                                    name=f"{name.lower()}-reader-{k}", daemon=True)
            child.start()
            send.close()  # the child's end: once it exits, recv() says so instead of waiting forever
            children[receive] = (k, child)
        try:
            while children:
                for receive in wait(list(children)):
                    k, child = children[receive]
                    try:
                        kind, payload = receive.recv()
                    except EOFError:
                        child.join(5)  # it is gone: its exit code tells how (None until it is joined)
                        raise SourceError(f"the {name} reader process ended unexpectedly "
                                          f"(exit code {child.exitcode})") from None
                    if kind == "items":
                        yield payload
                    elif kind == "error":
                        raise payload
                    else:
                        results[k] = payload
                        del children[receive]
                        receive.close()
                        child.join()
            for payload in results:
                self.on_result(payload)
        finally:
            for receive, (_, child) in children.items():
                receive.close()
                if child.is_alive():
                    child.terminate()
                child.join()


def _produce(name: str, items: Callable[[], Iterable], result: Callable[[], object], send,
             convert: Callable[[list], object] | None, begin: Callable[[], None] | None,
             end: Callable[[], None] | None) -> None:
    """A child: read, send batches (converted, or people as tuples), then the result (or the error)."""

    def sent(batch: list) -> None:
        send.send(("items", convert(batch) if convert else [packed(x) if type(x) is Person else x for x in batch]))

    try:
        if begin:
            begin()
        batch: list = []
        for item in items():
            batch.append(item)
            if len(batch) >= BATCH:
                sent(batch)
                batch = []
        sent(batch)
        if end:
            end()
        send.send(("end", result()))
    except SourceError as exc:
        send.send(("error", SourceError(str(exc))))
    except Exception as exc:  # noqa: BLE001 - whatever it is, the core must hear of it
        send.send(("error", SourceError(f"the {name} reader process failed: {type(exc).__name__}: {exc}")))
    finally:
        send.close()


def packed(p: Person) -> tuple:
    """A person as plain tuples, to send to another process (see the module docstring); `unpacked` undoes it."""
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


def unpacked(t: tuple) -> Person:
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
