"""Read-only questions about the stored state, shared by targets (through their delivery context) and the console.

Answers are `hub.model` records; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from hub.model import Establishment, EstablishmentKind, Nomenclature, NomenclatureKind, Person, PersonStatus
from hub.store import records
from hub.store.tables import establishment, guardianship, nomenclature, person


@dataclass
class Roster:
    """One establishment with its groups (``establishment.groups``), the active people attached to it
    and the parents of its pupils."""

    establishment: Establishment
    people: list[Person]
    parents: list[Person]


class StoreView:
    """What a target or a page may ask the store; each call is its own short read."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def establishment(self, uai: str) -> Establishment | None:
        with self.engine.connect() as conn:
            return records.load_establishment(conn, uai)

    def people(self, keys: list[str]) -> dict[str, Person]:
        with self.engine.connect() as conn:
            return records.load_people(conn, keys)

    def roster(self, uai: str) -> Roster | None:
        p, g, child = person, guardianship, person.alias("child")
        active = p.c.status == PersonStatus.ACTIVE
        with self.engine.connect() as conn:
            where = records.load_establishment(conn, uai)
            if where is None:
                return None
            keys = list(conn.execute(select(p.c.person_key).where(p.c.uai == uai, active)
                                     .order_by(p.c.person_key)).scalars())
            parent_keys = list(conn.execute(
                select(p.c.person_key).distinct().join(g, g.c.parent_id == p.c.id)
                .join(child, child.c.id == g.c.pupil_id)
                .where(child.c.uai == uai, child.c.status == PersonStatus.ACTIVE, active)
                .order_by(p.c.person_key)).scalars())
            people = records.load_people(conn, keys + parent_keys)
        return Roster(where, [people[k] for k in keys], [people[k] for k in parent_keys])

    def establishments(self, kinds: frozenset[str] | None = None) -> list[str]:
        """The UAIs stored, of these kinds (all when None)."""
        query = select(establishment.c.uai).order_by(establishment.c.uai)
        if kinds is not None:
            query = query.where(establishment.c.kind.in_(sorted(kinds)))
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def establishment_list(self, kinds: frozenset[str] | None = None) -> list[Establishment]:
        """Every stored establishment of these kinds (all when None), by UAI, without their groups."""
        e = establishment
        query = select(e).order_by(e.c.uai)
        if kinds is not None:
            query = query.where(e.c.kind.in_(sorted(kinds)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Establishment(r.uai, r.name, EstablishmentKind(r.kind), r.commune, r.secteur_college, r.zone,
                              r.territorial_unit, pseudo=r.pseudo) for r in rows]

    def nomenclature(self, kind: NomenclatureKind) -> list[Nomenclature]:
        n = nomenclature
        with self.engine.connect() as conn:
            rows = conn.execute(select(n).where(n.c.kind == kind).order_by(n.c.code)).all()
        return [Nomenclature(NomenclatureKind(r.kind), r.code, r.label, r.national_code, r.niveau, r.filiere)
                for r in rows]
