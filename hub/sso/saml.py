"""The hub as SAML SP (python3-saml): SP metadata, signed AuthnRequests, the ACS and the checks python3-saml
leaves to its caller.

python3-saml verifies signatures, the schema, the issuer and the status. The hub adds:
the Destination and the bearer SubjectConfirmation's Recipient equal to the ACS URL
(python3-saml accepts prefixes and substrings), an audience naming this SP, the
assertion's NotBefore/NotOnOrAfter with ``sso.clock_skew_seconds``, the assertion ID
used once across all workers, and an InResponseTo naming a request this very browser
session sent.
"""

from __future__ import annotations

import base64
import html
import time

from flask import Blueprint, Response, abort, redirect, render_template, request
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from hub.hookspecs import UpstreamIdentity
from hub.sso.broker import Refused, broker, safe_next
from hub.sso.logout import continue_to, end_session
from hub.sso.sessions import session

bp = Blueprint("saml", __name__, url_prefix="/saml")
RELAY_STATE = "hub"


@bp.get("/metadata")
def metadata():
    return Response(broker().sp.metadata(), mimetype="application/samlmetadata+xml")


@bp.get("/login/<idp>")
def login(idp: str):
    """Send the browser to ``idp`` with a signed AuthnRequest, remembered for this session only."""
    b = broker()
    if idp not in b.settings.idps:
        abort(404)
    try:
        loaded = b.loaded_idp(idp)
    except Refused as refusal:
        return b.refused_page(refusal)
    session["login_started"] = int(time.time())  # the session must exist: the answer is bound to it
    force = request.args.get("force") == "1"  # ForceAuthn: the IdP must ask for the credentials again
    signed = loaded.saml_settings["security"]["authnRequestsSigned"]
    if loaded.sso_binding == C.BINDING_HTTP_REDIRECT:  # python3-saml signs the query string
        auth = b.sp.auth(request, loaded.settings)
        answer = redirect(auth.login(return_to=RELAY_STATE, set_nameid_policy=False, force_authn=force))
        request_id = auth.get_last_request_id()
    else:  # HTTP-POST: an auto-submitted form, the signature inside the XML
        settings = loaded.settings
        authn = OneLogin_Saml2_Authn_Request(settings, force_authn=force, set_nameid_policy=False)
        xml = authn.get_xml()
        if signed:
            xml = OneLogin_Saml2_Utils.add_sign(
                xml, b.sp.key, b.sp.cert, sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256
            )
        encoded = base64.b64encode(xml if isinstance(xml, bytes) else xml.encode()).decode()
        answer = render_template(
            "sso/page.html",
            title="Connexion",
            form=auto_post(
                settings.get_idp_data()["singleSignOnService"]["url"],
                {"SAMLRequest": encoded, "RelayState": RELAY_STATE},
            ),
        )
        request_id = authn.get_id()
    b.entries.put(
        f"saml:request:{request_id}",
        {"sid": session.sid, "idp": idp, "next": safe_next(request.args.get("next"))},
        b.settings.request_lifetime_seconds,
    )
    return answer


def auto_post(action: str, fields: dict) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return (
        f'<form method="post" action="{html.escape(action)}" id="auto">{inputs}'
        '<noscript><button type="submit">Continuer</button></noscript></form>'
        '<script>document.getElementById("auto").submit()</script>'
    )


@bp.post("/acs")
def acs():
    b = broker()
    try:
        return _consume(b)
    except Refused as refusal:
        return b.refused_page(refusal)


def _consume(b):
    raw = request.form.get("SAMLResponse", "")
    try:
        document = OneLogin_Saml2_XML.to_etree(base64.b64decode(raw, validate=False))
    except Exception:
        raise Refused("saml", "unknown", "SAMLResponse", "unreadable", "the SAML response cannot be read") from None
    record = f"response {document.get('ID', '?')}"[:300]
    issuer = OneLogin_Saml2_XML.query(document, "/samlp:Response/saml:Issuer")
    idp = b.idp_by_entity_id(issuer[0].text.strip() if issuer and issuer[0].text else "")
    if idp is None:
        raise Refused("saml", "unknown", record, "unknown_issuer", "the response comes from no configured IdP")
    loaded = b.loaded_idp(idp)
    response = OneLogin_Saml2_Response(loaded.settings, raw)
    try:
        response.is_valid(b.sp.request_data(request), raise_exceptions=True)
    except Exception as exc:
        raise Refused("saml", idp, record, "invalid", f"python3-saml refused the response: {exc}") from None
    in_response_to = document.get("InResponseTo")
    code, reason, expires = check_conditions(response, b.sp, in_response_to, b.settings.clock_skew_seconds)
    if code:
        raise Refused("saml", idp, record, code, reason)
    assertion_id = response.get_assertion_id()
    if not b.entries.add(f"saml:assertion:{idp}:{assertion_id}", record, expires):
        raise Refused(
            "saml",
            idp,
            f"assertion {assertion_id}",
            "replay",
            "this assertion was already used: a response is accepted once",
        )
    if not in_response_to:
        raise Refused(
            "saml",
            idp,
            record,
            "unsolicited",
            "an unsolicited response (no InResponseTo): the hub only accepts answers to the requests it sent",
        )
    pending = b.entries.pop(f"saml:request:{in_response_to}")
    if pending is None or pending["idp"] != idp:
        raise Refused(
            "saml",
            idp,
            record,
            "unknown_request",
            f"InResponseTo {in_response_to} names no request "
            f"this hub is waiting for from {idp} (unknown, expired or already answered)",
        )
    if pending["sid"] != session.sid:
        raise Refused(
            "saml", idp, record, "foreign_session", "the response answers a request another browser session sent"
        )
    attributes = {**response.get_friendlyname_attributes(), **response.get_attributes()}
    identity = UpstreamIdentity(idp, b.settings.idps[idp], response.get_nameid() or "", attributes)
    return b.log_in(identity, response.get_session_index(), pending["next"])


