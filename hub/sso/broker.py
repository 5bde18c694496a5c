"""The broker's shared parts: its settings and stores, the login every protocol ends with, and refusals."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlencode

from flask import current_app, redirect, render_template, request

from hub.errors import SettingsError
from hub.hookspecs import AccountLink, LinkRefused
from hub.sso.events import journal_refusal, log
from hub.sso.kv import make_entries
from hub.sso.people import PeopleLookup
from hub.sso.sessions import session


@dataclass
class Refused(Exception):
    """A refused login or message: the user gets a page saying why, the journal a run with the reason."""

    protocol: str
    source: str
    record: str
    code: str
    reason: str
    status: int = 403


class Broker:
    def __init__(self, hub):
        self.hub = hub
        self.settings = hub.settings.sso
        self.engine = hub.engine
        self.plugins = hub.plugins
        self.entries = make_entries(self.settings, self.engine)
        self.people = PeopleLookup(self.engine)

    @property
    def issuer(self) -> str:
        return self.settings.base_url.rstrip("/")

    @cached_property
    def signing_keys(self):
        from hub.sso.keys import SigningKeys

        return SigningKeys(
            self.settings.oidc_signing_keys.get_secret_value() if self.settings.oidc_signing_keys else None
        )

    @cached_property
    def sp(self):
        from hub.sso.upstream import ServiceProvider

        return ServiceProvider(self.settings)

    def idp_by_entity_id(self, entity_id: str) -> str | None:
        for name in self.settings.idps:
            try:
                if self.sp.idp(name).entity_id == entity_id:
                    return name
            except SettingsError as exc:  # an IdP whose metadata cannot be read or trusted answers nothing
                log.error("%s", exc)
        return None

    def loaded_idp(self, name: str):
        """The IdP's metadata, or a refusal when it cannot be read or trusted (a bad signature…)."""
        try:
            return self.sp.idp(name)
        except SettingsError as exc:
            raise Refused("saml", name, f"metadata of {name}", "metadata", str(exc), status=503) from None

    def refused_page(self, refusal: Refused):
        run_id = journal_refusal(
            self.engine, refusal.protocol, refusal.source, refusal.record, refusal.code, refusal.reason
        )
        return render_template(
            "sso/page.html",
            title="Connexion refusée",
            reason=refusal.reason,
            reference=f"journal {run_id} ({refusal.code})",
        ), refusal.status

    def log_in(self, identity, session_index: str | None, next_url: str):
        """Link the upstream identity to a hub person (hook ``hub_link_account``), store the link and open the
        session; a refusal or no rule at all ends on a page, never on a guess."""
        answer = self.plugins.hook.hub_link_account(identity=identity, people=self.people)
        if answer is None:
            raise Refused(
                "saml",
                identity.idp,
                f"subject {identity.name_id}",
                "no_rule",
                f"no plugin links the accounts of IdP {identity.idp}",
            )
        if isinstance(answer, LinkRefused):
            raise Refused("saml", identity.idp, f"subject {identity.name_id}", "no_match", answer.reason)
        if not isinstance(answer, AccountLink):
            raise TypeError(f"hub_link_account answered {answer!r}: an AccountLink, a LinkRefused or None")
        self.people.remember(identity.idp, answer.subject, answer.person_key, answer.how)
        session.renew()
        session["user"] = {
            "key": answer.person_key,
            "idp": identity.idp,
            "auth_time": int(time.time()),
            "name_id": identity.name_id,
            "session_index": session_index,
            "sid": secrets.token_urlsafe(16),
        }  # the OIDC session id its clients are given
        return redirect(next_url)


def broker() -> Broker:
    return current_app.extensions["sso"]


def start_login(next_url: str, client_name: str, force: bool = False):
    """Send the browser to log in, then back to ``next_url``: straight to the IdP the rules choose from this
    request (hook ``hub_select_idp``: an ``idp_hint``, the client's own IdP…), else to the discovery page."""
    b = broker()
    client = b.settings.clients.get(client_name)
    idp = b.plugins.hook.hub_select_idp(request=request, idps=b.settings.idps, client=client)
    extra = {"force": "1"} if force else {}
    if idp in b.settings.idps:
        return redirect(f"/saml/login/{idp}?{urlencode({'next': next_url, **extra})}")
    return redirect(f"/sso/login?{urlencode({'next': next_url, 'client': client_name, **extra})}")


def safe_next(value: str | None) -> str:
    """Only a path of this hub: a login never ends on another site (open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/sso/whoami"
