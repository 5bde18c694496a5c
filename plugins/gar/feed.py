"""One GAR delivery: the five files of every served establishment, validated, packed as ``.tar.gz`` + ``.md5``.

Files are named ``{id_ent}_GAR-ENT_{Complet|Delta}_{yyyyMMdd_HHmmss}_{UAI}_{2D|1D}_{file}_{NNNN}.xml``;
the archive ``{id_ent}_GAR-ENT_{mode}_{stamp}.tar.gz`` holds them all and ``….md5`` its MD5.
Establishments are read a batch at a time (`plugins.gar.roster`, a few queries per
batch) and written one at a time, so memory follows the batch, not the académie.
Batches are built and validated against the XSD on every core (forked processes,
`hub.forked`); this process packs their files into the archive in order.

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
import tarfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, bindparam, delete, insert, select, update

from hub import forked
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
    seconds: float = 0.0  # wall time of the whole delivery: reading, building, validating, packing
    build_cpu_seconds: float = 0.0  # CPU time reading the store and building the files, all processes
    validate_seconds: float = 0.0  # validating the files against the XSD, all processes
    validate_cpu_seconds: float = 0.0
    pack_cpu_seconds: float = 0.0  # compressing the archive

    def add(self, part: _Part) -> None:
        """A batch's files are in the archive: count them."""
        self.establishments.update(part.establishments)
        self.persons += part.persons
        self.left += part.left
        self.files += [name for name, _ in part.documents]
        self.notes += part.notes
        self.build_cpu_seconds += part.build_cpu_seconds
        self.validate_seconds += part.validate_seconds
        self.validate_cpu_seconds += part.validate_cpu_seconds

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
    (an export). On any error, whatever was written is removed and the error raised.

    Batches of establishments are built and validated by ``settings.processes`` forked processes
    (`hub.forked`); this one packs their files into the archive in batch order, so the archive does not
    depend on how many there are."""
    if mode not in MODES:
        raise HubError(f"unknown GAR mode {mode!r}: complet or delta")
    summary = Summary(mode, now().strftime("%Y%m%d_%H%M%S"))
    establishments = served(StoreView(engine), settings, uais)
    out.mkdir(parents=True, exist_ok=True)
    base = summary.base(settings.id_ent)
    archive, md5_file = out / f"{base}.tar.gz", out / f"{base}.md5"
    started = time.perf_counter()
    batches = roster.batches(establishments)
    try:
        with engine.begin() as conn:
            if pending:
                conn.execute(update(gar_sent).values(pending=None))
            for batch in batches:
                roster.draw_ids(conn, [e.uai for e in batch], settings.resp_aff)
            names = roster.Names.read(conn)
        work = partial(_part, engine, settings, names, summary.mode, pending, base, out if keep_files else None)
        parts = forked.ordered("GAR export", work, batches, settings.processes, on_start=partial(engine.dispose, False))
        # whom the delivery sends, kept apart from the parts: a part's files are let go once packed
        first_sent: list[tuple[str, int, str]] = []
        sent_again: list[tuple[str, int, str]] = []
        # compresslevel 1: twice as fast as the default 6, the archive ~15% larger (repetitive XML)
        with tarfile.open(archive, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as tar:
            for part in parts:
                packing = time.process_time()
                for name, content in part.documents:
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime = len(content), int(time.time())
                    tar.addfile(info, io.BytesIO(content))
                summary.pack_cpu_seconds += time.process_time() - packing
                summary.add(part)
                first_sent += part.new_sent
                sent_again += part.sent_again
        if pending:
            with engine.begin() as conn:
                _record_pending(conn, first_sent, sent_again)
        with open(archive, "rb") as data:
            summary.md5 = hashlib.file_digest(data, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
        md5_file.write_text(summary.md5)
        summary.archive = archive.name
    except BaseException:
        for path in [archive, md5_file, *out.glob(f"{base}_*.xml")]:
            path.unlink(missing_ok=True)
        raise
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass
class _Part:
    """What one batch of establishments adds to a delivery, built and validated by a worker process."""

    documents: list[tuple[str, bytes]]  # (file name, content): valid, in order
    establishments: dict[str, dict[str, int]]  # UAI -> counts per section
    persons: int
    left: int
    notes: list[str]
    new_sent: list[tuple[str, int, str]]  # (UAI, person id, digest): people this delivery sends for the first time
    sent_again: list[tuple[str, int, str]]  # the same, for people sent before
    build_cpu_seconds: float
    validate_seconds: float
    validate_cpu_seconds: float


def _part(
    engine: Engine,
    settings,
    names: roster.Names,
    mode: str,
    pending: bool,
    base: str,
    folder: Path | None,
    batch: list[Establishment],
) -> _Part:
    """A batch of establishments, read together (`roster.read`), then built one establishment at a time;
    every file validated, and written in ``folder`` when one is given."""
    started_cpu = time.process_time()
    uais = [est.uai for est in batch]
    part = _Part([], {}, 0, 0, [], [], [], 0.0, 0.0, 0.0)
    with engine.begin() as conn:
        feeds = roster.read(conn, batch, names, frozenset(settings.resp_aff_functions), settings.resp_aff)
        sent: dict[str, dict[int, str | None]] = {uai: {} for uai in uais}
        for uai, pid, digest in conn.execute(
            select(gar_sent.c.uai, gar_sent.c.person_id, gar_sent.c.digest).where(gar_sent.c.uai.in_(uais))
        ):
            sent[uai][pid] = digest
        for feed in feeds:
            uai = feed.establishment.uai
            entries = feed.entries
            if mode == "delta" or pending:
                digests = [entry.digest() for entry in entries]
                if mode == "delta":
                    kept = [(e, d) for e, d in zip(entries, digests, strict=True) if sent[uai].get(e.person_id) != d]
                    entries, digests = [e for e, _ in kept], [d for _, d in kept]
                for e, d in zip(entries, digests, strict=True):
                    (part.sent_again if e.person_id in sent[uai] else part.new_sent).append((uai, e.person_id, d))
            if sent[uai]:
                current = {e.person_id for e in feed.entries}
                part.left += sum(1 for pid, d in sent[uai].items() if pid not in current and d is not None)
            _write(settings, feed, entries, base, part)
            part.persons += len(entries)
            part.notes += feed.notes
    for name, content in part.documents if folder is not None else ():
        (folder / name).write_bytes(content)
    part.build_cpu_seconds = time.process_time() - started_cpu - part.validate_cpu_seconds
    return part


def _write(settings, feed: roster.EstablishmentFeed, entries: list[roster.Entry], base: str, part: _Part) -> None:
    """The five files of one establishment: records filed by section, each file in the schema's section order,
    split every ``max_nodes`` children, validated (timed apart)."""
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
        name = f"{base}_{uai}_{degree}_{file}"
        documents += [(f"{name}_{number:04d}.xml", content) for number, content in enumerate(parts, 1)]

    checked, checked_cpu = time.perf_counter(), time.process_time()
    owners = {e.gar_id: e.key for e in entries}
    for name, content in documents:
        xmlfiles.validate(name, content, schema, owners)
    part.validate_seconds += time.perf_counter() - checked
    part.validate_cpu_seconds += time.process_time() - checked_cpu

    part.documents += documents
    counts: dict[str, int] = defaultdict(int)
    for by_section in sections.values():
        for section, records in by_section.items():
            if records:
                counts[section] += len(records)
    part.establishments[uai] = dict(counts)


def _record_pending(conn, first_sent: list[tuple[str, int, str]], sent_again: list[tuple[str, int, str]]) -> None:
    """What this delivery sends, as (UAI, person id, digest), becomes ``pending`` (promoted to ``digest`` once
    acknowledged): one insert for the people sent for the first time, one update for the others."""
    if sent_again:
        conn.execute(
            update(gar_sent)
            .where(gar_sent.c.uai == bindparam("u"), gar_sent.c.person_id == bindparam("p"))
            .values(pending=bindparam("d")),
            [{"u": uai, "p": pid, "d": digest} for uai, pid, digest in sent_again],
        )
    if first_sent:
        conn.execute(
            insert(gar_sent),
            [{"uai": uai, "person_id": pid, "digest": None, "pending": digest} for uai, pid, digest in first_sent],
        )


def acknowledge(engine: Engine, summary: Summary) -> None:
    """The delivery reached GAR: what it sent becomes what GAR has (after a Complet, only that)."""
    uais = sorted(summary.establishments)
    with engine.begin() as conn:
        if summary.mode == "complet":
            conn.execute(delete(gar_sent).where(gar_sent.c.uai.in_(uais), gar_sent.c.pending.is_(None)))
        conn.execute(
            update(gar_sent).where(gar_sent.c.pending.is_not(None)).values(digest=gar_sent.c.pending, pending=None)
        )
