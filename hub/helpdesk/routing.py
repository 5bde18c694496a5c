"""Who handles an incident: the routing rules of seed 001 as data, matched in order (pure functions).

A collège's pedagogical zone (ZP) is the département's (its contractor's GLPI/iTop), except in the
cités mixtes, which the Région runs; its administrative zone (ZA) is the département's once taken
over, the rectorat's DSI (PASS) before; building issues go to the Omère service of the collège's
territorial unit (UT1–UT4); the national business applications stay with the rectorat (seed 000).
Those facts are settings (``[[helpdesk.rules]]``), so each département writes its own matrix;
this module only matches them, and checks them at start (`check_rules`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

DOMAINS = ("ZP", "ZA", "bati", "ent", "metier", "hub")
DOMAIN_HELP = ("ZP (pedagogical zone), ZA (administrative zone), bati (building), ent (ENT/SSO access), "
               "metier (national business applications), hub (the hub's own incidents)")
REPORTER_KINDS = ("staff", "operator", "hub")


def normalize_domain(value: str) -> str:
    """'bâti', 'BATI', 'zp' → the canonical domain; ValueError naming the known ones."""
    plain = "".join(c for c in unicodedata.normalize("NFD", value.strip()) if not unicodedata.combining(c))
    for domain in DOMAINS:
        if plain.lower() == domain.lower():
            return domain
    raise ValueError(f"unknown domain {value!r}; domains: {DOMAIN_HELP}")


@dataclass(frozen=True)
class Facts:
    """What the rules may look at: the incident's domain and reporter, and its establishment's zone file entry."""

    domain: str
    reporter_kind: str = "staff"
    uai: str | None = None
    kind: str | None = None  # establishment kind (college, lycee…), when the establishment is known
    za_taken_over: bool | None = None  # None: the établissement is not in the zones file
    cite_mixte: bool | None = None
    territorial_unit: str | None = None


CONDITIONS = ("domain", "reporter", "uai", "kind", "territorial_unit", "za_taken_over", "cite_mixte")


def matches(rule, facts: Facts) -> bool:
    """Every condition the rule sets holds (a list: one of its values; a flag: that value); unset ones hold."""
    values = {"domain": facts.domain, "reporter": facts.reporter_kind, "uai": facts.uai, "kind": facts.kind,
              "territorial_unit": facts.territorial_unit, "za_taken_over": facts.za_taken_over,
              "cite_mixte": facts.cite_mixte}
    for name in CONDITIONS:
        wanted = getattr(rule, name)
        if wanted is None or wanted == []:
            continue
        if isinstance(wanted, list) and values[name] not in wanted:
            return False
        if isinstance(wanted, bool) and values[name] is not wanted:
            return False
    return True


def first_match(rules: list, facts: Facts):
    """The first rule matching, or None."""
    return next((rule for rule in rules if matches(rule, facts)), None)


def describe(facts: Facts) -> str:
    """'ZA at 0930001A (collège, ZA not taken over, UT2)', for errors and `hub ticket route`."""
    if facts.uai is None:
        return f"{facts.domain} reported by {facts.reporter_kind}, no establishment"
    if facts.za_taken_over is None:
        zone = "not in the zones file"
    else:
        zone = ", ".join(filter(None, ["ZA taken over" if facts.za_taken_over else "ZA not taken over",
                                       "cité mixte" if facts.cite_mixte else "",
                                       facts.territorial_unit or "no territorial unit"]))
    return f"{facts.domain} at {facts.uai} ({facts.kind or 'unknown establishment'}, {zone}), " \
           f"reported by {facts.reporter_kind}"


def _covers(earlier, later) -> bool:
    """Every incident ``later`` matches, ``earlier`` matches too (so ``later`` is never used)."""
    for name in CONDITIONS:
        mine, theirs = getattr(earlier, name), getattr(later, name)
        if mine is None or mine == []:
            continue
        if isinstance(mine, bool):
            if theirs is not mine:
                return False
        elif not theirs or not set(theirs) <= set(mine):
            return False
    return True


def check_rules(rules: list, destinations: set[str]) -> list[str]:
    """Why these rules cannot run, one line per problem naming the rule (empty when they can)."""
    problems = []
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        label = f"helpdesk rule {rule.name!r}"
        if rule.name in seen:
            problems.append(f"{label}: the name is also rule {seen[rule.name] + 1}'s; names must be unique")
        seen.setdefault(rule.name, index)
        if rule.destination not in destinations:
            known = ", ".join(sorted(destinations)) or "none ([helpdesk.destinations.NAME])"
            problems.append(f"{label}: no destination {rule.destination!r}; destinations: {known}")
        zone_conditions = [c for c in ("za_taken_over", "cite_mixte", "territorial_unit", "kind")
                           if getattr(rule, c) not in (None, [])]
        if zone_conditions and "hub" in rule.domain and len(rule.domain) == 1:
            problems.append(f"{label}: the hub's own incidents have no establishment, so "
                            f"{', '.join(zone_conditions)} can never match")
        shadow = next((earlier for earlier in rules[:index] if _covers(earlier, rule)), None)
        if shadow is not None:
            problems.append(f"{label} is never used: the earlier rule {shadow.name!r} matches every incident it "
                            "matches (put the narrower rule first)")
    return problems
