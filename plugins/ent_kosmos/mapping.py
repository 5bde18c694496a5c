"""Hub records as SCIM 2.0 resources (RFC 7643) for the collèges' ENT: pure functions, no I/O.

Person → ``User`` (core schema, the enterprise extension for staff, the hub extension
``urn:ent-hub:params:scim:schemas:extension:hub:2.0:User``, described in ``hub_schemas.json``):

=====================  ==================================================================
``userName``           the AAF jointure (``ENTPersonJointure``), else the hub key without
                       its prefix: stable across a pupil's INE arriving, unique (409 if not)
``externalId``         the hub key (``ine:…`` / ``jnt:…``)
``name``               ``familyName``, ``givenName``; ``displayName`` "first last"
``active``             false once the person left the ENT's establishments, was archived or deleted
``emails``             adults; a pupil's only when ``pupil_attributes`` lists ``email``
enterprise             staff and teachers: ``employeeNumber`` (jointure), ``organization`` (UAI),
                       ``department`` (their function there)
hub ``uai``            the establishment of attachment (none for parents)
hub ``profile``        SDET profile: National_ELV, National_TUT, National_ENS, National_DOC,
                       National_DIR, National_EVS (CPE, vie scolaire), National_ETA (others)
hub ``status``         active, left, archived, deleted
hub ``niveau``         a pupil's grade
hub ``classes``        a pupil's divisions and groups, a teacher's classes (``UAI/code``, type, subject)
hub ``functions``      staff functions per establishment (code, label)
hub ``parents``        a pupil's parents: their SCIM ``id`` here (once provisioned), hub key, rank
hub ``birthDate``      only when ``pupil_attributes`` lists ``birth_date`` (pupils are minors)
=====================  ==================================================================

Group (key ``UAI/code``) → ``Group``: ``displayName`` (label, else code), ``externalId`` ``UAI/code``,
hub extension ``uai``, ``code``, ``kind``; ``members`` are the pupils, added and removed one
membership at a time (PATCH), never replaced by a group update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hub.model import Group, Person, PersonKind

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HUB_USER = "urn:ent-hub:params:scim:schemas:extension:hub:2.0:User"
HUB_GROUP = "urn:ent-hub:params:scim:schemas:extension:hub:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
STAFF = (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL)
PUPIL_OPTIONAL = ("email", "birth_date")  # what a setting may add to what a pupil's account carries
STAFF_PROFILES = {"DIR": "National_DIR", "EDU": "National_EVS", "DOC": "National_DOC", "ENS": "National_ENS"}

LinkOf = Callable[[str], str | None]  # hub person key -> SCIM id at the ENT, None when not provisioned


def user_name(person: Person) -> str:
    return person.jointure or person.key.partition(":")[2]


def profile(person: Person) -> str:
    """The SDET profile the ENT gives rights by (National_XXX)."""
    if person.kind == PersonKind.ELEVE:
        return "National_ELV"
    if person.kind == PersonKind.PARENT:
        return "National_TUT"
    codes = [f.code for f in person.functions if f.uai == person.uai] or [f.code for f in person.functions]
    for code in ("DIR", "ENS", "DOC", "EDU"):
        if code in codes:
            return STAFF_PROFILES[code]
    return "National_ENS" if person.kind == PersonKind.ENSEIGNANT else "National_ETA"


def user_resource(person: Person, link_of: LinkOf, *, status: str = "active",
                  pupil_attributes: Iterable[str] = ()) -> dict:
    """The whole User resource (for POST and PUT): only the attributes its kind of person needs."""
    released = set(pupil_attributes) if person.kind == PersonKind.ELEVE else {"email"}
    hub: dict = {"profile": profile(person), "status": status}
    if person.uai:
        hub["uai"] = person.uai
    if person.kind == PersonKind.ELEVE:
        hub.update(_pupil(person, link_of))
        if "birth_date" in released and person.birth_date:
            hub["birthDate"] = person.birth_date.isoformat()
    elif person.kind in STAFF:
        hub.update(_staff(person))
    resource: dict = {
        "schemas": [USER, HUB_USER],
        "userName": user_name(person),
        "externalId": person.key,
        "name": {"familyName": person.last_name, "givenName": person.first_name},
        "displayName": f"{person.first_name} {person.last_name}",
        "active": status == "active",
        HUB_USER: hub,
    }
    if "email" in released and person.email:
        resource["emails"] = [{"value": person.email, "type": "work", "primary": True}]
    if person.kind in STAFF:
        resource["schemas"].append(ENTERPRISE)
        here = [f for f in person.functions if f.uai == person.uai]
        resource[ENTERPRISE] = {key: value for key, value in (
            ("employeeNumber", person.jointure), ("organization", person.uai),
            ("department", here[0].label or here[0].code if here else None)) if value}
    return resource


def _pupil(person: Person, link_of: LinkOf) -> dict:
    found: dict = {}
    if person.enrollment and person.enrollment.niveau:
        found["niveau"] = person.enrollment.niveau
    classes = [{"value": f"{m.uai}/{m.code}", "type": str(m.kind)} for m in person.memberships]
    if classes:
        found["classes"] = classes
    parents = []
    for guardian in person.guardians:
        parent = {"key": guardian.parent_key, "rank": guardian.rank}
        remote = link_of(guardian.parent_key)
        if remote:
            parent["value"] = remote
        parents.append(parent)
    if parents:
        found["parents"] = parents
    return found


def parents_patch(person: Person, link_of: LinkOf) -> dict:
    """PATCH replacing a pupil's parents with the stored ones (idempotent: the same twice changes nothing)."""
    parents = _pupil(person, link_of).get("parents", [])
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": f"{HUB_USER}:parents", "value": parents}]
            if parents else [{"op": "remove", "path": f"{HUB_USER}:parents"}]}


def _staff(person: Person) -> dict:
    found: dict = {}
    classes = [{"value": f"{a.uai}/{a.group_code}", "type": "teaching", **({"subject": a.subject} if a.subject else {})}
               for a in person.assignments]
    if classes:
        found["classes"] = classes
    functions = [{"uai": f.uai, "code": f.code, **({"label": f.label} if f.label else {})} for f in person.functions]
    if functions:
        found["functions"] = functions
    return found


def status_patch(status: str) -> dict:
    """PATCH for leave, archive and delete: the account is kept, inactive, with why."""
    return {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": status == "active"},
        {"op": "replace", "path": f"{HUB_USER}:status", "value": status}]}


def group_resource(group: Group) -> dict:
    return {"schemas": [GROUP, HUB_GROUP], "displayName": group.label or group.code,
            "externalId": f"{group.uai}/{group.code}",
            HUB_GROUP: {"uai": group.uai, "code": group.code, "kind": str(group.kind)}}


def group_patch(group: Group) -> dict:
    """PATCH for a group update: its name and kind, never its members."""
    resource = group_resource(group)
    return {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "displayName", "value": resource["displayName"]},
        {"op": "replace", "path": HUB_GROUP, "value": resource[HUB_GROUP]}]}


def members_patch(op: str, user_ids: list[str]) -> dict:
    """PATCH adding (``add``) or removing (``remove``) users from a group's members; both are idempotent."""
    if op == "add":
        return {"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid, "type": "User"} for uid in user_ids]}]}
    return {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{uid}"]'} for uid in user_ids]}
