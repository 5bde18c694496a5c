"""The plugin contract: every hook the core calls, and the types plugins use. These docstrings are the manual.

A plugin is a module registered in the entry-point group ``hub.plugins``; the
entry-point name is the plugin's name, used in ``plugins.enabled`` and as its
settings section ``[plugins.<name>]`` in ``config/hub.toml``. The module may
define ``Settings``, a pydantic model for that section: the core validates the
section at start (unknown keys are errors) and passes the validated object to
the plugin's hooks as ``settings``. Secret fields (``pydantic.SecretStr``) are
refused in the file and read from ``HUB_PLUGINS__<NAME>__<FIELD>`` or
``..._FILE`` instead.

Hooks are called with keyword arguments; an implementation may accept any
subset of them. A plugin that implements ``hub_read_directory`` is a *source*,
one that implements ``hub_deliver`` is a *target*. Source and target hooks are
called on one named plugin at a time, with that plugin's own settings;
registration hooks are called on every enabled plugin.

The records themselves (`Person`, `Establishment`, `Change`…) are in `hub.model`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")

# --- sources ------------------------------------------------------------------------------


@dataclass
class Feed:
    """A source's answer: a stream of model items, and what the stream stands for.

    ``complete``: the items are the source's whole current state (an AAF Complet, a
    full LDAP read), so stored people it does not mention are deleted. ``cursor``:
    an opaque value handed back as ``since`` next time (incremental sources).

    Filled by the source as it reads (the core reads them once the items are exhausted):
    ``records``, how many source records were read (AAF requests, LDAP entries, CSV
    rows), when that differs from the number of items; ``notes``, one line each for
    what the operator should know about the read as a whole ("1,204 modifications of
    unmodelled attributes ignored (mobile: 800, …)", "files skipped: …"), journaled
    as info events and shown after the run.
    """

    items: Iterable[Any]
    complete: bool = True
    cursor: str | None = None
    description: str = ""
    details: dict = field(default_factory=dict)
    records: int | None = None
    notes: list[str] = field(default_factory=list)


@hookspec
def hub_read_directory(settings, since, uai):
    """Read the directory and return a `Feed`.

    ``feed.items`` is an iterator streaming ``model.Establishment``, ``model.Nomenclature``,
    ``model.Person``, ``model.PersonPatch``, ``model.PersonDeletion``, ``model.Rejected``
    (a record left out) and ``model.Notice`` (a record kept, with a warning) items:
    never the whole directory in memory. Establishments (and the nomenclatures) should
    come before the people attached to them; a structure whose code is not a valid UAI
    is yielded with ``pseudo=True`` and people may then name its code where a UAI goes.
    A pupil is keyed by INE, else by ``jointure``: a source without INEs gives each
    pupil a stable jointure of its own, and the core recognises the pupil when a
    record later brings the INE with that jointure. ``feed.records`` and ``feed.notes``
    (counts and one-line remarks about the read as a whole) are read once the items
    are exhausted. A big read may run in child processes: ``feed.items`` is then a
    `hub.sync.reader_process.InChild`, and with several children the core has them
    turn the people into staged rows as well.

    ``since`` is the cursor the source returned last time (``feed.cursor``, read once
    the items are exhausted, so a source may set it as it goes), or None for a full read.
    ``uai``, when set, asks for one establishment only (the source may ignore it,
    the core filters anyway). Yield ``Rejected`` for an unreadable record; raise
    ``errors.SourceError`` when the input cannot be read at all.
    """


@hookspec
def hub_write_demo(settings, academie, directory):
    """Write the synthetic ``hub.demo.Academie`` in this source's own format under ``directory``.

    Used by ``hub demo``, the tests and the benchmarks, so every source can be fed
    the same académie. Return the list of files written.
    """


# --- targets ------------------------------------------------------------------------------

ENTITIES = ("establishment", "group", "person", "membership", "guardianship")


@dataclass(frozen=True)
class Scope:
    """What one target receives; everything else never reaches it.

    ``entities``: which kinds of change (see `model.Change`); memberships and family
    links are opt-in, as most targets read them from the person's record.
    ``establishment_kinds`` / ``uais``: the establishments served (None: all); a
    person is in scope while attached to one (staff also while holding a function in
    one), a parent while one of their children is.
    ``person_kinds``: None for all. ``batch_size``: how many changes one
    `hub_deliver` call may take (1: one at a time).
    """

    entities: frozenset[str] = frozenset({"establishment", "group", "person"})
    establishment_kinds: frozenset[str] | None = None
    uais: frozenset[str] | None = None
    person_kinds: frozenset[str] | None = None
    batch_size: int = 1


@hookspec
def hub_target_scope(settings):
    """Return this target's `Scope` (optional: without it a target receives every change, one at a time).

    Called once per delivery or sync run; the scope may depend on the plugin's
    settings (e.g. ``[plugins.beneylu] uais = [...]``). A person moving out of the
    scope reaches the target as op ``leave`` (keep the account through the grace
    period), followed by ``archive`` once ``sync.grace_days`` have passed unless they
    come back (``join``); moving in is ``join``. A parent follows their children: ``join``
    when the first served child arrives, ``leave`` (then ``archive``) when the last one
    leaves. Inter-establishment groups (``GroupKind.INTER``, cycle-3 networks kept under
    the collège's UAI) and their memberships reach a target serving the collège or one of
    the écoles of its secteur. See `hub.continuity`.
    """


@hookspec
def hub_deliver(context, changes):
    """Send ``changes`` (a list of ``model.Change``, at most ``scope.batch_size``) to the target system.

    Return None when the target took them all, or a list as long as ``changes`` with
    None for each change taken and an ``errors.DeliveryError`` for each refused one
    (``retryable=False`` when retrying cannot help: the target rejected the data).
    Raise ``errors.DeliveryError`` when the target took none of them (down, timeout).
    Changes of one entity arrive in order; a change refused for good is dead-lettered
    with the target's message and does not hold back other entities' changes.

    The same change may arrive twice after a crash: send ``change.idempotency_key`` so
    the target can ignore the repeat, or look ``context.links`` up first. ``context``
    is a `hub.delivery.DeliveryContext`: the target's ``settings``, ``links`` (the
    target's own ids for hub entities, kept in table target_link), ``store`` (a
    read-only `hub.queries.StoreView`: a person, the roster of an establishment…)
    and ``http()`` (one pooled ``httpx.Client`` per target and run).
    """


# --- registration -------------------------------------------------------------------------


@hookspec
def hub_register_commands(cli):
    """Add commands to the ``hub`` command line: ``cli`` is its click group.

    By convention a plugin adds one group named after itself (``hub ent_kosmos resync``).
    Commands reach the running hub through ``hub.cli.ready_hub()``.
    """


@hookspec
def hub_register_jobs():
    """Return ``{action: function}``: job actions ``[[jobs]]`` entries may name in ``action``.

    ``function(hub, job)`` runs under the job's lock and blackouts (`hub.scheduler`)
    and returns a one-line outcome for the journal and the log.
    """


@hookspec
def hub_register_blueprints(app):
    """Register Flask blueprints (SSO endpoints, console pages) on the hub's web ``app``."""


# --- SSO ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamIdentity:
    """What an upstream IdP said about a user, once the hub checked its signature and conditions.

    ``idp``: the IdP's name in ``[sso.idps]``; ``settings``: its `SamlIdpSettings`; ``name_id``: the
    SAML NameID; ``attributes``: every attribute by its SAML ``Name`` (``urn:oid:…`` for EduConnect)
    and, when the IdP sent one, by its ``FriendlyName`` too, each a list of strings.
    """

    idp: str
    settings: Any
    name_id: str
    attributes: dict[str, list[str]]

    def first(self, *names: str) -> str | None:
        """The first value of the first of ``names`` present."""
        for name in names:
            values = [v for v in self.attributes.get(name, []) if v and v.strip()]
            if values:
                return values[0].strip()
        return None


@dataclass(frozen=True)
class AccountLink:
    """`hub_link_account`'s answer: the hub person (``person_key``) and the IdP's stable ``subject`` for them
    (stored, so the next login reuses the link). ``how`` names the rule that matched (journaled)."""

    person_key: str
    subject: str
    how: str


@dataclass(frozen=True)
class LinkRefused:
    """`hub_link_account`'s answer when no person, or more than one, fits: ``reason`` is shown to the user
    and journaled; the hub never guesses."""

    reason: str


@hookspec(firstresult=True)
def hub_select_idp(request, idps, client):
    """Choose the upstream IdP for a login: return a name of ``idps`` (``[sso.idps]``: name → settings) or None.

    ``request`` is the Flask request (its args carry the discovery page's ``profile``
    choice, an ``idp_hint``, or a ``uai``); ``client`` the `SsoClientSettings` of the
    application the user is going to, or None. The first non-None answer wins; the
    hub's default answers from the hint, the profile and the establishment, and with
    None the user gets the discovery page (élève/parent or personnel).
    """


@hookspec(firstresult=True)
def hub_link_account(identity, people):
    """Find the hub person an `UpstreamIdentity` is: return an `AccountLink`, a `LinkRefused`, or None (not mine).

    ``people`` is a `hub.sso.people.PeopleLookup` (stored links first, then the store:
    pupils by INE, staff by jointure, parents through their children). A plugin answers
    for the IdPs it knows (``identity.settings.plugin``) and returns None for others;
    the hub's default links generic IdPs' staff by jointure. Never guess: when no
    person or several fit, refuse with a reason the user and the journal will read.
    """


@hookspec
def hub_release_attributes(client, person, claims):
    """Narrow what a client receives: return the names of ``claims`` to withhold (or None).

    ``claims`` is already limited to what the client's settings list (``claims``);
    ``client`` is its name, ``person`` the hub `Person` record. Every implementation
    is called; what any of them withholds is removed. A plugin can only narrow.
    """


# --- helpdesk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """What a ticket is about, as the core hands it to a helpdesk plugin (`hub.helpdesk`).

    ``reference``: the hub's own id of the request (``HUB-…``), unique, to put in the
    ticket's title so the ticket can be found again. ``domain``: ZP, ZA, bati, ent,
    metier or hub (`hub.helpdesk.routing.DOMAINS`). ``reporter``: who reported it
    (a login, an e-mail, or ``hub`` for the hub's own incidents); ``requester``: an
    e-mail to keep informed, if any. ``urgency``: 1 (very low) … 5 (very high).
    ``fields``: the ticket fields the destination's settings and the routing rule set
    (entity, category, group…), in the helpdesk's own names.
    """

    reference: str
    title: str
    content: str
    domain: str
    uai: str | None = None
    reporter: str = "hub"
    requester: str | None = None
    urgency: int = 3
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Destination:
    """One configured helpdesk (``[helpdesk.destinations.<name>]``): its name and its options, validated
    by the model the plugin gave through `hub_helpdesk_destination`."""

    name: str
    options: Any


@hookspec
def hub_helpdesk_destination():
    """Return the pydantic model of one destination's options (a helpdesk plugin's own keys).

    The core validates each ``[helpdesk.destinations.<name>]`` whose ``plugin`` is this
    one against it when the helpdesk starts, refusing secrets (``SecretStr`` fields) in
    the file: they come from ``HUB_HELPDESK__DESTINATIONS__<NAME>__<KEY>`` (or ``_FILE``).
    """


@hookspec
def hub_open_ticket(destination, incident):
    """Open a ticket for ``incident`` (an `Incident`) in ``destination``; return the helpdesk's ticket id (str).

    The same incident may come again after a timeout or a crash whose request did
    reach the helpdesk: look the ticket up by ``incident.reference`` first and return
    the existing id rather than open a second one. Raise ``errors.DeliveryError``
    (retryable) when the helpdesk is down or slow: the core keeps the request and
    retries it; ``retryable=False`` when it refused the ticket (missing right,
    invalid field): the request waits for an operator, with the helpdesk's words.
    """


@hookspec
def hub_add_followup(destination, ticket_id, content, marker):
    """Add a followup ``content`` to ticket ``ticket_id`` (a recurrence, or the closing comment).

    ``marker`` is unique to this followup and should be written into it: when the
    ticket already holds a followup with that marker (an earlier try got through),
    do nothing. Errors as for `hub_open_ticket`.
    """


@hookspec
def hub_ticket_status(destination, ticket_ids):
    """Return ``{ticket_id: status}`` for these tickets of ``destination`` (the ones it still has).

    Status is one of ``new``, ``processing``, ``pending``, ``solved``, ``closed``;
    ``hub tickets`` shows it. Raise ``errors.DeliveryError`` when the helpdesk cannot say.
    """


# --- console ------------------------------------------------------------------------------


@hookspec
def hub_health_check(settings):
    """Say whether this plugin can work right now: return ``(ok, detail)``, e.g. ``(False, "host unreachable")``.

    The console's *Jobs and plugins* page calls it on each enabled plugin, with the
    plugin's own settings, whenever the page is shown: check cheaply (a folder readable,
    a server answering within a few seconds), change nothing, and never put a secret in
    ``detail``. An exception counts as not ok, with its message as the detail.
    """