def check_conditions(response, sp, in_response_to: str | None, skew: int) -> tuple[str, str, int]:
    """(code, reason, 0) for the first failed check, else ("", "", seconds the assertion ID must be remembered)."""
    destination = response.document.get("Destination")
    if destination != sp.acs_url:
        return "destination", f"Destination {destination!r} is not this hub's ACS URL {sp.acs_url}", 0
    audiences = response.get_audiences()
    if sp.entity_id not in audiences:
        return "audience", f"the assertion is meant for {audiences or 'no audience'}, not {sp.entity_id}", 0
    now = time.time()
    conditions = response._query_assertion("/saml:Conditions")  # the signed assertion's (XSW-safe) element
    if len(conditions) != 1 or not conditions[0].get("NotOnOrAfter"):
        return "conditions", "the assertion has no Conditions with NotOnOrAfter", 0
    not_before = conditions[0].get("NotBefore")
    not_after = OneLogin_Saml2_Utils.parse_SAML_to_time(conditions[0].get("NotOnOrAfter"))
    if not_before and OneLogin_Saml2_Utils.parse_SAML_to_time(not_before) - skew > now:
        return "not_yet_valid", f"the assertion is not valid before {not_before}", 0
    if not_after + skew <= now:
        return "expired", f"the assertion expired at {conditions[0].get('NotOnOrAfter')}", 0
    bearer = f"/saml:Subject/saml:SubjectConfirmation[@Method='{C.CM_BEARER}']/saml:SubjectConfirmationData"
    for data in response._query_assertion(bearer):
        until = data.get("NotOnOrAfter")
        if (
            data.get("Recipient") == sp.acs_url
            and data.get("InResponseTo") == in_response_to
            and until
            and OneLogin_Saml2_Utils.parse_SAML_to_time(until) + skew > now
        ):
            return "", "", int(max(not_after, OneLogin_Saml2_Utils.parse_SAML_to_time(until)) + skew - now) + 1
    return "recipient", f"no bearer SubjectConfirmation for {sp.acs_url} answering {in_response_to}, still valid", 0


@bp.get("/logout")
def logout():
    """Single logout, from the hub: end the session here, then at the IdP that opened it (when it can)."""
    b = broker()
    user = session.get("user") or {}
    then = session.get("after_logout") or "/sso/logout"  # an OIDC client's registered return URL, checked
    front_channel = end_session(b)
    idp = user.get("idp")
    loaded = b.sp.idp(idp) if idp in b.settings.idps else None
    if loaded is None or not loaded.logout_url:
        return continue_to(then, front_channel)
    auth = b.sp.auth(request, loaded.settings)
    url = auth.logout(return_to=RELAY_STATE, name_id=user.get("name_id"), session_index=user.get("session_index"))
    b.entries.put(
        f"saml:logout:{auth.get_last_request_id()}", {"idp": idp, "then": then}, b.settings.request_lifetime_seconds
    )
    return continue_to(url, front_channel)


@bp.get("/sls")
def single_logout_service():
    """The IdP's answer to our LogoutRequest, or its own LogoutRequest (a logout started elsewhere)."""
    b = broker()
    front_channel: list[str] = []

    def end():  # a logout started at the IdP: the hub's clients hear of it too
        front_channel.extend(end_session(b))

    try:
        if "SAMLResponse" in request.args:
            document = OneLogin_Saml2_XML.to_etree(
                OneLogin_Saml2_Utils.decode_base64_and_inflate(request.args["SAMLResponse"])
            )
            pending = b.entries.pop(f"saml:logout:{document.get('InResponseTo', '')}")
            if pending is None:
                raise Refused(
                    "saml",
                    "unknown",
                    "LogoutResponse",
                    "unknown_request",
                    "a logout answer to no logout this hub started",
                )
            idp, then = pending["idp"], pending["then"]
        else:
            then = "/sso/logout"
            document = OneLogin_Saml2_XML.to_etree(
                OneLogin_Saml2_Utils.decode_base64_and_inflate(request.args.get("SAMLRequest", ""))
            )
            issuer = OneLogin_Saml2_XML.query(document, "/samlp:LogoutRequest/saml:Issuer")
            idp = b.idp_by_entity_id(issuer[0].text.strip() if issuer and issuer[0].text else "")
            if idp is None:
                raise Refused(
                    "saml", "unknown", "LogoutRequest", "unknown_issuer", "a logout request from no configured IdP"
                )
        auth = b.sp.auth(request, b.loaded_idp(idp).settings)
        url = auth.process_slo(request_id=document.get("InResponseTo"), delete_session_cb=end)
        if auth.get_errors():
            raise Refused(
                "saml",
                idp,
                "single logout",
                "invalid",
                f"python3-saml refused the logout message: "
                f"{auth.get_last_error_reason() or ', '.join(auth.get_errors())}",
            )
    except Refused as refusal:
        return b.refused_page(refusal)
    except Exception:
        return b.refused_page(
            Refused("saml", "unknown", "single logout", "unreadable", "the logout message cannot be read")
        )
    return continue_to(url or then, front_channel)
