"""The configured upstream IdPs: their metadata (file or URL, refreshed, signature checked) as python3-saml settings."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser as MetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from hub.errors import SettingsError

log = logging.getLogger("hub.sso")


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
            raise SettingsError("setting sso.sp_cert_file and HUB_SSO__SP_PRIVATE_KEY(_FILE) are required when "
                                "sso.idps lists an IdP: the hub signs its AuthnRequests")
        self.cert = Path(sso.sp_cert_file).read_text()
        self.key = sso.sp_private_key.get_secret_value()
        self._loaded: dict[str, LoadedIdp] = {}
        self._lock = threading.Lock()

    def sp_settings(self, idp_data: dict | None = None, sign_requests: bool = True) -> dict:
        return {
            "strict": True,
            "sp": {"entityId": self.entity_id,
                   "assertionConsumerService": {"url": self.acs_url, "binding": C.BINDING_HTTP_POST},
                   "singleLogoutService": {"url": self.sls_url, "binding": C.BINDING_HTTP_REDIRECT},
                   "NameIDFormat": C.NAMEID_UNSPECIFIED, "x509cert": self.cert, "privateKey": self.key},
            "idp": idp_data or {"entityId": "", "singleSignOnService": {"url": "", "binding": C.BINDING_HTTP_REDIRECT},
                                "x509cert": ""},
            "security": {"authnRequestsSigned": sign_requests, "logoutRequestSigned": True,
                         "logoutResponseSigned": True, "wantAssertionsSigned": True,
                         "wantMessagesSigned": True, "requestedAuthnContext": False,
                         "rejectDeprecatedAlgorithm": True, "signatureAlgorithm": C.RSA_SHA256,
                         "digestAlgorithm": C.SHA256, "wantAttributeStatement": False},
        }

    def metadata(self) -> str:
        settings = OneLogin_Saml2_Settings(self.sp_settings(), sp_validation_only=True)
        xml = settings.get_sp_metadata()
        errors = settings.validate_metadata(xml)
        if errors:
            raise SettingsError(f"the SP metadata is invalid: {', '.join(errors)}")
        return xml.decode() if isinstance(xml, bytes) else xml

    def request_data(self, request) -> dict:
        """python3-saml's view of the request, from the configured public URL (the hub may sit behind a proxy)."""
        url = urlsplit(self.acs_url)
        return {"https": "on" if url.scheme == "https" else "off", "http_host": url.netloc,
                "script_name": request.path, "get_data": request.args.copy(), "post_data": request.form.copy()}

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
                raise SettingsError(f"IdP {name}: the metadata signature does not verify with "
                                    f"{config.metadata_cert_file}")
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
