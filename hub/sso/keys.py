"""The OIDC signing keys: several PEM RSA keys, oldest first; all are published, the newest signs.

Rotation: append a new key to the file (clients fetch it from the JWKS), and drop the
oldest once the tokens it signed have expired.
"""

from __future__ import annotations

import re

from joserfc.jwk import KeySet, RSAKey

from hub.errors import SettingsError

_PEM = re.compile(r"-----BEGIN (?:RSA )?PRIVATE KEY-----.+?-----END (?:RSA )?PRIVATE KEY-----", re.S)


class SigningKeys:
    def __init__(self, pem_text: str | None):
        blocks = _PEM.findall(pem_text or "")
        if not blocks:
            raise SettingsError("setting sso.oidc_signing_keys: no PEM RSA private key; set "
                                "HUB_SSO__OIDC_SIGNING_KEYS_FILE to a file of one or more keys (the last signs)")
        self.keys = []
        for block in blocks:
            key = RSAKey.import_key(block)
            key.ensure_kid()
            self.keys.append(key)

    @property
    def current(self) -> RSAKey:
        return self.keys[-1]

    def public_jwks(self) -> dict:
        return {"keys": [dict(key.as_dict(private=False), use="sig", alg="RS256") for key in self.keys]}

    def key_set(self) -> KeySet:
        return KeySet(self.keys)
