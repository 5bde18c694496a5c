"""The hub as the SAML 2.0 identity provider GAR trusts (pysaml2): metadata, SSO, signed answers by HTTP-POST.

GAR's SP sends an AuthnRequest (HTTP-Redirect or HTTP-POST) to ``/gar/idp/sso``. The
hub takes it only from the SP of GAR's metadata (``idp_sp_metadata_file`` or ``_url``),
signed unless ``idp_want_signed_requests = false``, keeps it in the broker's shared
entries and sends the browser to ``/gar/idp/continue``. There the user logs in through
the SSO broker if needed (`hub.sso`: the same session as every other application) and,
when GAR serves them, goes back to GAR's ACS with a Response whose assertion (and the
Response itself) is signed RSA-SHA256 by ``idp_key_file``.

The assertion carries what GAR resolves the user with (`ATTRIBUTES`): the
``GARPersonIdentifiant`` of the roster feed (`plugins.gar.roster.gar_ids`, the same
value), ``idEnt``, and where and as what the feed lists them: the UAIs and the GAR
profiles. A person the feed leaves out (an establishment GAR does not serve, a parent,
functions without a GAR profile) gets a page saying why, and the refusal is journaled
(`hub.sso.events`); neither the log nor the journal ever holds an assertion.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlencode

import httpx
from flask import Blueprint, Flask, Response, current_app, redirect, render_template, request
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.attribute_converter import AttributeConverter
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.samlp import STATUS_NO_PASSIVE
from saml2.server import Server
from saml2.sigver import get_xmlsec_binary
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub.errors import SettingsError
from hub.model import PersonKind, PersonStatus
from hub.queries import StoreView
from hub.sso.broker import Refused, broker
from hub.sso.events import record_login
from hub.sso.saml import auto_post
from hub.sso.sessions import session
from hub.store.tables import person, person_function, teaching_assignment
from plugins.gar import feed, roster

NAME = "gar"
bp = Blueprint("gar_idp", __name__, url_prefix="/gar/idp")
log = logging.getLogger("hub.sso.gar")
# The attribute Names GAR reads. GARPersonIdentifiant and idEnt are what open ENTs send (OPEN-ENT-NG SSOGar);
# the UAI and profile attributes take the roster feed's element names (GAR's own list is unconfirmed).
ATTRIBUTES = {
    "gar_id": "GARPersonIdentifiant",
    "id_ent": "idEnt",
    "uais": "GARStructureUAI",
    "profiles": "GARPersonProfil",
}
AC_UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"  # how the upstream IdP checked is its own
METADATA_MAX_AGE = 3600  # GAR's metadata fetched from a URL is read again after this many seconds

if logging.getLogger("saml2").level == logging.NOTSET:  # pysaml2 logs whole messages at DEBUG and INFO
    logging.getLogger("saml2").setLevel(logging.WARNING)


# --- who GAR serves ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GarAccess:
    """A person as GAR knows them from the roster feed: their GARPersonIdentifiant and, per served UAI, their GAR
    profiles (none: RespAff only, listed for the console d'affectation)."""

    person_key: str
    gar_id: str
    profiles: dict[str, list[str]]


def profiles_by_uai(
    kind: str,
    attached: str | None,
    functions: list[tuple[str, str]],
    taught: set[str],
    person_key: str,
    served: set[str],
    settings,
) -> dict[str, list[str]]:
    """Where the roster feed lists this person (`plugins.gar.roster`'s rules, for one person) and with which
    profiles: pupils in the establishment they attend, staff where they hold a function with a GAR profile,
    teach, or assign resources (RespAff). Empty: the feed leaves them out."""
    if kind == PersonKind.ELEVE:
        return {attached: [roster.PUPIL]} if attached in served else {}
    if kind not in (PersonKind.ENSEIGNANT, PersonKind.PERSONNEL):
        return {}
    named = {uai for uai, keys in settings.resp_aff.items() if person_key in keys}
    found = {}
    for uai in sorted(served & ({u for u, _ in functions} | taught | {attached} | named)):
        codes = {code for u, code in functions if u == uai}
        profiles = sorted({roster.PROFILES[c] for c in codes if c in roster.PROFILES})
        if not profiles and kind == PersonKind.ENSEIGNANT and (attached == uai or uai in taught):
            profiles = [roster.PROFILES["ENS"]]
        if profiles or uai in named or codes & set(settings.resp_aff_functions):
            found[uai] = profiles
    return found


def gar_access(engine, settings, person_key: str) -> GarAccess:
    """The person's `GarAccess`, or `Refused` with a reason the user reads (code ``out_of_scope``)."""
    record = f"person {person_key}"
    with engine.connect() as conn:
        row = conn.execute(
            select(person.c.id, person.c.kind, person.c.uai).where(
                person.c.person_key == person_key, person.c.status == PersonStatus.ACTIVE
            )
        ).first()
        if row is None:
            raise Refused("saml", NAME, record, "out_of_scope", "votre compte n'est plus actif dans l'annuaire")
        functions = [
            (f.uai, f.code)
            for f in conn.execute(
                select(person_function.c.uai, person_function.c.code).where(person_function.c.person_id == row.id)
            )
        ]
        taught = set(
            conn.execute(select(teaching_assignment.c.uai).where(teaching_assignment.c.person_id == row.id)).scalars()
        )
    if row.kind == PersonKind.PARENT:
        raise Refused(
            "saml",
            NAME,
            record,
            "out_of_scope",
            "les ressources numériques du GAR sont ouvertes aux "
            "élèves et aux personnels des établissements ; les comptes de parents n'y ont pas accès",
        )
    served = {e.uai for e in feed.served(StoreView(engine), settings)}
    profiles = profiles_by_uai(row.kind, row.uai, functions, taught, person_key, served, settings)
    if not profiles:
        where = sorted({row.uai, *(u for u, _ in functions), *taught} - {None})
        inside = [uai for uai in where if uai in served]
        why = (
            f"vos fonctions dans l'établissement {', '.join(inside)} n'y donnent pas accès"
            if inside
            else f"votre établissement ({', '.join(where) or 'aucun'}) n'y accède pas par l'ENT"
        )
        raise Refused(
            "saml", NAME, record, "out_of_scope", f"les ressources numériques du GAR vous sont fermées : {why}"
        )
    try:
        with engine.begin() as conn:
            gar_id = roster.gar_ids(conn, [row.id])[row.id]
    except IntegrityError:  # a delivery drew this person's id at the same moment: read the one it kept
        with engine.begin() as conn:
            gar_id = roster.gar_ids(conn, [row.id])[row.id]
    return GarAccess(person_key, gar_id, profiles)


# --- the pysaml2 IdP ------------------------------------------------------------------------------------------


class GarIdp:
    """pysaml2's IdP, built from ``[plugins.gar]`` and GAR's SP metadata (re-read hourly when it comes from a URL).

    The private key stays in its file: pysaml2 signs with the ``xmlsec1`` program, which reads it there.
    """

    def __init__(self, settings, sso):
        self.settings, self.sso = settings, sso
        base = sso.base_url.rstrip("/")
        self.entity_id = settings.idp_entity_id or f"{base}/gar/idp/metadata"
        self.sso_url = f"{base}/gar/idp/sso"
        for name in ("idp_cert_file", "idp_key_file"):
            path = getattr(settings, name)
            if not path.is_file():
                raise SettingsError(f"setting plugins.gar.{name}: {path} is not a readable file")
        if settings.idp_sp_metadata_file is not None and not settings.idp_sp_metadata_file.is_file():
            raise SettingsError(
                f"setting plugins.gar.idp_sp_metadata_file: {settings.idp_sp_metadata_file} is not a readable file"
            )
        self.xmlsec = get_xmlsec_binary()
        self._server: Server | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def config(self, sp_metadata: str | None) -> IdPConfig:
        conf = IdPConfig()
        conf.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.sso_url, BINDING_HTTP_REDIRECT),
                                (self.sso_url, BINDING_HTTP_POST),
                            ]
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
                        "want_authn_requests_signed": self.settings.idp_want_signed_requests,
                        "policy": {
                            "default": {
                                "lifetime": {"seconds": self.settings.idp_assertion_seconds},
                                "attribute_restrictions": None,
                                "name_form": NAME_FORMAT_BASIC,
                            }
                        },
                    }
                },
                "key_file": str(self.settings.idp_key_file),
                "cert_file": str(self.settings.idp_cert_file),
                "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
                "xmlsec_binary": self.xmlsec,
                "accepted_time_diff": self.sso.clock_skew_seconds,
            }
        )
        converter = AttributeConverter(NAME_FORMAT_BASIC)  # GAR's names as they are, NameFormat basic
        converter.from_dict(
            {
                "identifier": NAME_FORMAT_BASIC,
                "to": {n: n for n in ATTRIBUTES.values()},
                "fro": {n: n for n in ATTRIBUTES.values()},
            }
        )
        conf.attribute_converters = [converter]
        return conf

    def server(self) -> Server:
        """The IdP with GAR's metadata; a refusal (503) when it cannot be read."""
        with self._lock:
            stale = self.settings.idp_sp_metadata_url and time.time() - self._loaded_at > METADATA_MAX_AGE
            if self._server is None or stale:
                try:
                    server = Server(config=self.config(self._sp_metadata()))
                except Exception as exc:
                    if self._server is None:
                        raise Refused(
                            "saml",
                            NAME,
                            "metadata of GAR",
                            "metadata",
                            f"GAR's SP metadata cannot be read: {exc}",
                            status=503,
                        ) from None
                    log.error("GAR's SP metadata could not be read again (the last one is kept): %s", exc)
                    self._loaded_at = time.time()
                    return self._server
                server.session_db = _NoAssertionStore()
                self._server, self._loaded_at = server, time.time()
            return self._server

    def _sp_metadata(self) -> str:
        if self.settings.idp_sp_metadata_file is not None:
            return self.settings.idp_sp_metadata_file.read_text()
        answer = httpx.get(self.settings.idp_sp_metadata_url, timeout=20, follow_redirects=True)
        answer.raise_for_status()
        return answer.text

    def known_sps(self) -> set[str]:
        return set(self.server().metadata.with_descriptor("spsso"))

    @cached_property
    def metadata(self) -> str:
        """The IdP's own metadata, signed with its key (made once: it depends on the settings only)."""
        xml = create_metadata_string(
            None, config=self.config(None), sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256
        )
        return xml.decode() if isinstance(xml, bytes) else xml

    def parse(self, binding: str, values) -> dict:
        """The AuthnRequest GAR sent, checked (sender, signature, destination): what the answer needs."""
        encoded = values.get("SAMLRequest", "")
        try:
            message = samlp.authn_request_from_string(Server.unravel(encoded, binding, "request"))
            issuer = message.issuer.text.strip()
        except Exception:
            raise Refused(
                "saml", NAME, "AuthnRequest", "unreadable", "la demande de connexion ne peut pas être lue", status=400
            ) from None
        record = f"AuthnRequest {message.id} from {issuer}"[:300]
        if issuer not in self.known_sps():
            raise Refused(
                "saml",
                NAME,
                record,
                "unknown_sp",
                f"le service {issuer} n'est pas le GAR : l'ENT ne lui transmet pas d'identité",
                status=403,
            )
        try:
            parsed = self.server().parse_authn_request(
                encoded,
                binding,
                relay_state=values.get("RelayState"),
                sigalg=values.get("SigAlg"),
                signature=values.get("Signature"),
            )
            args = self.server().response_args(parsed.message, [BINDING_HTTP_POST])
        except Exception as exc:
            raise Refused(
                "saml",
                NAME,
                record,
                "invalid_request",
                f"the AuthnRequest was refused: {type(exc).__name__}: {exc}",
                status=400,
            ) from None
        policy = parsed.message.name_id_policy
        return {
            "id": parsed.message.id,
            "sp": args["sp_entity_id"],
            "acs": args["destination"],
            "relay_state": values.get("RelayState", ""),
            "name_id_format": policy.format if policy is not None and policy.format else None,
            "force": parsed.message.force_authn == "true",
            "passive": parsed.message.is_passive == "true",
        }

    def answer(self, pending: dict, access: GarAccess, user: dict) -> str:
        """The signed Response, base64 for the HTTP-POST binding."""
        transient = pending["name_id_format"] == NAMEID_FORMAT_TRANSIENT
        name_id = NameID(
            format=NAMEID_FORMAT_TRANSIENT if transient else NAMEID_FORMAT_PERSISTENT,
            text=secrets.token_hex(16) if transient else access.gar_id,
            name_qualifier=self.entity_id,
            sp_name_qualifier=pending["sp"],
        )
        identity = {
            ATTRIBUTES["gar_id"]: [access.gar_id],
            ATTRIBUTES["id_ent"]: [self.settings.id_ent],
            ATTRIBUTES["uais"]: sorted(access.profiles),
            ATTRIBUTES["profiles"]: sorted({p for ps in access.profiles.values() for p in ps}),
        }
        response = self.server().create_authn_response(
            {k: v for k, v in identity.items() if v},
            in_response_to=pending["id"],
            destination=pending["acs"],
            sp_entity_id=pending["sp"],
            name_id=name_id,
            sign_assertion=True,
            sign_response=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            authn={"class_ref": AC_UNSPECIFIED, "authn_instant": user["auth_time"]},
        )
        return base64.b64encode(str(response).encode()).decode()

    def no_passive(self, pending: dict) -> str:
        """The answer to an IsPassive request from someone not logged in: no login is possible without them."""
        response = self.server().create_error_response(
            pending["id"],
            pending["acs"],
            (STATUS_NO_PASSIVE, "no session at the ENT"),
            sign=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
        return base64.b64encode(str(response).encode()).decode()


class _NoAssertionStore:
    """pysaml2 keeps every assertion it makes in memory (for queries GAR never sends): keep none."""

    def store_assertion(self, assertion, to_sign) -> None:
        pass

    def get_assertion(self, cid):
        return None

    def get_assertions_by_subject(self, name_id=None, session_index=None, requested_context=None):
        return []

    def remove_authn_statements(self, name_id) -> None:
        pass


# --- the endpoints --------------------------------------------------------------------------------------------


def idp() -> GarIdp:
    return current_app.extensions["gar_idp"]


@bp.get("/metadata")
def metadata():
    return Response(idp().metadata, mimetype="application/samlmetadata+xml")


@bp.route("/sso", methods=["GET", "POST"])
def single_sign_on():
    """GAR's AuthnRequest: checked, kept for ``request_lifetime_seconds``, then answered from ``/continue``."""
    b = broker()
    binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
    try:
        pending = idp().parse(binding, request.form if request.method == "POST" else request.args)
    except Refused as refusal:
        return b.refused_page(refusal)
    token = secrets.token_urlsafe(24)
    b.entries.put(f"gar:authn:{token}", pending, b.settings.request_lifetime_seconds)
    return redirect(_continue_path(token))


def _continue_path(token: str) -> str:
    return f"/gar/idp/continue?{urlencode({'request': token})}"


@bp.get("/continue")
def continue_request():
    """Log the user in through the broker when needed, then answer GAR (or say why not)."""
    b = broker()
    token = request.args.get("request", "")
    pending = b.entries.get(f"gar:authn:{token}")
    if pending is None:
        return b.refused_page(_expired())
    user = session.get("user")
    person_record = b.people.person(user["key"]) if user else None
    if person_record is None or pending["force"]:
        if pending["passive"]:
            b.entries.delete(f"gar:authn:{token}")
            return _post(pending, idp().no_passive(pending))
        session.pop("user", None)  # none, gone from the directory, or ForceAuthn: credentials asked again
        login = {"next": _continue_path(token), **({"force": "1"} if pending["force"] else {})}
        if pending["force"]:  # asked once: whoever is logged in when the browser comes back has just logged in
            b.entries.put(f"gar:authn:{token}", {**pending, "force": False}, b.settings.request_lifetime_seconds)
        return redirect(f"/sso/login?{urlencode(login)}")
    if b.entries.pop(f"gar:authn:{token}") is None:  # answered meanwhile, in another tab
        return b.refused_page(_expired())
    try:
        access = gar_access(b.engine, current_app.extensions["hub"].plugins.settings[NAME], user["key"])
    except Refused as refusal:
        return b.refused_page(refusal)
    try:
        answer = idp().answer(pending, access, user)
    except Exception as exc:  # GAR's metadata asks for what the hub cannot give (a required attribute…)
        return b.refused_page(
            Refused(
                "saml",
                NAME,
                f"AuthnRequest {pending['id']}",
                "answer_failed",
                f"the answer to GAR cannot be made: {type(exc).__name__}: {exc}",
                status=500,
            )
        )
    record_login(b.engine, user["key"], person_record, NAME, user["idp"])
    log.info("GAR IdP: answered AuthnRequest %s (GAR id %s)", pending["id"], access.gar_id)
    return _post(pending, answer)


def _expired() -> Refused:
    return Refused(
        "saml",
        NAME,
        "AuthnRequest",
        "unknown_request",
        "cette demande de connexion au GAR a expiré ou a déjà reçu sa réponse : repartez du GAR",
        status=400,
    )


def _post(pending: dict, encoded: str):
    fields = {"SAMLResponse": encoded, **({"RelayState": pending["relay_state"]} if pending["relay_state"] else {})}
    return render_template("sso/page.html", title="Connexion au GAR", form=auto_post(pending["acs"], fields))


def register(app: Flask) -> None:
    """Add the IdP to the web app; it needs the SSO broker, whose session says who the user is."""
    if "sso" not in app.extensions:
        raise SettingsError(
            "setting plugins.gar.idp_cert_file: GAR's identity provider needs the SSO broker ([sso] enabled = true)"
        )
    from hub.sso import use_sso_session

    app.extensions["gar_idp"] = GarIdp(app.extensions["hub"].plugins.settings[NAME], app.extensions["sso"].settings)
    app.register_blueprint(bp)
    use_sso_session(app, bp.name)
