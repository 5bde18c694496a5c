"""Upload a GAR delivery over SFTP: the Beneylu plugin's pinned-host-key session, with a key given as text.

The host key check, the error mapping (retryable or not, never a secret) and the
temporary-name-then-rename pattern are those of `plugins.beneylu.sftp`; this adds
the private key read from ``HUB_PLUGINS__GAR__PRIVATE_KEY`` (or ``…_FILE``) rather
than a path, and streams local files instead of bytes (an académie's archive is
large). The archive goes first and its ``.md5`` last: GAR takes a delivery once
both are there, so it never sees an archive without its checksum being final.
"""

from __future__ import annotations

import io
import secrets
from pathlib import Path, PurePosixPath

import paramiko

from plugins.beneylu import sftp as beneylu_sftp
from plugins.beneylu.sftp import failure

KEY_TYPES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """A private key in OpenSSH or PEM text; ValueError when it is none of the types tried."""
    for kind in KEY_TYPES:
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise ValueError("the private key is encrypted: set HUB_PLUGINS__GAR__PRIVATE_KEY_PASSPHRASE") from None
        except (paramiko.SSHException, ValueError):
            continue
    raise ValueError("the private key is not an OpenSSH or PEM Ed25519, ECDSA or RSA key")


class Session(beneylu_sftp.Session):
    """One connection (`plugins.beneylu.sftp.Session`, given the key object), uploading local files."""

    def upload(self, folder: PurePosixPath, local: Path) -> None:
        """Put ``local`` as ``folder/<its name>``: written under a temporary name, then renamed."""
        final, temp = folder / local.name, folder / f".{local.name}.{secrets.token_hex(4)}.part"
        try:
            self._make_folder(folder)
            with open(local, "rb") as data:
                self.sftp.putfo(data, str(temp), confirm=True)
            self.sftp.posix_rename(str(temp), str(final))
        except Exception as exc:
            self._discard(temp)
            raise failure(self.server, f"write {final}", exc) from exc
