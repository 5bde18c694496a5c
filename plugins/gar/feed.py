"""One GAR delivery: the five files of every served establishment, validated, packed as ``.tar.gz`` + ``.md5``.

Files are named ``{id_ent}_GAR-ENT_{Complet|Delta}_{yyyyMMdd_HHmmss}_{UAI}_{2D|1D}_{file}_{NNNN}.xml``;
the archive ``{id_ent}_GAR-ENT_{mode}_{stamp}.tar.gz`` holds them all and ``….md5`` its MD5.
Establishments are read one at a time (`plugins.gar.roster`), so memory follows the
largest establishment, not the académie.

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
    write_cpu_seconds: float = 0.0  # the same in this process's CPU time (a busy machine inflates wall time)
    validate_cpu_seconds: float = 0.0

    def base(self, id_ent: str) -> str:
        """The delivery's name, first part of every file's."""
        return f"{id_ent}_GAR-ENT_{self.mode.capitalize()}_{self.stamp}"

    def counts(self) -> dict[str, int]:
        return {"establishments": len(self.establishments), "persons": self.persons, "left": self.left,
                "files": len(self.files)}

    def line(self) -> str:
        return (f"GAR {self.mode} {self.stamp}: {len(self.establishments)} establishment(s), {self.persons} person(s), "
                f"{len(self.files)} file(s) in {self.archive}" + (f", {self.left} left" if self.left else ""))


def served(store: StoreView, settings, uais: list[str] | None = None) -> list[Establishment]:
    """The establishments GAR gets (settings ``uais`` or ``establishment_kinds``), or those of ``uais`` among them."""
    found = [e for e in store.establishment_list(frozenset(settings.establishment_kinds)) if not e.pseudo
             and (settings.uais is None or e.uai in settings.uais)]
    if uais:
        unknown = sorted(set(uais) - {e.uai for e in found})
        if unknown:
            raise HubError(f"GAR does not serve {', '.join(unknown)} (not stored, or outside [plugins.gar] uais / "
                           "establishment_kinds)")
        found = [e for e in found if e.uai in uais]
    return found


def build(engine: Engine, settings, out: Path, mode: str, uais: list[str] | None = None, *,
          pending: bool = False, keep_files: bool = True) -> Summary:
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
    written = [archive]

    def keep(name: str, content: bytes) -> None:
        """A validated file: into the archive, and beside it with ``keep_files``."""
        info = tarfile.TarInfo(name)
        info.size, info.mtime = len(content), int(time.time())
        tar.addfile(info, io.BytesIO(content))
        summary.files.append(name)
        if keep_files:
            written.append(out / name)
            written[-1].write_bytes(content)

    try:
        if pending:
            with engine.begin() as conn:
                conn.execute(update(gar_sent).values(pending=None))
        with engine.connect() as conn:
            names = roster.Names.read(conn)
        with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
            for est in establishments:
                _establishment(engine, settings, est, names, summary, keep, pending)
        with open(archive, "rb") as data:
            summary.md5 = hashlib.file_digest(data, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()
        written.append(md5_file)
        md5_file.write_text(summary.md5)
        summary.archive = archive.name
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return summary


def _establishment(engine: Engine, settings, est: Establishment, names: roster.Names, summary: Summary,
                   keep, pending: bool) -> None:
    started, started_cpu = time.perf_counter(), time.process_time()
    functions = frozenset(settings.resp_aff_functions)
    keys = frozenset(settings.resp_aff.get(est.uai, ()))
    with engine.begin() as conn:
        feed = roster.read_establishment(conn, est, names, functions, keys)
        sent = dict(conn.execute(select(gar_sent.c.person_id, gar_sent.c.digest)
                                 .where(gar_sent.c.uai == est.uai)).all())
        digests = {e.person_id: e.digest() for e in feed.entries} if summary.mode == "delta" or pending else {}
        entries = feed.entries if summary.mode == "complet" else \
            [e for e in feed.entries if sent.get(e.person_id) != digests[e.person_id]]
        current = {e.person_id for e in feed.entries}
        summary.left += sum(1 for pid, digest in sent.items() if pid not in current and digest is not None)
        schema = xmlfiles.schema(feed.degree)
        owners = {e.gar_id: e.key for e in entries}
        buckets: dict[tuple[str, str], list] = {}
        for f, s, items in feed.shared:
            buckets.setdefault((f, s), []).append((items, f"establishment {est.uai}"))
        for entry in entries:
            owner = f"person {entry.key}"
            for f, s, items in entry.records:
                buckets.setdefault((f, s), []).append((items, owner))
        counts: dict[str, int] = {}
        validate_seconds = validate_cpu = 0.0
        for file, root, sections in roster.FILES[feed.degree]:
            name = f"{summary.base(settings.id_ent)}_{est.uai}_{feed.degree}_{file}"
            writer = xmlfiles.SplitWriter(schema, root, lambda n, name=name: f"{name}_{n:04d}.xml",
                                          version=settings.version, max_nodes=settings.max_nodes)
            for section in sections:
                for items, owner in buckets.get((file, section), ()):
                    writer.add(section, items, owner)
            counts.update(writer.counts)
            for part, content in writer.close():
                checked, checked_cpu = time.perf_counter(), time.process_time()
                xmlfiles.validate(part, content, schema, owners)
                validate_seconds += time.perf_counter() - checked
                validate_cpu += time.process_time() - checked_cpu
                keep(part, content)
        if pending:
            _record_pending(conn, est.uai, entries, sent, digests)
    summary.establishments[est.uai] = counts
    summary.persons += len(entries)
    summary.notes += feed.notes
    summary.validate_seconds += validate_seconds
    summary.write_seconds += time.perf_counter() - started - validate_seconds
    summary.validate_cpu_seconds += validate_cpu
    summary.write_cpu_seconds += time.process_time() - started_cpu - validate_cpu


def _record_pending(conn, uai: str, entries: list[roster.Entry], sent: dict[int, str | None],
                    digests: dict[int, str]) -> None:
    old = [{"u": uai, "p": e.person_id, "d": digests[e.person_id]} for e in entries if e.person_id in sent]
    new = [{"uai": uai, "person_id": e.person_id, "digest": None, "pending": digests[e.person_id]}
           for e in entries if e.person_id not in sent]
    if old:
        conn.execute(update(gar_sent).where(gar_sent.c.uai == bindparam("u"), gar_sent.c.person_id == bindparam("p"))
                     .values(pending=bindparam("d")), old)
    if new:
        conn.execute(insert(gar_sent), new)


def acknowledge(engine: Engine, summary: Summary) -> None:
    """The delivery reached GAR: what it sent becomes what GAR has (after a Complet, only that)."""
    uais = sorted(summary.establishments)
    with engine.begin() as conn:
        if summary.mode == "complet":
            conn.execute(delete(gar_sent).where(gar_sent.c.uai.in_(uais), gar_sent.c.pending.is_(None)))
        conn.execute(update(gar_sent).where(gar_sent.c.pending.is_not(None))
                     .values(digest=gar_sent.c.pending, pending=None))
