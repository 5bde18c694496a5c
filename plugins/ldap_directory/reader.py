"""Read an académie LDAP directory (ENT/SDET attribute names) as a stream of `hub.model` items.

Entries come through a paged search (RFC 2696) and are turned into records one at a
time, so memory holds one page whatever the directory's size. Structures are read
first, then people; `plugins.ldap_directory.presets` says how the directory lays them out.
Only one search is open on the connection at a time (a server drops a paged search's
cookie when another search runs beside it): what the people need is learned before
their search starts — in an incremental read, every structure's DN and id (a few
thousand small entries); with the ``esco`` preset, every parent's uid and jointure.
A full read is a snapshot (``Feed.complete``); with ``since``, only
the entries whose ``modifyTimestamp`` is at or after it are read. That timestamp has a
one-second resolution, so the boundary second is read again: the core's diff makes those
repeats no-ops. The new cursor is the latest ``modifyTimestamp`` the read saw; it is set
on the feed once the items are exhausted, before the core saves it. An entry changed while
a read is under way, after the read passed it, may carry a timestamp older than that
cursor and be missed by the next incremental read: schedule a full read (``--full``) now
and then, which also is the only way deletions are seen.

An unusable entry becomes a `Rejected` item naming its DN and the stream goes on. A
directory that cannot be read whole (bind refused, server down, size or time limit hit,
referral, connection lost) raises `SourceError`: a partial read is not a snapshot, and
the core applies nothing. The searching itself is the client's (`connection.Directory`:
ldap3 or python-ldap, ``[plugins.ldap] client``); both yield the same entries, so what
is read here does not depend on the client.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import date

from ldap3.utils.conv import escape_filter_chars

from hub import forked
from hub.errors import SourceError
from hub.hookspecs import Feed
from hub.model import (
    Enrollment,
    Establishment,
    Group,
    GroupKind,
    Guardianship,
    Membership,
    Person,
    PersonKind,
    Rejected,
)
from hub.sdet import (
    BIRTH_DATE,
    HUB_SECTEUR,
    HUB_ZONE,
    UAI_LIKE,
    establishment_kind,
    functions,
    guardians,
    person_kind,
    teaching_assignments,
)
from hub.sync import reader_process
from plugins.ldap_directory.connection import NOT_TEXT, Directory, open_directory
from plugins.ldap_directory.presets import (
    DEFAULT_ATTRIBUTES,
    PARENT_PROFILES,
    PERSON_ATTRIBUTES,
    PRESETS,
    STRUCTURE_ATTRIBUTES,
    TIMESTAMP,
    jointure_key,
)

__all__ = ["DEFAULT_ATTRIBUTES", "DirectoryReader", "read_feed"]

GENERALIZED_TIME = re.compile(r"^\d{14}(?:[.,]\d{1,6})?Z$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
NO_VALUES: list[str] = []  # what `DirectoryReader.values` gives for an attribute an entry lacks; never changed


class Reject(Exception):
    """An entry the reader cannot turn into an item; becomes `Rejected`."""


def birth_date(value: str, attribute: str) -> date | None:
    """ENTPersonDateNaissance: JJ/MM/AAAA as in the AAF (AAAA-MM-JJ is accepted too)."""
    if not value:
        return None
    if m := BIRTH_DATE.match(value):
        day, month, year = m[1], m[2], m[3]
    elif m := ISO_DATE.match(value):
        year, month, day = m[1], m[2], m[3]
    else:
        raise Reject(f"{attribute} {value!r} is not a date (JJ/MM/AAAA)")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise Reject(f"{attribute} {value!r} is not a date (JJ/MM/AAAA)") from None


def read_feed(settings, *, since: str | None, school_year: int) -> Feed:
    """Bind now (errors surface at once); read lazily as the core iterates the items.

    ``settings.second_process``: read in a child process (`hub.sync.reader_process`) while
    the core works; None (default) does so for full reads, where it pays for its start.
    """
    if since is not None and not GENERALIZED_TIME.match(since):
        raise SourceError(
            f"the stored LDAP cursor {since!r} is not a timestamp (AAAAMMJJhhmmssZ); run `hub sync ldap --full` once"
        )
    reader = DirectoryReader(settings, school_year)
    directory = open_directory(settings)
    what = "full read" if since is None else f"entries modified since {since}"
    feed = Feed(
        items=(),
        complete=since is None,
        cursor=since,
        description=f"LDAP {settings.url}: {what} under {settings.base_dn}",
        details={
            "url": settings.url,
            "base_dn": settings.base_dn,
            "since": since,
            "preset": settings.preset,
            "people_filter": settings.people_filter,
            "structures_filter": settings.structures_filter,
        },
    )
    second_process = since is None if settings.second_process is None else settings.second_process
    jointure = reader.names.get("ENTPersonJointure", "ENTPersonJointure")
    if second_process and forked.available():
        if since is None and (os.cpu_count() or 1) > 1 and _splits_exactly(directory, jointure):
            feed.items = _people_in_children(reader, directory, feed, jointure)
            feed.description += ", people read by 2 child processes"
        else:
            directory.close()  # the child binds its own: one LDAP session is never shared by two processes
            feed.items = reader_process.items_in_child(
                "LDAP", lambda: reader.items(open_directory(reader.settings), feed, since), lambda: feed.cursor,
                lambda cursor: setattr(feed, "cursor", cursor))
            feed.description += ", read in a second process"
    else:
        feed.items = reader.items(directory, feed, since)
    return feed


PART_NUMBERS = 1 << 29  # items numbered per part of the people (`_people_in_children`): a quarter of seq's range
FIRST_HALF = "01234"  # the last character of the jointures of the people the first part reads


def _splits_exactly(directory: Directory, attribute: str) -> bool:
    """Whether the server's schema gives ``attribute`` a substring rule of its own: only then does every
    person match exactly one of `_people_in_children`'s parts. Without one, a substring filter is
    Undefined, and so is its negation: the people would match neither, and a complete read that misses
    them deletes them. Anything unsure (no schema readable, the rule inherited) reads in one child."""
    for definition in directory.attribute_types():
        names = re.search(r"NAME\s+(\([^)]*\)|'[^']*')", definition)
        if names and f"'{attribute.lower()}'" in names[1].lower():
            return " SUBSTR " in definition
    return False


def _people_in_children(reader: DirectoryReader, directory: Directory, feed: Feed,
                        jointure: str) -> reader_process.InChild:
    """A full read on two cores: the structures (and the parents' uids) first, in the core, on ``directory``;
    then the people in two parts, by the last character of their jointure, each searched on its own
    connection by a child (`hub.sync.reader_process`), which also turns them into staged rows. On two cores
    the reading child was the slower side of a million-person sync. The read's cursor is the latest stamp
    either part saw. ``jointure``: the server's name for the jointure attribute."""
    first = "(|" + "".join(f"({jointure}=*{c})" for c in FIRST_HALF) + ")"
    parts = [first, f"(!{first})"]  # every person in one of them, a jointure or not
    items = reader_process.shared_out(
        len(parts), lambda i: i * PART_NUMBERS,
        lambda i: reader.people(open_directory(reader.settings), feed, None, parts[i]))

    def latest(cursor: str | None) -> None:
        feed.cursor = max(filter(None, (feed.cursor, cursor)), default=None)

    return reader_process.InChild("LDAP", items, lambda: feed.cursor, latest,
                                  before=reader.context(directory, None), children=2)


class DirectoryReader:
    """Turns the entries of one read into items; keeps the structure keys (UAI, DN, jointure → UAI)."""

    def __init__(self, settings, school_year: int):
        self.settings = settings
        self.school_year = school_year
        self.preset = PRESETS[settings.preset]
        self.names = {k: v for k, v in settings.attributes.items() if v}  # SDET name -> server's name
        self.keys = {k: v.lower() for k, v in self.names.items()}  # SDET name -> key in an entry's dict
        self.structures: dict[str, str] = {}  # lower-cased DN or structure id -> UAI
        self.parents: dict[str, str] = {}  # lower-cased uid (or DN, when not named by its uid) -> jointure
        self.kinds: dict[tuple[str, ...], PersonKind | None] = {}  # ENTPersonProfils values -> kind
        self.cursor: str | None = None
        self.doing = ""
        self.directory: Directory | None = None

    # --- reading ---------------------------------------------------------------------

    def items(self, directory: Directory, feed: Feed, since: str | None) -> Iterator:
        """Structures, then people; sets ``feed.cursor`` once everything was read."""
        try:
            yield from self.context(directory, since, close=False)
        except BaseException:
            directory.close()
            raise
        yield from self.people(directory, feed, since)

    def context(self, directory: Directory, since: str | None, *, close: bool = True) -> Iterator:
        """The structures, and what the people need known first (structure keys, parents' uids)."""
        self.directory, self.cursor = directory, since
        s = self.settings
        try:
            for dn, a in self.search(
                s.structures_dn or s.base_dn, s.structures_filter, STRUCTURE_ATTRIBUTES, since, "structures"
            ):
                try:
                    yield self.establishment(dn, a)
                except Reject as exc:
                    yield Rejected(dn, str(exc))
            if since is not None:  # the changed people may name structures this read did not see
                self.learn_structures()
            if self.preset.parents_by_uid:
                self.learn_parents()
        finally:
            if close:
                directory.close()

    def people(self, directory: Directory, feed: Feed, since: str | None, part: str = "") -> Iterator:
        """The people (those ``part``, a filter, also matches); sets ``feed.cursor`` once they were read."""
        self.directory = directory
        s = self.settings
        flt = f"(&{s.people_filter}{part})" if part else s.people_filter
        try:
            for dn, a in self.search(s.people_dn or s.base_dn, flt, PERSON_ATTRIBUTES, since, "people"):
                try:
                    yield self.person(dn, a)
                except Reject as exc:
                    yield Rejected(dn, str(exc), self.rejected_key(a))
            feed.cursor = self.cursor
        finally:
            directory.close()

    def search(
        self, base: str, flt: str, wanted: Iterable[str], since: str | None, what: str, *, learning: bool = False
    ) -> Iterator[tuple[str, dict]]:
        """(DN, {lower-cased attribute: values}) of each entry, one page in memory at a time.

        A ``learning`` search reads context (keys of entries the read may name), not
        changes: it does not move the cursor.
        """
        self.doing = f"reading {what} under {base}"
        if since is not None:
            stamp = self.names.get(TIMESTAMP, TIMESTAMP)
            flt = f"(&{flt}({stamp}>={escape_filter_chars(since)}))"
        attributes = [self.names[n] for n in (*wanted, *(() if learning else (TIMESTAMP,))) if n in self.names]
        stamp_key = None if learning else self.keys.get(TIMESTAMP)
        for dn, a in self.directory.search(base, flt, attributes, self.doing):
            if stamp_key and (stamps := a.get(stamp_key)) and (self.cursor is None or stamps[0] > self.cursor):
                self.cursor = stamps[0]
            yield dn, a

    # --- values ----------------------------------------------------------------------

    def values(self, a: dict, name: str) -> list[str]:
        """The attribute's values (text, stripped, no blank ones: `connection.texts`); do not change the list."""
        return a.get(self.keys.get(name), NO_VALUES)

    def first(self, a: dict, name: str) -> str:
        found = self.values(a, name)
        return found[0] if found else ""

    def mandatory(self, a: dict, name: str) -> str:
        value = self.first(a, name)
        if not value:
            raise Reject(f"missing mandatory attribute {self.names.get(name, name)}")
        return value

    # --- records ---------------------------------------------------------------------

    def jointure(self, a: dict) -> str:
        """The person's key: the ENTPersonJointure of the first of ``jointure_sources``, its prefix cut."""
        return jointure_key(self.values(a, "ENTPersonJointure"), self.settings.jointure_sources)

    def rejected_key(self, a: dict) -> str:
        """The key a rejected person is journaled under, when they have a jointure."""
        jointure = self.jointure(a)
        return f"jnt:{jointure}" if jointure else ""

    def establishment(self, dn: str, a: dict) -> Establishment:
        if NOT_TEXT in a:
            raise Reject(f"{a[NOT_TEXT]} holds a value that is not UTF-8 text")
        uai = self.mandatory(a, "ENTStructureUAI").upper()
        self.remember_structure(dn, a, uai)
        groups = [
            Group(uai, tokens[0], kind, tokens[1] if len(tokens) > 1 else "")
            for name, kind in (("ENTStructureClasses", GroupKind.DIVISION), ("ENTStructureGroupes", GroupKind.GROUPE))
            for tokens in (v.split("$") for v in self.values(a, name))
        ]
        return Establishment(
            uai, self.first(a, "ENTStructureNomCourant"), establishment_kind(self.first(a, "ENTStructureTypeStruct")),
            commune=self.first(a, "l"), secteur_college=self.first(a, HUB_SECTEUR).upper() or None,
            zone=self.first(a, HUB_ZONE) or None, territorial_unit=self.first(a, "ENTEtablissementBassin") or None,
            groups=groups, source_ref=dn,
        )  # fmt: skip

    def person(self, dn: str, a: dict) -> Person:
        if NOT_TEXT in a:
            raise Reject(f"{a[NOT_TEXT]} holds a value that is not UTF-8 text")
        jointure = self.jointure(a)
        if not jointure:
            found = self.values(a, "ENTPersonJointure")
            if not found:
                raise Reject(f"missing mandatory attribute {self.names.get('ENTPersonJointure')}")
            raise Reject(
                f"no {self.names.get('ENTPersonJointure')} from {' or '.join(self.settings.jointure_sources)} "
                f"(found {', '.join(found)}); plugins.ldap.jointure_sources lists the sources whose keys are kept"
            )
        profiles = self.values(a, "ENTPersonProfils")
        if (key := tuple(profiles)) not in self.kinds:  # a directory has a handful of distinct lists
            self.kinds[key] = person_kind(profiles)
        kind = self.kinds[key]
        if kind is None:
            shown = ", ".join(profiles) if profiles else "none"
            raise Reject(
                f"unknown profile in {self.names.get('ENTPersonProfils')} ({shown}): expected "
                "National_ELV, National_TUT, National_ENS, National_DOC, National_DIR, National_EVS…"
            )
        last, first = self.mandatory(a, "sn"), self.mandatory(a, "givenName")
        attachment = self.first(a, "ENTPersonStructRattach")
        common = dict(
            jointure=jointure, email=self.first(a, "mail") or None, source_ref=dn,
            birth_date=birth_date(self.first(a, "ENTPersonDateNaissance"), self.names.get("ENTPersonDateNaissance")),
            uai=self.resolve(attachment, "ENTPersonStructRattach") if attachment else None,
        )  # fmt: skip
        if kind == PersonKind.PARENT:
            return Person(kind, last, first, **common)
        if kind != PersonKind.ELEVE:
            assignments = teaching_assignments(
                self.keyed(a, "ENTAuxEnsClassesMatieres") + self.keyed(a, "ENTAuxEnsGroupesMatieres"),
                self.keyed(a, "ENTAuxEnsClasses") + self.keyed(a, "ENTAuxEnsGroupes"),
                self.keyed(a, "ENTAuxEnsClassesPrincipal"),
            )
            staff_functions = functions(
                self.values(a, "ENTPersonFonctions"), lambda key: self.resolve(key, "ENTPersonFonctions")
            )
            return Person(kind, last, first, assignments=assignments, functions=staff_functions, **common)
        classes, groups = self.keyed(a, "ENTEleveClasses"), self.keyed(a, "ENTEleveGroupes")
        uai = common["uai"] = common["uai"] or (classes[0][0] if classes else None)
        niveau = self.first(a, "ENTEleveNivFormation") or self.first(a, "ENTEleveLibelleMEF")
        division = classes[0][1] if classes else ""
        subjects = tuple(sorted(set(self.values(a, "ENTEleveCodeEnseignements"))))  # codes, in no given order
        mef = self.first(a, "ENTEleveMEF")
        enrollment = Enrollment(self.school_year, uai, mef, niveau, division, subjects) if uai else None
        memberships = tuple(Membership(u, code, GroupKind.DIVISION) for u, code, _ in classes) + tuple(
            Membership(u, code, GroupKind.GROUPE) for u, code, _ in groups
        )
        return Person(
            kind, last, first, ine=self.first(a, "ENTEleveINE") or None, enrollment=enrollment,
            memberships=memberships, guardians=self.guardians(a), **common,
        )  # fmt: skip

    def guardians(self, a: dict) -> tuple[Guardianship, ...]:
        """ENTElevePersRelEleve (or ENTEleveAutoriteParentale); parents named by uid or DN as their jointure."""
        links, legal = self.values(a, "ENTElevePersRelEleve"), self.values(a, "ENTEleveAutoriteParentale")
        if self.preset.parents_by_uid:
            tokens = (_split_dn_key(v) if "=" in v else v.split("$") for v in links)
            links = ["$".join((self.parent_key(t[0]), *t[1:])) for t in tokens]
            legal = [self.parent_key(v) for v in legal]
        return guardians(links, legal)

    def parent_key(self, ref: str) -> str:
        """The jointure of the parent a uid or DN names; the reference itself when unknown, so that the
        core reports that guardian as not known."""
        if "=" not in ref:
            return self.parents.get(ref.strip().lower(), ref)
        dn = _dn_key(ref)
        attribute, _, value = dn.split(",", 1)[0].partition("=")
        return (self.parents.get(value) if attribute == "uid" else None) or self.parents.get(dn, ref)

    def keyed(self, a: dict, name: str) -> list[tuple[str, str, str]]:
        """``structKey$code[$subject]`` values as (UAI, code, subject)."""
        result = []
        for value in self.values(a, name):
            tokens = _split_dn_key(value) if "=" in value else value.split("$")
            if len(tokens) < 2 or not tokens[1]:
                raise Reject(f"{self.names.get(name, name)} value {value!r} is not structKey$code")
            result.append((self.resolve(tokens[0], name), tokens[1], tokens[2] if len(tokens) > 2 else ""))
        return result

    def resolve(self, key: str, attribute: str) -> str:
        """The UAI a structKey names: a UAI itself, or the DN or id of a structure of the directory."""
        if UAI_LIKE.match(key.upper()):
            return key.upper()
        uai = self.structures.get(_dn_key(key))
        if uai is None:
            raise Reject(f"unknown structure {key!r} in {self.names.get(attribute, attribute)}")
        return uai

    def remember_structure(self, dn: str, a: dict, uai: str) -> None:
        """A structure's DN and ids (each ENTStructureJointure value, with and without its source prefix) -> UAI."""
        self.structures[_dn_key(dn)] = uai
        for jointure in self.values(a, "ENTStructureJointure"):
            stripped = jointure.partition("$")[2] or jointure
            self.structures[jointure.lower()] = self.structures[stripped.lower()] = uai

    def learn_structures(self) -> None:
        """Map every structure's DN and id to its UAI (an incremental read names structures it did not read)."""
        s = self.settings
        keys = ("ENTStructureUAI", "ENTStructureJointure")
        for dn, a in self.search(
            s.structures_dn or s.base_dn, s.structures_filter, keys, None, "structure keys", learning=True
        ):
            if uai := self.first(a, "ENTStructureUAI").upper():
                self.remember_structure(dn, a, uai)

    def learn_parents(self) -> None:
        """Map every parent's uid (and DN, when its RDN is not that uid) to their jointure.

        One dict entry per parent, about 200 bytes (20 MB for 100,000 parents); read in full
        by incremental reads too, since a changed pupil may name any parent.
        """
        s = self.settings
        profile = self.names.get("ENTPersonProfils", "ENTPersonProfils")
        flt = f"(&{s.people_filter}(|{''.join(f'({profile}={p})' for p in PARENT_PROFILES)}))"
        for dn, a in self.search(
            s.people_dn or s.base_dn, flt, ("uid", "ENTPersonJointure"), None, "parents' uids", learning=True
        ):
            if not (jointure := self.jointure(a)):
                continue
            uid, key = self.first(a, "uid").lower(), _dn_key(dn)
            if uid:
                self.parents[uid] = jointure
            if not uid or not key.startswith(f"uid={uid},"):
                self.parents[key] = jointure


def _dn_key(dn: str) -> str:
    """A DN (or id) in the form used as a map key: lower case, no spaces around separators."""
    return ",".join("=".join(p.strip() for p in rdn.split("=", 1)) for rdn in dn.lower().split(","))


def _split_dn_key(value: str) -> list[str]:
    """``<structure DN>$code[$subject]``: the DN may hold no ``$``, the rest is split on it."""
    dn_end = value.find("$", value.rfind("="))
    if dn_end < 0:
        return [value]
    return [value[:dn_end], *value[dn_end + 1 :].split("$")]
