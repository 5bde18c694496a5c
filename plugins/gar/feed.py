"""One GAR delivery: the five files of every served establishment, validated, packed as ``.tar.gz`` + ``.md5``.

Files are named ``{id_ent}_GAR-ENT_{Complet|Delta}_{yyyyMMdd_HHmmss}_{UAI}_{2D|1D}_{file}_{NNNN}.xml``;
the archive ``{id_ent}_GAR-ENT_{mode}_{stamp}.tar.gz`` holds them all and ``….md5`` its MD5.
Establishments are read a batch at a time (`plugins.gar.roster`, a few queries per
batch) and written one at a time, so memory follows the batch, not the académie.
Each file is validated against the XSD before a thread of its own (`_Output`)
compresses it into the archive and, for an export, writes it beside.

Delta: a person is sent when the digest of their records differs from the one the
last *acknowledged* delivery sent (table ``gar_sent``); the establishment's own
records (GAREtab, MEF, subjects, groups) always go whole. The schema has no way to
say someone left: people gone since are counted in the summary and leave GAR with
the next Complet. A delivery writes what it sends as ``pending``; only the upload's
success turns it into ``digest`` (`acknowledge`), so a failed delivery is sent again.
"""

from __future__ import annotations

import hashlib
import io
import queue
import tarfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from hub.clock import now
from hub.errors import HubError
from hub.model import Establishment
from hub.queries import StoreView
from hub.store.tables import gar_sent
from plugins.gar import roster, xmlfiles

MODES = ("complet", "delta")


@dataclass
class Summary:
    """What one delivery holds: written as ``<archive>.summary.json`` beside it, printed, journaled."""

    mode: str
    stamp: str
    establishments: dict[str, dict[str, int]] = field(default_factory=dict)  # UAI -> counts per section
    persons: int = 0  # people written (each once per establishment)
    left: int = 0  # people GAR had that are no longer in the feed (Delta: they leave with the next Complet)
    files: list[str] = field(default_factory=list)
    archive: str = ""
    md5: str = ""
    notes: list[str] = field(default_factory=list)
    write_seconds: float = 0.0  # wall time of reading the store and writing the files (validation apart)
    validate_seconds: float = 0.0
    write_cpu_seconds: float = 0.0  # the same in CPU time, both threads (a busy machine inflates wall time)
    validate_cpu_seconds: float = 0.0

    def base(self, id_ent: str) -> str:
        """The delivery's name, first part of every file's."""
        return f"{id_ent}_GAR-ENT_{self.mode.capitalize()}_{self.stamp}"

    def counts(self) -> dict[str, int]:
        return {
            "establishments": len(self.establishments),
            "persons": self.persons,
            "left": self.left,
            "files": len(self.files),
        }

    def line(self) -> str:
        return (
            f"GAR {self.mode} {self.stamp}: {len(self.establishments)} establishment(s), {self.persons} person(s), "
            f"{len(self.files)} file(s) in {self.archive}" + (f", {self.left} left" if self.left else "")
        )


def served(store: StoreView, settings, uais: list[str] | None = None) -> list[Establishment]:
    """The establishments GAR gets (settings ``uais`` or ``establishment_kinds``), or those of ``uais`` among them."""
    found = [
        e
        for e in store.establishment_list(frozenset(settings.establishment_kinds))
        if not e.pseudo and (settings.uais is None or e.uai in settings.uais)
    ]
    if uais:
        unknown = sorted(set(uais) - {e.uai for e in found})
        if unknown:
            raise HubError(
                f"GAR does not serve {', '.join(unknown)} (not stored, or outside [plugins.gar] uais / "
                "establishment_kinds)"
            )
        found = [e for e in found if e.uai in uais]
    return found


