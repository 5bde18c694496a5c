"""The configured upstream IdPs: their metadata (file or URL, refreshed, signature checked) as python3-saml settings."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from os.path import dirname, join
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import onelogin.saml2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser as MetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from hub.errors import SettingsError

log = logging.getLogger("hub.sso")
_schemas: dict[str, queue.SimpleQueue] = defaultdict(queue.SimpleQueue)


def _validate_xml(xml, schema, debug=False):
    """python3-saml's ``OneLogin_Saml2_XML.validate_xml``, with the compiled XSD kept for reuse.

    python3-saml (1.16) reads and compiles its SAML schemas (and their imports) again for every
    message it validates in strict mode, and has no setting to skip or cache that: ~1 ms of CPU per
    response. This is the broker's one patch of python3-saml, installed below at import; it
    keeps the library's contract (the element, or ``unloaded_xml`` / ``invalid_xml``). A small pool
    of compiled schemas, one per concurrent validation: an lxml XMLSchema keeps its error log on itself.
    """
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    pool = _schemas[schema]
    try:
        validator = pool.get_nowait()
    except queue.Empty:  # parsed from its path, as python3-saml does, so that its imports resolve
        validator = etree.XMLSchema(etree.parse(join(_SCHEMA_DIR, schema)))
    try:
        if not validator.validate(xml):
            if debug:
                log.debug("SAML message not valid against %s: %s", schema, validator.error_log)
            return "invalid_xml"
        return xml
    finally:
        pool.put(validator)


_SCHEMA_DIR = join(dirname(onelogin.saml2.__file__), "schemas")
OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)


class HubAuth(OneLogin_Saml2_Auth):
    """python3-saml's Auth, signing HTTP-Redirect messages (AuthnRequest, LogoutRequest, LogoutResponse) with
    the SP key parsed once, rather than read again into xmlsec for each message as python3-saml does."""

    def __init__(self, request_data: dict, settings, signing_key):
        super().__init__(request_data, settings)
        self._signing_key = signing_key

    def add_request_signature(self, request_data, sign_algorithm=C.RSA_SHA256):
        self._sign_query(request_data, "SAMLRequest", sign_algorithm)

    def add_response_signature(self, response_data, sign_algorithm=C.RSA_SHA256):
        self._sign_query(response_data, "SAMLResponse", sign_algorithm)

    def _sign_query(self, data: dict, saml_type: str, algorithm: str) -> None:
        if algorithm != C.RSA_SHA256:  # the hub's settings ask for RSA-SHA256; anything else as python3-saml does
            self._build_signature(data, saml_type, algorithm)
            return
        signed = self._build_sign_query(data[saml_type], data.get("RelayState"), algorithm, saml_type)
        signature = self._signing_key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        data["Signature"] = OneLogin_Saml2_Utils.b64encode(signature)
        data["SigAlg"] = algorithm


@dataclass
class LoadedIdp:
    name: str
    entity_id: str
    sso_binding: str
    saml_settings: dict
    loaded_at: float

    @property
    def logout_url(self) -> str | None:
        """The IdP's single logout endpoint (HTTP-Redirect), if its metadata has one."""
        return self.saml_settings["idp"].get("singleLogoutService", {}).get("url") or None

    @cached_property
    def settings(self) -> OneLogin_Saml2_Settings:
        """Built once per metadata load (python3-saml parses the keys and certificates each time it builds one)."""
        return OneLogin_Saml2_Settings(self.saml_settings)


