"""Work split across forked processes, the results back in order: a big export on every core.

`ordered` yields ``work(item)`` for each item, in the items' order, computed by forked
children: child k of n takes items k, k+n, k+2n… and sends each result whole. A child
finished early waits for its result to be taken, so memory follows the number of
children, not of items. Forked children start at once with the parent's state and
modules; they must not use the parent's database connections (``on_start`` runs first
in each, e.g. ``engine.dispose(close=False)``, so they open their own).

A `HubError` raised by ``work`` in a child is raised here, as it would be in process;
any other error, or a child that dies without a word, becomes a HubError naming the work.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Iterator, Sequence

from hub.errors import HubError


def available() -> bool:
    """A second process needs fork (Linux): a spawned child would import everything again."""
    return "fork" in multiprocessing.get_all_start_methods()


def ordered(name: str, work: Callable, items: Sequence, processes: int,
            on_start: Callable[[], None] | None = None) -> Iterator:
    """``work(item)`` for each of ``items``, in order, by ``processes`` children (in process when one is
    enough, or without fork). ``name`` ("GAR export") names the work in errors."""
    processes = min(processes, len(items))
    if processes <= 1 or not available():
        yield from map(work, items)
        return
    context = multiprocessing.get_context("fork")
    children = []
    for k in range(processes):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=_work, args=(name, work, items[k::processes], on_start, send),
                                name=f"{name.lower().replace(' ', '-')}-{k}", daemon=True)
        child.start()
        send.close()  # the child's end: once it exits, recv() says so instead of waiting forever
        children.append((child, receive))
    try:
        for index in range(len(items)):
            child, receive = children[index % processes]
            try:
                kind, payload = receive.recv()
            except EOFError:
                child.join(5)  # it is gone: its exit code tells how
                raise HubError(f"a {name} process ended unexpectedly (exit code {child.exitcode})") from None
            if kind == "error":
                raise payload
            yield payload
    finally:
        for child, receive in children:
            receive.close()
            if child.is_alive():
                child.terminate()
            child.join()


def _work(name: str, work: Callable, items: Sequence, on_start: Callable[[], None] | None, send) -> None:
    """A child: its share of the items, each result sent as soon as it is ready, or the first error."""
    try:
        if on_start is not None:
            on_start()
        for item in items:
            send.send(("result", work(item)))
    except HubError as exc:
        try:
            pickle.loads(pickle.dumps(exc))  # an error whose __init__ takes more than its message cannot travel
        except Exception:  # noqa: BLE001
            exc = HubError(str(exc))
        send.send(("error", exc))
    except Exception as exc:  # noqa: BLE001 - whatever it is, the parent must hear of it
        send.send(("error", HubError(f"a {name} process failed: {type(exc).__name__}: {exc}")))
    finally:
        send.close()
