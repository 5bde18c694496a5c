"""A real SFTP server for the Beneylu tests: asyncssh in a process of its own, on 127.0.0.1.

Started by `SftpServer.start` (the fixture), stopped by killing it, restarted on the same
port: the hub sees a server that is down, then back. Run as root, it drops to user
``nobody`` once its keys are loaded, so a folder made read-only is refused by the
operating system itself, as on a real server.

It takes the user's password or their key (``client_key``, an ed25519 key in OpenSSH format
protected by ``client_key_passphrase``, made for each server).

    python sftp_server.py PORT ROOT HOST_KEY USER PASSWORD CLIENT_PUBLIC_KEY
"""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

RUN_AS = "nobody"


class SftpServer:
    """The server process, its chroot folder and its throwaway host key."""

    def __init__(self, workdir: Path, user: str = "hub", password: str = "s3cret-sftp-word"):

        import asyncssh

        self.user, self.password = user, password
        self.root = Path(tempfile.mkdtemp(prefix="hub-sftp-"))  # outside pytest's 0700 folders: nobody must enter
        key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = workdir / "sftp_host_key"
        key.write_private_key(str(self.host_key))
        self.fingerprint = key.get_fingerprint("sha256")
        client = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key, self.client_key_passphrase = workdir / "sftp_client_key", "key-passphrase-7"
        client.write_private_key(str(self.client_key), passphrase=self.client_key_passphrase)
        self.client_public_key = client.export_public_key().decode().strip()
        from ports import free_port  # here: the file also runs as the server's own script, without tests/ on its path

        self.port = free_port()
        if os.getuid() == 0:
            account = pwd.getpwnam(RUN_AS)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(self.port), str(self.root), str(self.host_key), self.user, self.password,
             self.client_public_key],
            stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"the SFTP server did not start: {line!r}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process.stdout.close()
            self.process = None

    def files(self, folder: str = "") -> dict[str, bytes]:
        """Every file under the server's folder ``folder``, by path relative to it."""
        base = self.root / folder
        return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}

    def cleanup(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def sftp_server(tmp_path):
    """The server started for one test (the Beneylu and GAR tests import this fixture into their conftest)."""
    server = SftpServer(tmp_path)
    server.start()
    yield server
    server.cleanup()


async def serve(port: int, root: str, host_key: str, user: str, password: str, public_key: str) -> None:
    import asyncssh

    class Login(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, given: str) -> bool:
            return username == user and given == password

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key) -> bool:
            return username == user and key.export_public_key().decode().strip() == public_key

    def sftp(channel):
        return asyncssh.SFTPServer(channel, chroot=root)

    keys = [asyncssh.read_private_key(host_key)]  # read now: the file is not readable once the server is nobody
    await asyncssh.create_server(Login, "127.0.0.1", port, server_host_keys=keys, sftp_factory=sftp, allow_scp=False)
    if os.getuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        os.setgroups([])
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if os.environ.get("SFTP_DEBUG"):
        import logging
        logging.basicConfig(level=logging.DEBUG)
    port, root, host_key, user, password, public_key = sys.argv[1:7]
    asyncio.run(serve(int(port), root, host_key, user, password, public_key))
