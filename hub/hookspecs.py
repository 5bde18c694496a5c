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
    are exhausted.

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
