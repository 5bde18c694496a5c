"""A real SAML IdP for the tests: pysaml2 behind Flask on 127.0.0.1, signing its responses with its own key.

Users are added by the test (``idp.users[name] = {attribute: [values]}``). To play an
attacker who holds the IdP's key (or a broken IdP), a test sets ``idp.tweak``: a
function given the unsigned response (lxml) before the IdP signs it. ``idp.last_post``
keeps the last form the IdP handed the browser, for replays.
"""

from __future__ import annotations

import html
import re
import threading
import warnings
from pathlib import Path

import httpx
from flask import Flask, request
from lxml import etree
from werkzeug.serving import make_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.metadata import create_metadata_string
    from saml2.saml import AUTHN_PASSWORD, NAMEID_FORMAT_UNSPECIFIED, NameID
    from saml2.server import Server

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils

NS = {"samlp": "urn:oasis:names:tc:SAML:2.0:protocol", "saml": "urn:oasis:names:tc:SAML:2.0:assertion"}


class TestIdp:
    def __init__(self, port: int, key: Path, cert: Path, sp_metadata_url: str, binding: str = BINDING_HTTP_REDIRECT):
        self.url = f"http://127.0.0.1:{port}"
        self.port, self.key, self.cert, self.sp_metadata_url, self.binding = port, key, cert, sp_metadata_url, binding
        self.users: dict[str, dict[str, list[str]]] = {}
        self.tweak = None
        self.metadata_signer: tuple[Path, Path] | None = None  # (key, cert) signing the metadata, if any
        self.sign_alg, self.digest_alg = C.RSA_SHA256, C.SHA256  # pysaml2 would sign with SHA-1
        self.last_post: dict | None = None
        self.logouts: list[str] = []  # NameIDs the SP logged out here
        self.requests_seen = 0
        self._server: Server | None = None
        self.app = self._app()

    def config(self, sp_metadata: str | None) -> IdPConfig:
        conf = IdPConfig()
        conf.load(
            {
                "entityid": f"{self.url}/metadata",
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(f"{self.url}/sso", self.binding)],
                            "single_logout_service": [(f"{self.url}/slo", BINDING_HTTP_REDIRECT)],
                        },
                        "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
                        "want_authn_requests_signed": True,
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
                            }
                        },
                    }
                },
                "key_file": str(self.key),
                "cert_file": str(self.cert),
                "metadata": {"inline": [sp_metadata]} if sp_metadata else {},
                "xmlsec_binary": "/usr/bin/xmlsec1",
            }
        )
        return conf

    @property
    def server(self) -> Server:
        if self._server is None:  # the hub serves its SP metadata once it runs
            self._server = Server(config=self.config(httpx.get(self.sp_metadata_url).text))
        return self._server

    def metadata(self) -> str:
        xml = create_metadata_string(None, config=self.config(None), valid=24).decode()
        if self.metadata_signer is None:
            return xml
        key, cert = self.metadata_signer
        signed = OneLogin_Saml2_Utils.add_sign(
            xml, key.read_text(), cert.read_text(), sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256
        )
        return signed.decode() if isinstance(signed, bytes) else signed

    def rotate(self, key: Path, cert: Path) -> None:
        """The IdP takes a new key: its metadata and its answers change together."""
        self.key, self.cert, self._server = key, cert, None

    def _app(self) -> Flask:
        app = Flask("test_idp")

        @app.get("/metadata")
        def metadata():
            return self.metadata(), 200, {"Content-Type": "application/samlmetadata+xml"}

        @app.get("/slo")
        def slo():
            """The SP's LogoutRequest (signature checked by pysaml2): log it, answer with a signed LogoutResponse."""
            args = request.args
            if "SAMLResponse" in args:  # the SP's answer to an IdP-initiated logout
                self.logouts.append("answered")
                return "logged out"
            req = self.server.parse_logout_request(
                args["SAMLRequest"],
                BINDING_HTTP_REDIRECT,
                relay_state=args.get("RelayState"),
                sigalg=args.get("SigAlg"),
                signature=args.get("Signature"),
            )
            self.logouts.append(req.message.name_id.text)
            response = self.server.create_logout_response(req.message, [BINDING_HTTP_REDIRECT])
            _, destination = self.server.pick_binding(
                "single_logout_service", [BINDING_HTTP_REDIRECT], "spsso", entity_id=req.message.issuer.text
            )
            info = self.server.apply_binding(
                BINDING_HTTP_REDIRECT,
                str(response),
                destination,
                args.get("RelayState", ""),
                response=True,
                sign=True,
                sigalg=C.RSA_SHA256,
            )
            return "", 302, {"Location": dict(info["headers"])["Location"]}

        @app.route("/sso", methods=["GET", "POST"])
        def sso():
            fields = {
                k: request.values[k]
                for k in ("SAMLRequest", "RelayState", "SigAlg", "Signature")
                if k in request.values
            }
            if "username" not in request.values:  # the login form, carrying the request
                inputs = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items()
                )
                return (
                    f'<form method="post" action="/sso">{inputs}<label>Identifiant <input name="username" '
                    'id="username"></label><button type="submit" id="login">Se connecter</button></form>'
                )
            return self.answer(request.values["username"], fields)

        return app

    def answer(self, username: str, fields: dict) -> tuple[str, int] | str:
        if username not in self.users:
            return "unknown user", 401
        self.requests_seen += 1
        req = self.server.parse_authn_request(
            fields["SAMLRequest"],
            self.binding,
            relay_state=fields.get("RelayState"),
            sigalg=fields.get("SigAlg"),
            signature=fields.get("Signature"),
        )
        args = self.server.response_args(req.message, [BINDING_HTTP_POST])
        name_id = NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=username)
        authn = {"class_ref": AUTHN_PASSWORD, "authn_auth": self.url}
        response = self.tweaked(self.users[username], username, name_id, authn, args)
        post = self.server.apply_binding(
            BINDING_HTTP_POST, response, args["destination"], fields.get("RelayState", ""), response=True
        )["data"]
        self.last_post = {
            "action": html.unescape(re.search(r'action="([^"]+)"', post).group(1)),
            "data": {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', post)},
        }
        return post

    def logout_request_url(self, sp_entity_id: str, name_id: str) -> str:
        """An IdP-initiated logout: the URL (on the hub's SLS) the browser is sent to."""
        _, destination = self.server.pick_binding(
            "single_logout_service", [BINDING_HTTP_REDIRECT], "spsso", entity_id=sp_entity_id
        )
        _, request = self.server.create_logout_request(
            destination, sp_entity_id, name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=name_id)
        )
        info = self.server.apply_binding(
            BINDING_HTTP_REDIRECT, str(request), destination, "idp", sign=True, sigalg=C.RSA_SHA256
        )
        return dict(info["headers"])["Location"]

    def tweaked(self, attributes, username, name_id, authn, args) -> str:
        """The response pysaml2 builds, unsigned, changed by ``self.tweak`` if set (what a compromised or broken
        IdP would send), then signed (assertion, then response) with the IdP's key.

        The signing is done in-process (python-xmlsec) rather than by pysaml2, which runs the xmlsec1 program
        several times per response: that cost ~100 ms of CPU per login and swamped the benchmark."""
        unsigned = str(
            self.server.create_authn_response(
                attributes,
                userid=username,
                name_id=name_id,
                authn=authn,
                sign_response=False,
                sign_assertion=False,
                **args,
            )
        )
        root = etree.fromstring(unsigned.encode())
        result = self.tweak(root) if self.tweak is not None else None
        if result is not None:  # the tweak builds the whole document itself (signature wrapping)
            return result
        return self.sign(root)

    def sign(self, root, assertion: bool = True, response: bool = True) -> str:
        key, cert = self.key.read_text(), self.cert.read_text()
        algorithms = {"sign_algorithm": self.sign_alg, "digest_algorithm": self.digest_alg}
        if assertion:  # signed as a document of its own (add_sign signs the first Issuer's parent it finds)
            for node in root.findall("saml:Assertion", NS):
                signed = OneLogin_Saml2_Utils.add_sign(etree.tostring(node), key, cert, **algorithms)
                root.replace(node, etree.fromstring(signed))
        if response:
            signed = OneLogin_Saml2_Utils.add_sign(root, key, cert, **algorithms)
            return signed.decode() if isinstance(signed, bytes) else signed
        return etree.tostring(root).decode()


def serve(app, port: int):
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
