"""The indicators the départements steer by, per establishment or per département (the UAI's first three digits).

- connection rate: distinct people who logged in through the hub's SSO over the window
  (table login_event, filled by hub/sso) / the active accounts (people) of the same
  establishment and profile (person kind); also week by week;
- accounts activated: active people who have logged in at least once;
- families reached: pupils with at least one parent who has an account, and those parents;
- people per target: active people a target holds an id for (target_link), e.g. GAR-enabled users.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import Connection, Date, Integer, cast, func, select

from hub.clock import now
from hub.model import PersonKind, PersonStatus
from hub.store.tables import establishment, guardianship, login_event, person, target_link

BY = ("establishment", "departement")
ALL = "all"


@dataclass
class Rate:
    scope: str  # a UAI, or a département code (001 … 976)
    name: str
    profile: str  # a person kind, or "all"
    accounts: int
    activated: int
    active_users: int  # distinct people who logged in over the window

    @property
    def rate(self) -> float:
        return self.active_users / self.accounts if self.accounts else 0.0

    @property
    def activated_share(self) -> float:
        return self.activated / self.accounts if self.accounts else 0.0


@dataclass
class Families:
    scope: str
    name: str
    pupils: int
    reached: int  # pupils with at least one parent holding an account
    parents: int  # parents with an account, of those pupils

    @property
    def share(self) -> float:
        return self.reached / self.pupils if self.pupils else 0.0


def _scope(column, by: str):
    if by not in BY:
        raise ValueError(f"indicators by {by!r}: use one of {', '.join(BY)}")
    return column if by == "establishment" else func.substr(column, 1, 3)


def _names(conn: Connection, by: str) -> dict[str, str]:
    if by == "departement":
        return {}
    return dict(conn.execute(select(establishment.c.uai, establishment.c.name)).all())


def _active():
    return person.c.status == PersonStatus.ACTIVE


def connection_rates(conn: Connection, by: str, since: datetime) -> list[Rate]:
    """One row per scope and profile, plus one per scope for all profiles, the scopes in order."""
    p, le = person, login_event
    scope = _scope(p.c.uai, by).label("scope")
    accounts = conn.execute(select(scope, p.c.kind, func.count()).where(_active(), p.c.uai.is_not(None))
                            .group_by(scope, p.c.kind)).all()
    ever = select(le.c.id).where(le.c.person_key == p.c.person_key).exists()  # one index probe per person
    activated = dict(((s, k), n) for s, k, n in conn.execute(
        select(scope, p.c.kind, func.count()).where(_active(), ever).group_by(scope, p.c.kind)).all())
    seen = _seen(_scope(le.c.uai, by), le.c.at >= since)
    users = dict(((s, k), n) for s, k, n in conn.execute(
        select(seen.c.key, seen.c.profile, func.count()).group_by(seen.c.key, seen.c.profile)).all())
    names = _names(conn, by)
    rows: dict[str, list[Rate]] = {}
    for s, kind, n in accounts:
        rows.setdefault(s, []).append(Rate(s, names.get(s, s), kind, n, activated.get((s, kind), 0),
                                           users.get((s, kind), 0)))
    result = []
    for s in sorted(rows):
        per_kind = sorted(rows[s], key=lambda r: _kind_order(r.profile))
        result.append(Rate(s, names.get(s, s), ALL, *(sum(getattr(r, f) for r in per_kind)
                                                       for f in ("accounts", "activated", "active_users"))))
        result += per_kind
    return result


def _seen(key, *where):
    """Each person once per ``key`` (a scope, a week) and profile among the logins ``where``: counting its rows
    counts distinct users, with one sort of the window's logins (read from ix_login_event_window) rather than
    one per group."""
    le = login_event
    return select(key.label("key"), le.c.profile, le.c.person_key).where(*where).distinct().subquery()


def _kind_order(kind: str) -> int:
    kinds = [k.value for k in PersonKind]
    return kinds.index(kind) if kind in kinds else len(kinds)


FIRST_MONDAY = date(1970, 1, 5)  # SQLite numbers weeks from this one (julian day 2440591.5)


def _week(conn: Connection, column):
    """The week of ``column``, Monday to Sunday: its Monday on PostgreSQL; on SQLite its number since FIRST_MONDAY
    (arithmetic on the julian day costs less than date()'s modifiers over months of logins). See `_monday`."""
    if conn.dialect.name == "sqlite":
        return cast((func.julianday(column) - 2440591.5) / 7, Integer)
    return cast(func.date_trunc("week", column), Date)


def _monday(week) -> str:
    """The Monday (YYYY-MM-DD) of a week as `_week` gives it."""
    return (FIRST_MONDAY + timedelta(weeks=week)).isoformat() if isinstance(week, int) else str(week)[:10]


def weekly_rates(conn: Connection, by: str, scope: str | None, since: datetime) -> dict[str, list[tuple[str, float]]]:
    """Per profile (and "all"), the week-by-week connection rate of one scope (None: the whole store)."""
    p, le = person, login_event
    week = _week(conn, le.c.at)
    where = [le.c.at >= since]
    account_where = [_active(), p.c.uai.is_not(None)]
    if scope:
        where.append(_scope(le.c.uai, by) == scope)
        account_where.append(_scope(p.c.uai, by) == scope)
    accounts = dict(conn.execute(select(p.c.kind, func.count()).where(*account_where).group_by(p.c.kind)).all())
    seen = _seen(week, *where)
    counts = conn.execute(select(seen.c.key, seen.c.profile, func.count()).group_by(seen.c.key, seen.c.profile)).all()
    weeks = _weeks(since)
    series: dict[str, dict[str, float]] = {}
    everyone: dict[str, int] = {}  # a person has one profile: the profiles' counts add up
    for w, profile, n in counts:
        series.setdefault(profile, {})[_monday(w)] = n / accounts[profile] if accounts.get(profile) else 0.0
        everyone[_monday(w)] = everyone.get(_monday(w), 0) + n
    total = sum(accounts.values())
    series[ALL] = {w: n / total if total else 0.0 for w, n in everyone.items()}
    order = sorted(series, key=lambda k: (k != ALL, _kind_order(k)))
    return {k: [(w, series[k].get(w, 0.0)) for w in weeks] for k in order}


def _weeks(since: datetime) -> list[str]:
    monday = since.date() - timedelta(days=since.weekday())
    today = datetime.now(since.tzinfo).date()
    weeks = []
    while monday <= today:
        weeks.append(monday.isoformat())
        monday += timedelta(days=7)
    return weeks


def families(conn: Connection, by: str) -> list[Families]:
    """Per scope: active pupils, those with a parent holding an account, and those parents."""
    pupil, parent, g = person.alias("pupil"), person.alias("parent"), guardianship
    scope = _scope(pupil.c.uai, by).label("scope")
    pupil_active = (pupil.c.status == PersonStatus.ACTIVE, pupil.c.kind == PersonKind.ELEVE, pupil.c.uai.is_not(None))
    pupils = dict(conn.execute(select(scope, func.count()).where(*pupil_active).group_by(scope)).all())
    linked = (select(scope, func.count(pupil.c.id.distinct()), func.count(parent.c.id.distinct()))
              .select_from(pupil.join(g, g.c.pupil_id == pupil.c.id).join(parent, parent.c.id == g.c.parent_id))
              .where(*pupil_active, parent.c.status == PersonStatus.ACTIVE).group_by(scope))
    reached = {s: (children, adults) for s, children, adults in conn.execute(linked).all()}
    names = _names(conn, by)
    return [Families(s, names.get(s, s), n, *reached.get(s, (0, 0))) for s, n in sorted(pupils.items())]


def target_reach(conn: Connection, by: str) -> dict[str, dict[str, int]]:
    """Per scope, per target: active people the target holds an account id for."""
    p, t = person, target_link
    scope = _scope(p.c.uai, by).label("scope")
    rows = conn.execute(select(scope, t.c.target, func.count()).join(p, p.c.person_key == t.c.key)
                        .where(t.c.entity == "person", _active(), p.c.uai.is_not(None))
                        .group_by(scope, t.c.target)).all()
    reach: dict[str, dict[str, int]] = {}
    for s, target, n in rows:
        reach.setdefault(s, {})[target] = n
    return reach


@dataclass
class Snapshot:
    """Every indicator of one view, as computed at one moment (the console keeps it a few minutes)."""

    computed_at: datetime
    weeks: int
    rates: list[Rate]
    families: list[Families]
    reach: dict[str, dict[str, int]]
    weekly: dict[str, list[tuple[str, float]]]

    @property
    def targets(self) -> list[str]:
        return sorted({t for per in self.reach.values() for t in per})


class Snapshots:
    """One web app's indicators, each view computed at most once per ``period_seconds``: counting distinct users
    over months of logins takes seconds on a département's volumes, and the figures steer by the week."""

    def __init__(self, hub):
        self.hub = hub
        self._compute = lru_cache(maxsize=32)(self._compute_now)

    def get(self, by: str, scope: str | None, weeks: int, period_seconds: int) -> Snapshot:
        if by not in BY:
            raise ValueError(f"indicators by {by!r}: use one of {', '.join(BY)}")
        if period_seconds <= 0:
            return self._compute_now(by, scope, weeks, 0)
        return self._compute(by, scope, weeks, int(time.time() // period_seconds))

    def _compute_now(self, by: str, scope: str | None, weeks: int, _period: int) -> Snapshot:
        moment = now()
        since = moment - timedelta(weeks=weeks)
        with self.hub.engine.connect() as conn:
            return Snapshot(moment, weeks, connection_rates(conn, by, since), families(conn, by),
                            target_reach(conn, by), weekly_rates(conn, by, scope, since))


def as_csv(snap: Snapshot) -> str:
    """Every rate row with its families and target columns, one line per scope and profile (UTF-8, `;`)."""
    rates, reach, targets = snap.rates, snap.reach, snap.targets
    fam = {f.scope: f for f in snap.families}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    columns = [f.name for f in fields(Rate)]
    writer.writerow([*columns, "connection_rate", "activated_share", "pupils", "pupils_with_parent_account",
                     "parents_with_account", *(f"accounts_{t}" for t in targets)])
    for r in rates:
        f = fam.get(r.scope) if r.profile == ALL else None
        extra = [f.pupils, f.reached, f.parents] if f else ["", "", ""]
        per_target = [reach.get(r.scope, {}).get(t, 0) if r.profile == ALL else "" for t in targets]
        writer.writerow([*asdict(r).values(), f"{r.rate:.4f}", f"{r.activated_share:.4f}", *extra, *per_target])
    return out.getvalue()
