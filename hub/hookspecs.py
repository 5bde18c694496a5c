"""The plugin contract: every hook the core calls. These docstrings are the plugin author's manual.

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
called on one named plugin at a time, with that plugin's own settings.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")


@hookspec
def hub_read_directory(settings, since, uai):
    """Read the directory and return a ``hub.sync.Feed``.

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
    are exhausted. ``feed.complete`` says the items are a full snapshot,
    so stored people the feed does not mention are deleted (softly). ``since`` is
    the cursor the source returned last time (``feed.cursor``, read once the items
    are exhausted, so a source may set it as it goes), or None for a full read.
    ``uai``, when set, asks for one establishment only (the source may ignore it,
    the core filters anyway). Yield ``Rejected`` for an unreadable record; raise
    ``errors.SourceError`` when the input cannot be read at all.
    """


@hookspec
def hub_deliver(settings, change):
    """Send one ``model.Change`` to the target system.

    Return normally when the target has it. Raise ``errors.DeliveryError`` otherwise,
    with ``retryable=False`` when retrying cannot help (the target rejected the data).
    The same change may arrive twice after a crash: send ``change.idempotency_key``
    so the target can ignore the repeat.
    """


@hookspec
def hub_write_demo(settings, academie, directory):
    """Write the synthetic ``hub.demo.Academie`` in this source's own format under ``directory``.

    Used by ``hub demo``, the tests and the benchmarks, so every source can be fed
    the same académie. Return the list of files written.
    """
