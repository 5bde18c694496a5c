"""hub.forked: work split across forked processes, results in order, errors raised in the parent."""

from __future__ import annotations

import os

import pytest

from hub import forked
from hub.errors import HubError


class Refused(HubError):
    """An expected error, raised by the work."""


def where(item: int) -> tuple[int, int]:
    return item, os.getpid()


def test_results_come_in_order_from_several_processes():
    results = list(forked.ordered("test work", where, list(range(10)), 3))
    assert [item for item, _ in results] == list(range(10))
    pids = {pid for _, pid in results}
    assert len(pids) == 3 and os.getpid() not in pids
    assert [pid for _, pid in results[:3]] == [pid for _, pid in results[3:6]]  # child k takes k, k+3…


def test_one_process_works_in_process():
    assert {pid for _, pid in forked.ordered("test work", where, [1, 2], 1)} == {os.getpid()}


def refuse_five(item: int) -> int:
    if item == 5:
        raise Refused(f"item {item} refused")
    return item


def fail_five(item: int) -> int:
    return 1 // (item - 5)


def die_on_five(item: int) -> int:
    if item == 5:
        os._exit(3)
    return item


def test_errors_in_a_child_are_raised_here():
    with pytest.raises(Refused, match="item 5 refused"):
        list(forked.ordered("test work", refuse_five, list(range(8)), 2))
    with pytest.raises(HubError, match="a test work process failed: ZeroDivisionError"):
        list(forked.ordered("test work", fail_five, list(range(8)), 2))
    with pytest.raises(HubError, match=r"a test work process ended unexpectedly \(exit code 3\)"):
        list(forked.ordered("test work", die_on_five, list(range(8)), 2))


def test_results_before_the_error_are_given():
    seen = []
    with pytest.raises(Refused):
        for item in forked.ordered("test work", refuse_five, list(range(8)), 2):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
