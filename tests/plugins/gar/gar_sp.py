"""GAR's side of the SSO for the tests: a real SAML SP (python3-saml, strict) behind Flask on 127.0.0.1.

It reads the hub's IdP metadata, sends signed AuthnRequests (HTTP-Redirect, or HTTP-POST
with ``/login?binding=post``) and consumes the answers the way GAR would: python3-saml
checks the signatures, the audience, the destination, the InResponseTo and the times.
``/acs`` answers JSON: the attributes and NameID, or python3-saml's errors.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from flask import Flask, jsonify, redirect, request
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils


class GarSp:
    def __init__(self, port: int, key: Path, cert: Path, idp_metadata_url: str):
        self.url = f"http://127.0.0.1:{port}"
        self.port, self.idp_metadata_url = port, idp_metadata_url
        self.key, self.cert = key.read_text(), cert.read_text()
        self.entity_id = f"{self.url}/metadata"
        self.requests: list[str] = []  # ids of the AuthnRequests sent, for InResponseTo
        self.last_response: bytes | None = None  # the XML of the last Response received
        self.sign_requests = True  # False: AuthnRequests go unsigned (GAR never does)
        self.app = self._app()

    def settings(self, with_idp: bool = True) -> dict:
        idp = (
            OneLogin_Saml2_IdPMetadataParser.parse_remote(self.idp_metadata_url)["idp"]
            if with_idp
            else {"entityId": "", "singleSignOnService": {"url": ""}, "x509cert": ""}
        )
        return {
            "strict": True,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {"url": f"{self.url}/acs", "binding": C.BINDING_HTTP_POST},
                "NameIDFormat": C.NAMEID_PERSISTENT,
                "x509cert": self.cert,
                "privateKey": self.key,
            },
            "idp": idp,
            "security": {
                "authnRequestsSigned": self.sign_requests,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": True,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": C.RSA_SHA256,
                "digestAlgorithm": C.SHA256,
            },
        }

    def metadata(self) -> str:
        xml = OneLogin_Saml2_Settings(self.settings(with_idp=False), sp_validation_only=True).get_sp_metadata()
        return xml.decode() if isinstance(xml, bytes) else xml

    def _request_data(self) -> dict:
        return {
            "https": "off",
            "http_host": f"127.0.0.1:{self.port}",
            "script_name": request.path,
            "get_data": request.args.copy(),
            "post_data": request.form.copy(),
        }

    def _app(self) -> Flask:
        app = Flask("gar_sp")

        @app.get("/metadata")
        def metadata():
            return self.metadata(), 200, {"Content-Type": "application/samlmetadata+xml"}

        @app.get("/login")
        def login():
            """An AuthnRequest to the hub: by redirect (signed query string) or by an auto-posted form."""
            settings = self.settings()
            force = request.args.get("force") == "1"
            if request.args.get("binding") != "post":
                auth = OneLogin_Saml2_Auth(self._request_data(), settings)
                url = auth.login(
                    return_to="gar-state", force_authn=force, is_passive=request.args.get("passive") == "1"
                )
                self.requests.append(auth.get_last_request_id())
                return redirect(url)
            saml = OneLogin_Saml2_Settings(settings)
            authn = OneLogin_Saml2_Authn_Request(saml, force_authn=force)
            xml = authn.get_xml()
            if self.sign_requests:
                xml = OneLogin_Saml2_Utils.add_sign(
                    xml, self.key, self.cert, sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256
                )
            self.requests.append(authn.get_id())
            encoded = base64.b64encode(xml if isinstance(xml, bytes) else xml.encode()).decode()
            action = saml.get_idp_data()["singleSignOnService"]["url"]
            return (
                f'<form method="post" action="{html.escape(action)}">'
                f'<input type="hidden" name="SAMLRequest" value="{encoded}">'
                '<input type="hidden" name="RelayState" value="gar-state"></form>'
            )

        @app.post("/acs")
        def acs():
            self.last_response = base64.b64decode(request.form.get("SAMLResponse", ""))
            auth = OneLogin_Saml2_Auth(self._request_data(), self.settings())
            auth.process_response(request_id=self.requests[-1] if self.requests else None)
            return jsonify(
                errors=auth.get_errors(),
                reason=auth.get_last_error_reason(),
                authenticated=auth.is_authenticated(),
                name_id=auth.get_nameid(),
                name_id_format=auth.get_nameid_format(),
                attributes=auth.get_attributes(),
                relay_state=request.form.get("RelayState"),
            )

        return app