def build(
    engine: Engine,
    settings,
    out: Path,
    mode: str,
    uais: list[str] | None = None,
    *,
    pending: bool = False,
    keep_files: bool = True,
) -> Summary:
    """Write, validate and pack the delivery's files in ``out`` (the XML files too with ``keep_files``). With
    ``pending``, record what is sent (a delivery); without, the store is left as it was but for new GAR ids
    (an export). On any error, whatever was written is removed and the error raised."""
    if mode not in MODES:
        raise HubError(f"unknown GAR mode {mode!r}: complet or delta")
    summary = Summary(mode, now().strftime("%Y%m%d_%H%M%S"))
    establishments = served(StoreView(engine), settings, uais)
    out.mkdir(parents=True, exist_ok=True)
    base = summary.base(settings.id_ent)
    archive, md5_file = out / f"{base}.tar.gz", out / f"{base}.md5"
    output = _Output(archive, out if keep_files else None)
    started, started_cpu = time.perf_counter(), time.process_time()
    try:
        if pending:
            with engine.begin() as conn:
                conn.execute(update(gar_sent).values(pending=None))
        with engine.connect() as conn:
            names = roster.Names.read(conn)
        with output:
            for batch in roster.batches(establishments):
                _batch(engine, settings, batch, names, summary, output, pending)
        with open(archive, "rb") as data:
            summary.md5 = hashlib.file_digest(data, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
        output.written.append(md5_file)
        md5_file.write_text(summary.md5)
        summary.archive = archive.name
    except BaseException:
        for path in output.written:
            path.unlink(missing_ok=True)
        raise
    summary.write_seconds = time.perf_counter() - started - summary.validate_seconds
    summary.write_cpu_seconds = time.process_time() - started_cpu - summary.validate_cpu_seconds
    return summary


class _Output:
    """Where validated files go: into the archive, and beside it in ``folder`` when one is given. A thread of
    its own writes them, in the order received: compressing and writing to disk release the GIL, so they
    overlap with reading and building the next files. The queue is short (memory: a few files)."""

    def __init__(self, archive: Path, folder: Path | None):
        self.archive, self.folder = archive, folder
        self.written: list[Path] = [archive]  # what to remove should the delivery fail
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=16)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gar-output", daemon=True)

    def __enter__(self) -> _Output:
        self._thread.start()
        return self

    def put(self, name: str, content: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self.folder is not None:
            self.written.append(self.folder / name)
        self._queue.put((name, content))

    def __exit__(self, kind, *_) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and kind is None:
            raise self._error

    def _run(self) -> None:
        try:
            # compresslevel 1: twice as fast as the default 6, the archive ~15% larger (repetitive XML)
            with tarfile.open(self.archive, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as tar:
                while (item := self._queue.get()) is not None:
                    name, content = item
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = len(content), int(time.time())
                    tar.addfile(info, io.BytesIO(content))
                    if self.folder is not None:
                        (self.folder / name).write_bytes(content)
        except BaseException as exc:
            self._error = exc
            while self._queue.get() is not None:  # the producer must never block on a dead writer
                pass


def _batch(
    engine: Engine,
    settings,
    batch: list[Establishment],
    names: roster.Names,
    summary: Summary,
    output: _Output,
    pending: bool,
) -> None:
    """A batch of establishments, read together (`roster.read`), then written one establishment at a time."""
    functions = frozenset(settings.resp_aff_functions)
    uais = [est.uai for est in batch]
    with engine.begin() as conn:
        feeds = roster.read(conn, batch, names, functions, settings.resp_aff)
        sent: dict[str, dict[int, str | None]] = {uai: {} for uai in uais}
        for uai, pid, digest in conn.execute(
            select(gar_sent.c.uai, gar_sent.c.person_id, gar_sent.c.digest).where(gar_sent.c.uai.in_(uais))
        ):
            sent[uai][pid] = digest
        to_record: list[tuple[str, int, str]] = []  # (UAI, person id, digest) of whom this delivery sends
        for feed in feeds:
            uai = feed.establishment.uai
            entries = feed.entries
            if summary.mode == "delta" or pending:
                digests = [entry.digest() for entry in entries]
                if summary.mode == "delta":
                    kept = [(e, d) for e, d in zip(entries, digests, strict=True) if sent[uai].get(e.person_id) != d]
                    entries, digests = [e for e, _ in kept], [d for _, d in kept]
                to_record += [(uai, e.person_id, d) for e, d in zip(entries, digests, strict=True)]
            if sent[uai]:
                current = {e.person_id for e in feed.entries}
                summary.left += sum(1 for pid, d in sent[uai].items() if pid not in current and d is not None)
            _write(settings, feed, entries, summary, output)
            summary.persons += len(entries)
            summary.notes += feed.notes
        if pending:
            _record_pending(conn, to_record, sent)


def _write(
    settings, feed: roster.EstablishmentFeed, entries: list[roster.Entry], summary: Summary, output: _Output
) -> None:
    """The five files of one establishment: records filed by section, each file in the schema's section order,
    split every ``max_nodes`` children, validated (timed apart), handed to ``output``."""
    uai, degree, files = feed.establishment.uai, feed.degree, roster.FILES[feed.degree]
    sections = {file: {section: [] for section in names} for file, _, names in files}  # file -> section -> records
    for file, section, xml in feed.shared:
        sections[file][section].append(xml)
    for entry in entries:
        for file, section, xml in entry.records:
            sections[file][section].append(xml)
    schema, documents = xmlfiles.schema(degree), []
    for file, root, names in files:
        records = [xml for section in names for xml in sections[file][section]]
        parts = xmlfiles.documents(schema, root, records, version=settings.version, max_nodes=settings.max_nodes)
        name = f"{summary.base(settings.id_ent)}_{uai}_{degree}_{file}"
        documents += [(f"{name}_{number:04d}.xml", content) for number, content in enumerate(parts, 1)]

    checked, checked_cpu = time.perf_counter(), time.thread_time()
    owners = {e.gar_id: e.key for e in entries}
    for name, content in documents:
        xmlfiles.validate(name, content, schema, owners)
    summary.validate_seconds += time.perf_counter() - checked
    summary.validate_cpu_seconds += time.thread_time() - checked_cpu

    for name, content in documents:
        summary.files.append(name)
        output.put(name, content)
    counts: dict[str, int] = defaultdict(int)
    for by_section in sections.values():
        for section, records in by_section.items():
            if records:
                counts[section] += len(records)
    summary.establishments[uai] = dict(counts)


def _record_pending(conn, to_record: list[tuple[str, int, str]], sent: dict[str, dict]) -> None:
    """What this delivery sends becomes ``pending`` (promoted to ``digest`` once acknowledged): a batch's rows
    in one update and one insert."""
    old = [{"u": uai, "p": pid, "d": digest} for uai, pid, digest in to_record if pid in sent[uai]]
    new = [
        {"uai": uai, "person_id": pid, "digest": None, "pending": digest}
        for uai, pid, digest in to_record
        if pid not in sent[uai]
    ]
    if old:
        conn.execute(
            update(gar_sent)
            .where(gar_sent.c.uai == bindparam("u"), gar_sent.c.person_id == bindparam("p"))
            .values(pending=bindparam("d")),
            old,
        )
    if new:
        conn.execute(insert(gar_sent), new)


def acknowledge(engine: Engine, summary: Summary) -> None:
    """The delivery reached GAR: what it sent becomes what GAR has (after a Complet, only that)."""
    uais = sorted(summary.establishments)
    with engine.begin() as conn:
        if summary.mode == "complet":
            conn.execute(delete(gar_sent).where(gar_sent.c.uai.in_(uais), gar_sent.c.pending.is_(None)))
        conn.execute(
            update(gar_sent).where(gar_sent.c.pending.is_not(None)).values(digest=gar_sent.c.pending, pending=None)
        )
