"""The AAF drop folder: which files a run reads, in which order, and the cursor that remembers them.

The accepted names and the choice of files are documented in `plugins.aaf.reader`
(the user's documentation); this module implements them. Nothing here opens a
file's content: a run's choice is made from names (and, for undated names, times).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hub.errors import SourceError
from plugins.aaf.writer import FILE_TYPES

# <feed>_<Complet|Delta>[_<AAAAMMJJ>[[_-]<sequence>]]_<Type>[_<NNNN>].xml
FILE_NAME = re.compile(
    r"^(?:(?P<feed>.+?)_)?(?P<flavour>Complet|Delta)"
    r"(?:_(?P<date>\d{8})(?:[_-]?(?P<seq>\d{1,6}))?)?_(?P<type>[A-Za-z]+)(?:_(?P<index>\d{1,6}))?\.xml$",
    re.IGNORECASE,
)
COMPLET, DELTA = "Complet", "Delta"
NOTE_NAMES = 5  # file names listed in a note before "and n more"


@dataclass(frozen=True, slots=True)
class AafFile:
    path: Path
    feed: str  # the name before the flavour: ENT2D-CLERMONT, ENT_0690078K, ENT…
    flavour: str  # Complet | Delta
    file_type: str  # one of FILE_TYPES
    date: str  # AAAAMMJJ; for an undated name, the date of the newest file of its feed and flavour
    seq: int  # the time or counter after the date; for an undated name, the newest file's HHMMSS
    index: int
    dated: bool = True

    @property
    def position(self) -> tuple:
        """Where the file stands in its feed: a Delta of a Complet's date and sequence comes after it."""
        return (self.date, self.seq, self.flavour == DELTA, FILE_TYPES.index(self.file_type), self.index)

    @property
    def set_key(self) -> tuple[str, int]:
        return (self.date, self.seq)

    @property
    def cursor_value(self) -> str:
        return self.path.name if self.dated else f"{self.path.name}@{self.date}{self.seq:06d}"


@dataclass
class Listing:
    files: list[AafFile]
    unread: list[str]  # *.xml the hub does not read: other AAF types, other names


@dataclass
class Choice:
    """What a run reads and what it tells the operator about the rest."""

    files: list[AafFile]
    complete: bool
    cursor: str | None
    notes: list[str] = field(default_factory=list)


def parse_name(path: Path, stamp: str = "") -> AafFile | None:
    """The file if it is named as an AAF file of a type the hub reads; ``stamp`` dates a name without a date."""
    m = FILE_NAME.match(path.name)
    if not m or m["type"] not in FILE_TYPES:
        return None
    date, seq = (m["date"], int(m["seq"] or 0)) if m["date"] else (stamp[:8], int(stamp[8:] or 0))
    feed, flavour, index = m["feed"] or "", m["flavour"].capitalize(), int(m["index"] or 0)
    return AafFile(path, feed, flavour, m["type"], date, seq, index, dated=bool(m["date"]))


def list_files(directory: Path) -> Listing:
    """The folder's AAF files (SourceError when it holds none the hub reads)."""
    if not directory.is_dir():
        raise SourceError(f"AAF directory {directory} does not exist")
    files, unread = [], []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() != ".xml" or not path.is_file():
            continue
        if f := parse_name(path):
            files.append(f)
        else:
            unread.append(path.name)
    if not files:
        raise SourceError(
            f"no AAF file in {directory}: expected <feed>_Complet_<AAAAMMJJ>_<Type>_NNNN.xml or "
            f"<feed>_Delta_<AAAAMMJJ>_<Type>_NNNN.xml with a type among {', '.join(FILE_TYPES)}"
            + (f" (not read: {_names(unread)})" if unread else "")
        )
    newest: dict[tuple[str, str], str] = {}  # (feed, flavour) of undated names -> newest mtime, AAAAMMJJHHMMSS
    for f in files:
        if not f.dated:
            stamp = datetime.fromtimestamp(f.path.stat().st_mtime).strftime("%Y%m%d%H%M%S")
            newest[f.feed, f.flavour] = max(newest.get((f.feed, f.flavour), ""), stamp)
    files = [f if f.dated else parse_name(f.path, newest[f.feed, f.flavour]) for f in files]
    return Listing(files, unread)


def read_cursor(since: str | None) -> tuple[dict[str, tuple[tuple, str]], list[str]]:
    """The cursor as {feed: (position of its last file read, that file)}; an old cursor (one file name) too."""
    if not since:
        return {}, []
    try:
        values = json.loads(since) if since.startswith("{") else {"": since}
    except ValueError:
        values = None
    entries: dict[str, tuple[tuple, str]] = {}
    for value in values.values() if isinstance(values, dict) else ():
        name, _, stamp = str(value).partition("@")
        f = parse_name(Path(name), stamp)
        if f and (f.dated or stamp[:8].isdigit()):
            entries[f.feed] = (f.position, str(value))
    if not entries or len(entries) != len(values):
        return {}, [f"cursor {since!r} is not understood: read as if there were none"]
    return entries, []


