"""Put files on the Beneylu SFTP server (paramiko): a pinned host key, each file renamed into place whole.

The host key must be the one the settings pin (``host_key_fingerprint``, ``SHA256:…``
as ``ssh-keygen -lf`` prints it): an unknown key is refused, never added. A file is
written under a temporary name beside its final one (``.<name>.<random>.part``, which
no importer takes for a roster) and renamed over it with ``posix-rename`` (atomic on
the server), so the importer sees the old file or the new one, never half of one; a
failed write or rename removes the temporary file.

Every failure becomes a `DeliveryError` naming the server and the reason, never a
secret: retryable when the server is down, slow, refuses the login or drops the
line; not retryable when it refuses the host key check or a write (permission
denied: someone must fix the folder), with the server's own message.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import paramiko

from hub.errors import DeliveryError

REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def fingerprint(key: paramiko.PKey) -> str:
    """The key's OpenSSH SHA256 fingerprint (``SHA256:`` and unpadded base64)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


class HostKeyRefused(paramiko.SSHException):
    pass


class PinnedHostKey(paramiko.MissingHostKeyPolicy):
    """Accept the server's key only when its fingerprint is the pinned one."""

    def __init__(self, expected: str):
        self.expected = expected.strip()

    def missing_host_key(self, client, hostname, key):
        offered = fingerprint(key)
        if offered.rstrip("=") != self.expected.rstrip("="):
            raise HostKeyRefused(f"host key {key.get_name()} {offered} is not the pinned {self.expected} "
                                 "(setting host_key_fingerprint): connection refused")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    username: str
    host_key_fingerprint: str
    password: str | None = None
    private_key_path: Path | None = None
    private_key_passphrase: str | None = None
    timeout_seconds: float = 20.0

    @property
    def name(self) -> str:
        return f"sftp://{self.username}@{self.host}:{self.port}"


class Session:
    """One SSH connection and its SFTP channel; use as a context manager."""

    def __init__(self, server: Server, pkey: paramiko.PKey | None = None):
        """``pkey``: a key already read (else the one at ``server.private_key_path``, if any)."""
        self.server = server
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(PinnedHostKey(server.host_key_fingerprint))
        self.folders: set[str] = set()
        started = time.monotonic()
        try:
            pkey = pkey or _private_key(server)
            t = server.timeout_seconds
            self.client.connect(server.host, server.port, username=server.username, password=server.password,
                                pkey=pkey, timeout=t, banner_timeout=t, auth_timeout=t, channel_timeout=t,
                                look_for_keys=False, allow_agent=False)
            self.sftp = self.client.open_sftp()
            self.sftp.get_channel().settimeout(t)
        except Exception as exc:
            self.client.close()
            if time.monotonic() - started >= server.timeout_seconds and type(exc) is paramiko.SSHException:
                exc = TimeoutError()  # paramiko then only says "No existing session"
            raise failure(server, "connect", exc) from exc

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def put(self, folder: PurePosixPath, name: str, content: bytes) -> None:
        """Write ``folder/name`` whole: a temporary file, then renamed over the final name."""
        final, temp = folder / name, folder / f".{name}.{secrets.token_hex(4)}.part"
        try:
            self._make_folder(folder)
            with self.sftp.open(str(temp), "wb") as out:
                out.set_pipelined(True)
                out.write(content)
            self.sftp.posix_rename(str(temp), str(final))
        except Exception as exc:
            self._discard(temp)
            raise failure(self.server, f"write {final}", exc) from exc

    def remove(self, folder: PurePosixPath, name: str) -> None:
        try:
            self.sftp.remove(str(folder / name))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise failure(self.server, f"remove {folder / name}", exc) from exc

    def _make_folder(self, folder: PurePosixPath) -> None:
        """Create ``folder`` and its parents as needed (once per session)."""
        if str(folder) in self.folders:
            return
        for parent in [*reversed(folder.parents), folder]:
            if str(parent) in ("/", "."):
                continue
            try:
                self.sftp.stat(str(parent))
            except FileNotFoundError:
                self.sftp.mkdir(str(parent))
        self.folders.add(str(folder))

    def _discard(self, temp: PurePosixPath) -> None:
        with contextlib.suppress(Exception):  # already gone, or the connection is: nothing under the final name
            self.sftp.remove(str(temp))


def _private_key(server: Server) -> paramiko.PKey | None:
    if server.private_key_path is None:
        return None
    passphrase = server.private_key_passphrase.encode() if server.private_key_passphrase else None
    try:
        return paramiko.PKey.from_path(server.private_key_path, passphrase)
    except OSError as exc:
        raise DeliveryError(f"{server.name}: cannot read the private key {server.private_key_path}: "
                            f"{exc.strerror or exc}") from exc
    except (paramiko.SSHException, ValueError) as exc:  # paramiko's words for a wrong passphrase mislead
        raise DeliveryError(f"{server.name}: cannot open the private key {server.private_key_path}: wrong "
                            "passphrase (private_key_passphrase), or not an OpenSSH/PEM private key") from exc


def failure(server: Server, doing: str, exc: Exception) -> DeliveryError:
    """What went wrong, for the journal and the dead letters: server, step, reason; retryable or not."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, HostKeyRefused):
        return DeliveryError(f"{server.name}: {exc}", retryable=False)
    if isinstance(exc, paramiko.AuthenticationException):
        return DeliveryError(f"{server.name}: {doing}: authentication refused for user {server.username!r} "
                             f"({type(exc).__name__})")
    if isinstance(exc, socket.timeout | TimeoutError):
        return DeliveryError(f"{server.name}: {doing}: timed out after {server.timeout_seconds:g} s")
    if isinstance(exc, OSError) and exc.errno in REFUSED and doing != "connect":
        return DeliveryError(f"{server.name}: {doing}: the server refused: {exc.strerror or exc}", retryable=False)
    reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    return DeliveryError(f"{server.name}: {doing}: {reason}")
