"""Changes (and rosters) turned into SCIM calls, the ids the ENT gives kept as target links.

Each change becomes at most one call (see `plan`); calls go out in waves, one SCIM Bulk
request each when the ENT offers Bulk. A wave is sent early when a change needs the id of
something created earlier in the same wave (a membership of a user just POSTed).

Idempotent: a person or group already linked is replaced (PUT) or patched, never created
again; a POST answered 409 (the userName or externalId is taken, e.g. after a crash before
the link was kept) finds the existing resource by filter, links it and replaces it. A 404
for a linked resource means the ENT lost it: the change is refused for good with what to
run (``hub ent_kosmos resync --uai U``); a resync (`resync`) re-links instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hub.errors import DeliveryError
from hub.model import Change, Group, GroupKind, Person
from plugins.ent_kosmos import mapping
from plugins.ent_kosmos.scim import Answer, Call, Ent, Lost, failure

log = logging.getLogger("hub.ent_kosmos")
STATUS = {"leave": "left", "archive": "archived", "delete": "deleted"}
ADOPT_BY = {"Users": "userName", "Groups": "externalId"}
ENTITY = {"Users": "person", "Groups": "group"}


class Links:
    """The target links, read once per entity and run, written through at once."""

    def __init__(self, links):
        self.links, self.cache = links, {}

    def get(self, entity: str, key: str) -> str | None:
        if entity not in self.cache:
            self.cache[entity] = self.links.all(entity)
        return self.cache[entity].get(key)

    def set(self, entity: str, key: str, remote: str) -> None:
        self.links.set(entity, key, remote)
        self.cache.setdefault(entity, {})[key] = remote

    def forget(self, entity: str, key: str) -> None:
        self.links.forget(entity, key)
        self.cache.get(entity, {}).pop(key, None)


@dataclass
class Step:
    """The call one change needs, and what it means for the links."""

    call: Call
    entity: str  # person | group (links); membership | guardianship
    key: str
    uai: str | None
    writes: set = field(default_factory=set)  # (entity, key) created here: later steps needing its id wait


@dataclass
class Counts:
    sent: int = 0
    created: int = 0
    adopted: int = 0
    relinked: int = 0
    lost: int = 0


class Provisioner:
    """One run's provisioning: ``deliver`` for the outbox, ``resync`` for an establishment's roster."""

    def __init__(self, ent: Ent, links, store, settings, *, relink: bool = False):
        self.ent, self.links, self.store, self.settings = ent, Links(links), store, settings
        self.relink = relink  # resync: a lost resource is created again instead of reported
        self.counts = Counts()
        self._served_uais: set[str] | None = None
        self.failures: list[DeliveryError] = []  # a resync's refusals, reported at the end

    # --- the outbox ----------------------------------------------------------------------

    def deliver(self, changes: list[Change]) -> list[DeliveryError | None]:
        pupils = self._pupils_of([c for c in changes if c.entity == "guardianship"])
        outcomes: list[DeliveryError | None] = [None] * len(changes)
        wave: list[tuple[int, Step]] = []
        for index, change in enumerate(changes):
            if _needs(change) & set().union(*(s.writes for _, s in wave)):
                self._run(wave, outcomes)
                wave = []
            try:
                step = self.plan(change, pupils)
            except DeliveryError as exc:
                outcomes[index] = exc
                continue
            if step is not None:
                wave.append((index, step))
        self._run(wave, outcomes)
        return outcomes

    def plan(self, change: Change, pupils: dict[str, Person]) -> Step | None:
        """The one call a change needs, or None when the ENT already has what it says."""
        if change.entity == "person":
            return self._person(change)
        if change.entity == "group":
            return self._group(change.record, change.key) if change.record is not None else None
        if change.entity == "membership":
            return self._membership(change)
        if change.entity == "guardianship":
            pupil_key = change.key.partition("|")[0]
            return self._parents(pupils.get(pupil_key), pupil_key, change.uai)
        return None  # establishments: SCIM has no resource for them (the UAI is on users and groups)

    def _person(self, change: Change) -> Step | None:
        remote = self.links.get("person", change.key)
        uai = change.uai or change.old_uai
        if change.op == "purge":
            return Step(Call("DELETE", "Users", remote), "person", change.key, uai) if remote else None
        if change.op in STATUS:
            return (Step(Call("PATCH", "Users", remote, mapping.status_patch(STATUS[change.op])), "person",
                         change.key, uai) if remote else None)
        if change.record is None:
            return None  # gone since: its delete or purge follows
        return self.upsert(change.record)

    def upsert(self, person: Person) -> Step:
        """PUT the person's whole account when linked, else POST it."""
        body = mapping.user_resource(person, lambda key: self.links.get("person", key),
                                     pupil_attributes=self.settings.pupil_attributes)
        remote = self.links.get("person", person.key)
        if remote:
            return Step(Call("PUT", "Users", remote, body), "person", person.key, person.uai)
        return Step(Call("POST", "Users", None, body), "person", person.key, person.uai, {("person", person.key)})

    def _group(self, group: Group, key: str) -> Step:
        remote = self.links.get("group", key)
        if remote:
            return Step(Call("PATCH", "Groups", remote, mapping.group_patch(group)), "group", key, group.uai)
        return Step(Call("POST", "Groups", None, mapping.group_resource(group)), "group", key, group.uai,
                    {("group", key)})

    def _membership(self, change: Change) -> Step | None:
        person_key, _, group_key = change.key.partition("|")
        user, group = self.links.get("person", person_key), self.links.get("group", group_key)
        uai = group_key.partition("/")[0]
        if change.op == "remove" or change.record is None:
            if not (user and group):
                return None
            return Step(Call("PATCH", "Groups", group, mapping.members_patch("remove", [user])), "membership",
                        change.key, uai)
        if not user and not self._served(person_key):
            return None  # e.g. an école pupil in a cycle-3 group of the collège: the écoles' ENT has them
        if not (user and group):
            missing = person_key if not user else group_key
            raise DeliveryError(f"{change.key}: {missing} is not at the ENT yet (its own change has not been "
                                "delivered); retried later")
        return Step(Call("PATCH", "Groups", group, mapping.members_patch("add", [user])), "membership",
                    change.key, uai)

    def _served(self, person_key: str) -> bool:
        if self._served_uais is None:
            scope = self.settings
            self._served_uais = {u for u in self.store.establishments(frozenset(scope.establishment_kinds))
                                 if scope.uais is None or u in scope.uais}
        person = self.store.people([person_key]).get(person_key)
        return person is not None and person.uai in self._served_uais

    def _parents(self, pupil: Person | None, key: str, uai: str | None) -> Step | None:
        remote = self.links.get("person", key)
        if pupil is None or (not remote and not self._served(key)):
            return None  # gone, or not a pupil of this ENT
        if not remote:
            raise DeliveryError(f"{key} is not at the ENT yet (its own change has not been delivered); retried later")
        body = mapping.parents_patch(pupil, lambda k: self.links.get("person", k))
        return Step(Call("PATCH", "Users", remote, body), "guardianship", key, uai or pupil.uai)

    def _pupils_of(self, changes: list[Change]) -> dict[str, Person]:
        keys = sorted({c.key.partition("|")[0] for c in changes})
        return self.store.people(keys) if keys else {}

    # --- sending ---------------------------------------------------------------------------

    def _run(self, wave: list[tuple[int, Step]], outcomes: list) -> None:
        answers = self.ent.send([step.call for _, step in wave])
        for (index, step), answer in zip(wave, answers, strict=True):
            outcomes[index] = self._settle(step, answer)

    def _settle(self, step: Step, answer: Answer) -> DeliveryError | None:
        self.counts.sent += 1
        call = step.call
        if answer.ok:
            if call.method == "POST":
                self.counts.created += 1
                self.links.set(ENTITY[call.resource], step.key, answer.id)
            elif call.method == "DELETE":
                self.links.forget(ENTITY[call.resource], step.key)
            return None
        if call.method == "DELETE" and answer.status == 404:
            self.links.forget(ENTITY[call.resource], step.key)  # a purge: already gone
            return None
        if call.method == "POST" and answer.status == 409:
            return self._adopt(step, answer)
        if answer.status == 404 and call.id:
            return self._lost(step)
        return failure(answer, self._describe(step))

    def _adopt(self, step: Step, conflict: Answer) -> DeliveryError | None:
        """A POST refused as taken: the resource is there already (its link was lost); link it and replace it."""
        call = step.call
        attribute = ADOPT_BY[call.resource]
        remote = self.ent.find(call.resource, attribute, call.body[attribute])
        if remote is None:
            return failure(conflict, self._describe(step))
        self.links.set(ENTITY[call.resource], step.key, remote)
        self.counts.adopted += 1
        method = "PUT" if call.resource == "Users" else "PATCH"
        body = call.body if method == "PUT" else mapping.group_patch(_group_of(call.body))
        answer = self.ent.one(Call(method, call.resource, remote, body))
        return None if answer.ok else failure(answer, self._describe(step))

    def _lost(self, step: Step) -> DeliveryError | None:
        call = step.call
        if self.relink and call.method in ("PUT", "PATCH") and step.entity in ("person", "group"):
            self.links.forget(step.entity, step.key)
            self.counts.relinked += 1
            body = call.body if call.resource == "Users" else mapping.group_resource(_group_of_patch(call.body))
            retry = Step(Call("POST", call.resource, None, body), step.entity, step.key, step.uai)
            return self._settle(retry, self.ent.one(retry.call))
        self.counts.lost += 1
        if self.counts.lost in (1, 10, 100, 1000):
            log.warning("the ENT at %s answered 404 for %d resources it had been given: it lost data; "
                        "run hub ent_kosmos resync", self.ent.url, self.counts.lost)
        where = f"--uai {step.uai}" if step.uai else "--all"
        return Lost(f"the ENT lost {call.resource[:-1]} {call.id} ({step.key}): it answers 404 for a resource the "
                    f"hub created there; run `hub ent_kosmos resync {where}`, then `hub deadletters retry --all`")

    def _describe(self, step: Step) -> str:
        return f"{step.call.method} {step.call.resource} for {step.entity} {step.key}"

    # --- resync ---------------------------------------------------------------------------

    def resync(self, uai: str) -> Counts | None:
        """Re-provision one establishment from the store: groups, people, parents, then each group's members."""
        roster = self.store.roster(uai)
        if roster is None:
            return None
        groups = {f"{g.uai}/{g.code}": g for g in roster.establishment.groups}
        self._steps([self._group(g, key) for key, g in groups.items()])
        self._steps([self.upsert(p) for p in roster.parents])
        self._steps([self.upsert(p) for p in roster.people])
        members: dict[str, list[str]] = {key: [] for key in groups}
        for person in roster.people:
            for m in person.memberships:
                if f"{m.uai}/{m.code}" in members and self.links.get("person", person.key):
                    members[f"{m.uai}/{m.code}"].append(self.links.get("person", person.key))
        self._steps([Step(Call("PATCH", "Groups", self.links.get("group", key), {
            "schemas": [mapping.PATCH], "Operations": [{"op": "replace", "path": "members",
                                                        "value": [{"value": u, "type": "User"} for u in ids]}]}),
            "group", key, uai) for key, ids in members.items() if self.links.get("group", key)])
        return self.counts

    def _steps(self, steps: list[Step]) -> None:
        outcomes: list = [None] * len(steps)
        self._run(list(enumerate(steps)), outcomes)
        self.failures += [outcome for outcome in outcomes if outcome is not None]


def _needs(change: Change) -> set:
    """The (entity, key) whose ids this change needs."""
    if change.entity == "membership":
        person_key, _, group_key = change.key.partition("|")
        return {("person", person_key), ("group", group_key)}
    if change.entity == "guardianship":
        return {("person", k) for k in change.key.split("|", 1)}
    if change.entity == "person" and isinstance(change.record, Person):
        return {("person", change.key)} | {("person", g.parent_key) for g in change.record.guardians}
    return {(change.entity, change.key)}


def _group_of(body: dict) -> Group:
    hub = body[mapping.HUB_GROUP]
    return Group(hub["uai"], hub["code"], GroupKind(hub["kind"]), body.get("displayName", ""))


def _group_of_patch(body: dict) -> Group:
    values = {op["path"]: op["value"] for op in body["Operations"]}
    hub = values[mapping.HUB_GROUP]
    return Group(hub["uai"], hub["code"], GroupKind(hub["kind"]), values.get("displayName", ""))