def choose(listing: Listing, mode: str, since: str | None) -> Choice:
    """The files of this run (see the reader's docstring for the rules) and the cursor after it."""
    cursor, notes = read_cursor(since)
    read = {feed: position for feed, (position, _) in cursor.items()}
    where = listing.files[0].path.parent
    by_feed: dict[str, list[AafFile]] = {}
    for f in listing.files:
        by_feed.setdefault(f.feed, []).append(f)
    newest: dict[str, list[AafFile]] = {}  # feed -> its newest Complet set
    later: dict[str, list[AafFile]] = {}  # feed -> its Deltas after that Complet (all of them without one)
    skipped: list[AafFile] = []
    for feed, files in by_feed.items():
        complets = [f for f in files if f.flavour == COMPLET]
        top = max((f.set_key for f in complets), default=None)
        newest[feed] = [f for f in complets if f.set_key == top]
        start = (*top, False) if top else ()
        later[feed] = [f for f in files if f.flavour == DELTA and f.position > start]
        kept = {*newest[feed], *later[feed]}
        skipped += [f for f in files if f not in kept]
    pending = [f for feed, deltas in later.items() for f in deltas if feed not in read or f.position > read[feed]]
    unread_complets = [
        feed
        for feed, files in newest.items()
        if files and (feed not in read or (*files[0].set_key, False) > read[feed][:3])
    ]
    if mode == "complet" or (mode == "auto" and unread_complets):
        feeds = [feed for feed, files in newest.items() if files] if mode == "complet" else unread_complets
        if not feeds:
            raise SourceError(f"no AAF Complet file in {where}")
        choice = _complets(feeds, newest, set(by_feed), cursor)
        waiting = [f for f in pending if f.feed in feeds]
        if waiting:
            choice.notes.append(
                f"{len(waiting)} Delta file(s) after the Complet are left for the next run: {_sets(waiting)}"
            )
    elif mode == "delta" or pending or any(later.values()) or not all(newest.values()):
        if mode == "delta" and not any(f.flavour == DELTA for f in listing.files):
            raise SourceError(f"no AAF Delta file in {where}")
        files = sorted(pending, key=lambda f: (f.date, f.seq, f.position[3], f.feed, f.index))
        choice = Choice(files, False, _encode(cursor, files) if files else since)
    else:  # nothing new, and no Delta since the Complets: reading them again changes nothing
        choice = _complets(list(newest), newest, set(by_feed), cursor)
    if skipped:
        choice.notes.append(
            f"skipped {len(skipped)} file(s) older than the newest Complet of their feed: {_sets(skipped)}"
        )
    if listing.unread:
        choice.notes.append(f"not read (not an AAF file of a type the hub reads): {_names(listing.unread)}")
    choice.notes[:0] = notes
    return choice


def _complets(feeds: list[str], newest: dict, every_feed: set[str], cursor: dict) -> Choice:
    """The newest Complet of these feeds; complete only when every feed of the folder is among them."""
    files = sorted(
        (f for feed in feeds for f in newest[feed]), key=lambda f: (f.position[3], f.date, f.seq, f.feed, f.index)
    )
    choice = Choice(files, set(feeds) == every_feed, _encode(cursor, files))
    if not choice.complete:
        others = ", ".join(feed or "(unnamed)" for feed in sorted(every_feed - set(feeds)))
        choice.notes.append(
            f"Complet read without deleting anyone: the other feeds of the folder ({others}) are not part of this run"
        )
    return choice


def _encode(cursor: dict[str, tuple[tuple, str]], files: list[AafFile]) -> str:
    """JSON {feed: the last file read}, the earlier cursor's feeds kept; a name with no date gets its time."""
    value = {feed: name for feed, (_, name) in cursor.items()}
    for f in sorted(files, key=lambda f: f.position):
        value[f.feed] = f.cursor_value
    return json.dumps(dict(sorted(value.items())), ensure_ascii=False)


def _sets(files: Iterable[AafFile]) -> str:
    counts: dict[str, int] = {}
    for f in files:
        label = f"{f.feed + '_' if f.feed else ''}{f.flavour}_{f.date}" + (f"_{f.seq}" if f.seq else "")
        counts[label] = counts.get(label, 0) + 1
    return _names([f"{label} ({n} file{'s' if n > 1 else ''})" for label, n in counts.items()])


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NOTE_NAMES])
    return shown + (f" and {len(names) - NOTE_NAMES} more" if len(names) > NOTE_NAMES else "")
