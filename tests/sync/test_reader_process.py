"""hub.sync.reader_process with several children: the parts shared out, a failing or dying child stops the read."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from hub.errors import SourceError
from hub.sync.reader_process import InChild, Renumber

PARTS = 6


def shared_parts(fail=None):
    """Items of parts 0..PARTS-1 taken in turn by whichever child asks first; ``fail(part)`` may stop a child."""
    taken = multiprocessing.get_context("fork").Value("i", 0)

    def items():
        while True:
            with taken.get_lock():
                part, taken.value = taken.value, taken.value + 1
            if part >= PARTS:
                return
            if fail:
                fail(part)
            yield Renumber(part * 100)
            yield from (f"{part}-{n}" for n in range(3))

    return items


def read(items, children: int = 2) -> list:
    """Every batch the children convert: (pid, [items as numbered])."""
    numbered = {"seq": 0}

    def begin():
        numbered["seq"] = 0

    def convert(batch):
        out = []
        for item in batch:
            if type(item) is Renumber:
                numbered["seq"] = item.start
            else:
                numbered["seq"] += 1
                out.append((numbered["seq"], item))
        return os.getpid(), out

    feed = InChild("TEST", items, lambda: None, lambda _: None, children=children)
    return list(feed.converted(convert, begin))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one child per core")
def test_the_children_share_the_parts_and_number_them_by_part():
    batches = read(shared_parts(lambda part: time.sleep(0.05)))  # a part takes a while: both children get some
    numbered = sorted(item for _, items in batches for item in items)
    assert numbered == [(part * 100 + n + 1, f"{part}-{n}") for part in range(PARTS) for n in range(3)]
    assert len({pid for pid, _ in batches}) == 2 and os.getpid() not in {pid for pid, _ in batches}


def test_a_child_that_dies_stops_the_read_and_the_other_child():
    def die(part):
        if part == 3:
            os._exit(3)

    with pytest.raises(SourceError, match=r"the TEST reader process ended unexpectedly \(exit code 3\)"):
        read(shared_parts(die))
    assert multiprocessing.active_children() == []


def test_a_source_error_in_a_child_is_raised_as_it_is():
    def refuse(part):
        if part == 2:
            raise SourceError("file 2: malformed XML")

    with pytest.raises(SourceError, match="^file 2: malformed XML$"):
        read(shared_parts(refuse))
    assert multiprocessing.active_children() == []


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one child per core")
def test_each_child_ends_after_its_last_batch_and_an_error_there_stops_the_read(tmp_path):
    """``end``: where a child finishes its own work (the stager's children commit their rows there)."""

    def convert(batch):
        return os.getpid(), len(batch)

    def end():
        (tmp_path / f"{os.getpid()}.ended").touch()

    feed = InChild("TEST", shared_parts(lambda part: time.sleep(0.05)), lambda: None, lambda _: None, children=2)
    pids = {pid for pid, _ in feed.converted(convert, lambda: None, end)}
    assert {int(p.stem) for p in tmp_path.glob("*.ended")} == pids and len(pids) == 2

    def refuse():
        raise SourceError("database error: no space left on device")

    feed = InChild("TEST", shared_parts(), lambda: None, lambda _: None, children=2)
    with pytest.raises(SourceError, match="^database error: no space left on device$"):
        list(feed.converted(convert, lambda: None, refuse))
    assert multiprocessing.active_children() == []
