"""The hub as CAS 3.0 server: ``/cas/login``, ``/cas/serviceValidate``, ``/cas/p3/serviceValidate``,
``/cas/logout``.

A service URL must be allowed by a client with ``protocol = "cas"`` (``services``: exact
URLs, or regexes anchored with ``^…$``). Service tickets are random, single-use (taken
from the shared entries when validated), bound to their service and short-lived
(``sso.cas_ticket_seconds``). The answer carries ``cas:user`` (the client's ``cas_user``
claim, its pairwise ``sub`` by default) and the same released claims as OIDC.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request
from lxml import etree

from hub.errors import SettingsError
from hub.sso.broker import Refused, broker, start_login
from hub.sso.events import journal_refusal, record_login
from hub.sso.oidc import released_claims
from hub.sso.sessions import session

bp = Blueprint("cas", __name__, url_prefix="/cas")
CAS_NS = "http://www.yale.edu/tp/cas"


def allows(pattern: str, service: str) -> bool:
    """An exact URL, or a regex anchored at both ends (a bare prefix would let look-alikes in)."""
    if pattern.startswith("^"):
        return re.fullmatch(pattern, service) is not None
    return pattern == service


def client_for(service: str | None) -> str | None:
    if not service:
        return None
    clients = broker().settings.clients
    return next(
        (name for name, c in clients.items() if c.protocol == "cas" and any(allows(p, service) for p in c.services)),
        None,
    )


def check_services(clients: dict) -> None:
    for name, client in clients.items():
        if client.protocol != "cas":
            continue
        if not client.services:
            raise SettingsError(f"setting sso.clients.{name}.services: a CAS client needs its allowed service URLs")
        for pattern in client.services:
            if pattern.startswith("^") != pattern.endswith("$"):
                raise SettingsError(
                    f"setting sso.clients.{name}.services: {pattern!r} must be an exact URL or a "
                    "regex anchored with ^…$"
                )
            if pattern.startswith("^"):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise SettingsError(f"setting sso.clients.{name}.services: {pattern!r}: {exc}") from None


def _with_params(url: str, **params) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _login_path(service: str) -> str:
    """Where the login comes back to: this service's ticket, without ``renew`` (done) or ``gateway``."""
    return f"/cas/login?{urlencode({'service': service})}"


@bp.get("/login")
def login():
    b = broker()
    service = request.args.get("service")
    name = client_for(service)
    if name is None:
        return b.refused_page(
            Refused(
                "cas",
                "unknown",
                f"service {service}"[:300],
                "INVALID_SERVICE",
                "ce service n'est pas autorisé à utiliser la connexion de l'ENT",
                status=400,
            )
        )
    user = session.get("user")
    if request.args.get("renew") == "true":  # a fresh login, credentials asked again (ForceAuthn upstream)
        session.pop("user", None)
        return start_login(_login_path(service), name, force=True)
    if not user:
        if request.args.get("gateway") == "true":
            return redirect(service)
        return start_login(_login_path(service), name)
    person = b.people.person(user["key"])
    if person is None:
        session.clear()
        return start_login(_login_path(service), name)
    ticket = f"ST-{secrets.token_urlsafe(32)}"
    b.entries.put(
        f"cas:ticket:{ticket}",
        {"service": service, "client": name, "person_key": user["key"]},
        b.settings.cas_ticket_seconds,
    )
    record_login(b.engine, user["key"], person, name, user["idp"])
    return redirect(_with_params(service, ticket=ticket))


@bp.get("/serviceValidate")
@bp.get("/p3/serviceValidate")
def service_validate():
    service, ticket = request.args.get("service"), request.args.get("ticket")
    if not service or not ticket:
        return _failure("INVALID_REQUEST", "service and ticket are both required", service)
    found = broker().entries.pop(f"cas:ticket:{ticket}")
    if found is None:
        return _failure(
            "INVALID_TICKET", f"ticket {ticket[:12]}… not recognized (unknown, expired or already used)", service
        )
    if found["service"] != service:
        return _failure("INVALID_SERVICE", "the ticket was issued for another service", service)
    claims = released_claims(found["client"], found["person_key"])
    client = broker().settings.clients[found["client"]]
    root = etree.Element(f"{{{CAS_NS}}}serviceResponse", nsmap={"cas": CAS_NS})
    success = etree.SubElement(root, f"{{{CAS_NS}}}authenticationSuccess")
    etree.SubElement(success, f"{{{CAS_NS}}}user").text = str(claims.get(client.cas_user, claims["sub"]))
    attributes = etree.SubElement(success, f"{{{CAS_NS}}}attributes")
    for name, value in claims.items():
        for item in value if isinstance(value, list) else [value]:
            etree.SubElement(attributes, f"{{{CAS_NS}}}{name}").text = str(item)
    return _xml(root)


def _failure(code: str, reason: str, service: str | None):
    journal_refusal(broker().engine, "cas", client_for(service) or "unknown", f"service {service}"[:300], code, reason)
    root = etree.Element(f"{{{CAS_NS}}}serviceResponse", nsmap={"cas": CAS_NS})
    failure = etree.SubElement(root, f"{{{CAS_NS}}}authenticationFailure", code=code)
    failure.text = reason
    return _xml(root)


def _xml(root) -> Response:
    return Response(etree.tostring(root, xml_declaration=False, encoding="unicode"), mimetype="application/xml")


@bp.get("/logout")
def logout():
    """End the session (at the IdP too, when it has single logout), then back to an allowed service only."""
    service = request.args.get("service")
    then = service if client_for(service) else "/sso/logout"
    if session.get("user"):
        session["after_logout"] = then
        return redirect("/saml/logout")
    session.clear()
    return redirect(then)