class ServiceProvider:
    """The hub as SAML SP: its own URLs and keys, and one python3-saml settings dict per upstream IdP."""

    def __init__(self, sso):
        self.sso = sso
        base = sso.base_url.rstrip("/")
        self.entity_id = f"{base}/saml/metadata"
        self.acs_url = f"{base}/saml/acs"
        self.sls_url = f"{base}/saml/sls"
        if not (sso.sp_cert_file and sso.sp_private_key):
            raise SettingsError(
                "setting sso.sp_cert_file and HUB_SSO__SP_PRIVATE_KEY(_FILE) are required when "
                "sso.idps lists an IdP: the hub signs its AuthnRequests"
            )
        self.cert = Path(sso.sp_cert_file).read_text()
        self.key = sso.sp_private_key.get_secret_value()
        self.signing_key = serialization.load_pem_private_key(self.key.encode(), password=None)
        self._loaded: dict[str, LoadedIdp] = {}
        self._lock = threading.Lock()

    def sp_settings(self, idp_data: dict | None = None, sign_requests: bool = True) -> dict:
        return {
            "strict": True,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": self.acs_url, "binding": C.BINDING_HTTP_POST},
                "singleLogoutService": {"url": self.sls_url, "binding": C.BINDING_HTTP_REDIRECT},
                "NameIDFormat": C.NAMEID_UNSPECIFIED,
                "x509cert": self.cert,
                "privateKey": self.key,
            },
            "idp": idp_data
            or {"entityId": "", "singleSignOnService": {"url": "", "binding": C.BINDING_HTTP_REDIRECT}, "x509cert": ""},
            "security": {
                "authnRequestsSigned": sign_requests,
                "logoutRequestSigned": True,
                "logoutResponseSigned": True,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": True,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": C.RSA_SHA256,
                "digestAlgorithm": C.SHA256,
                "wantAttributeStatement": False,
            },
        }

    def metadata(self) -> str:
        settings = OneLogin_Saml2_Settings(self.sp_settings(), sp_validation_only=True)
        xml = settings.get_sp_metadata()
        errors = settings.validate_metadata(xml)
        if errors:
            raise SettingsError(f"the SP metadata is invalid: {', '.join(errors)}")
        return xml.decode() if isinstance(xml, bytes) else xml

    def auth(self, request, settings: OneLogin_Saml2_Settings) -> HubAuth:
        return HubAuth(self.request_data(request), settings, self.signing_key)

    def request_data(self, request) -> dict:
        """python3-saml's view of the request, from the configured public URL (the hub may sit behind a proxy)."""
        url = urlsplit(self.acs_url)
        return {
            "https": "on" if url.scheme == "https" else "off",
            "http_host": url.netloc,
            "script_name": request.path,
            "get_data": request.args.copy(),
            "post_data": request.form.copy(),
        }

    def idp(self, name: str) -> LoadedIdp:
        """The IdP's settings, read again once its metadata is older than ``metadata_refresh_seconds``
        (a failed refresh keeps the last good metadata, and says so in the log)."""
        config = self.sso.idps[name]
        loaded = self._loaded.get(name)
        if loaded and time.time() - loaded.loaded_at < config.metadata_refresh_seconds:
            return loaded
        with self._lock:
            try:
                self._loaded[name] = self._load(name, config)
            except Exception as exc:
                if loaded is None:
                    raise SettingsError(f"IdP {name}: cannot read its metadata: {exc}") from exc
                log.error("IdP %s: metadata refresh failed, keeping the last good one: %s", name, exc)
                loaded.loaded_at = time.time()
            return self._loaded[name]

    def _load(self, name: str, config) -> LoadedIdp:
        if config.metadata_file:
            xml = Path(config.metadata_file).read_text(encoding="utf-8")
        else:
            response = httpx.get(config.metadata_url, timeout=20, follow_redirects=True)
            response.raise_for_status()
            xml = response.text
        if config.metadata_cert_file:
            cert = Path(config.metadata_cert_file).read_text()
            if not OneLogin_Saml2_Utils.validate_metadata_sign(xml, cert, validatecert=False):
                raise SettingsError(
                    f"IdP {name}: the metadata signature does not verify with {config.metadata_cert_file}"
                )
        parsed, binding = {}, C.BINDING_HTTP_REDIRECT
        for binding in (C.BINDING_HTTP_REDIRECT, C.BINDING_HTTP_POST):
            parsed = MetadataParser.parse(xml, required_sso_binding=binding, entity_id=config.entity_id)
            if parsed.get("idp", {}).get("singleSignOnService", {}).get("url"):
                break
        idp_data = parsed.get("idp")
        if not idp_data or not idp_data.get("singleSignOnService", {}).get("url"):
            raise SettingsError(f"IdP {name}: no IdP with an SSO endpoint (HTTP-Redirect or HTTP-POST) in its metadata")
        settings = self.sp_settings(idp_data, config.sign_requests)
        return LoadedIdp(name, idp_data["entityId"], binding, settings, time.time())
