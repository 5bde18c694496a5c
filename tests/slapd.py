"""A private OpenLDAP server (slapd) as a child process, for tests and benchmarks.

Nothing system-wide is touched: each server lives in its own ``/tmp/slapd-*`` folder
(configuration, mdb database, log) and listens on a free port of 127.0.0.1. Big
fixtures are loaded offline with ``slapadd -q`` before the server starts, which is
about fifty times faster than adding entries online.

API::

    from slapd import Slapd, slapd_missing

    with Slapd(seed=["academie.ldif"]) as server:   # slapadd the seed(s), then start
        server.url                  # "ldap://127.0.0.1:<port>" (the port survives restarts)
        server.suffix               # "dc=academie,dc=fr"
        server.root_dn, server.root_password       # the rootdn: no limits apply to it
        server.reader_dn, server.reader_password   # "cn=reader,<suffix>": an ordinary account,
                                                   # subject to size_limit and time_limit
        conn = server.connection()  # an ldap3 Connection bound as root (raise_exceptions=True)
        server.stop(); server.start()      # graceful (SIGTERM), then up again on the same port
        server.kill()                      # SIGKILL: the server goes away as in a crash
        server.restart(size_limit=50)      # new limits (or "unlimited"); same data, same port
        server.reset()                     # back to the seed: stop, wipe, slapadd again, start
        server.log_path                    # slapd's own log (-d stats): look here when it fails
        # Slapd(tls=True) also listens on server.ldaps_url and serves StartTLS on server.url, with a
        # throwaway CA (openssl) whose certificate is server.ca_file
    # leaving the block stops the server and removes its folder (server.close()); a Slapd
    # dropped without close() is killed and removed at garbage collection or interpreter exit

``Slapd(suffix="dc=academie,dc=fr", *, seed=(), schemas=DEFAULT_SCHEMAS, size_limit="unlimited",
time_limit="unlimited", check_schema=True, maxsize=8 GiB, indexes=DEFAULT_INDEXES, tls=False)``: ``seed``
is a list of LDIF files loaded in order; without one the runner writes the suffix entry
itself. ``schemas`` are names of the system schema folder or paths (copied into the
server's folder, so the unprivileged ``openldap`` user can read them); the default adds
the hub's ``plugins/ldap_directory/ent.schema``. ``check_schema=False`` loads the seed
with ``slapadd -s``, for entries no schema allows (broken-directory tests). ``maxsize``
is a sparse map: 8 GiB is ample (the demo académie takes about 1.2 KB an entry, 121 MB for
100,000 people, indexes included).

When run as root, slapadd runs as root, then the folder is given to ``openldap`` and
slapd drops to that user, as the packaged slapd does. `slapd_missing()` says
why no server can be started here (None when one can), for a test to skip or fail.
From a script: ``sys.path.insert(0, "tests"); from slapd import Slapd``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterable
from pathlib import Path

from ports import free_port

REPO = Path(__file__).resolve().parent.parent
ENT_SCHEMA = REPO / "plugins" / "ldap_directory" / "ent.schema"
SYSTEM_SCHEMA_DIRS = (Path("/etc/ldap/schema"), Path("/etc/openldap/schema"), Path("/usr/local/etc/openldap/schema"))
MODULE_DIRS = (
    Path("/usr/lib/ldap"),
    Path("/usr/lib/openldap"),
    Path("/usr/lib64/openldap"),
    Path("/usr/libexec/openldap"),
)
DEFAULT_SCHEMAS = ("core", "cosine", "inetorgperson", ENT_SCHEMA)
DEFAULT_INDEXES = ("objectClass", "uid", "ENTPersonJointure", "ENTEleveINE", "ENTStructureUAI", "modifyTimestamp")
READER_RDN = "cn=reader"


def slapd_missing() -> str | None:
    """Why slapd cannot run here (a sentence), or None when it can."""
    missing = [tool for tool in ("slapd", "slapadd") if not _tool(tool)]
    if missing:
        return f"{' and '.join(missing)} not found (apt-get install slapd ldap-utils)"
    if not any(_schema_dir(d) for d in SYSTEM_SCHEMA_DIRS):
        return "no OpenLDAP schema folder (/etc/ldap/schema)"
    return None


class Slapd:
    """One slapd with its own folder, port, database and log; see the module docstring."""

    def __init__(
        self,
        suffix: str = "dc=academie,dc=fr",
        *,
        seed: Iterable[str | os.PathLike] = (),
        schemas: Iterable[str | os.PathLike] = DEFAULT_SCHEMAS,
        size_limit: int | str = "unlimited",
        time_limit: int | str = "unlimited",
        check_schema: bool = True,
        maxsize: int = 8 * 1024**3,
        indexes: Iterable[str] = DEFAULT_INDEXES,
        root_password: str = "root-secret",
        reader_password: str = "reader-secret",
        tls: bool = False,
    ):
        self.suffix = suffix
        self.seed = [Path(p) for p in seed]
        self.size_limit, self.time_limit = size_limit, time_limit
        self.check_schema = check_schema
        self.maxsize = maxsize
        self.indexes = tuple(indexes)
        self.root_dn, self.root_password = f"cn=admin,{suffix}", root_password
        self.reader_dn, self.reader_password = f"{READER_RDN},{suffix}", reader_password
        self.directory = Path(tempfile.mkdtemp(prefix="slapd-", dir="/tmp"))  # not pytest's tmp_path: 0700
        self.conf_path = self.directory / "slapd.conf"
        self.log_path = self.directory / "slapd.log"
        self.db = self.directory / "db"
        self.db.mkdir()
        self.schema_files = [self._copy_schema(s) for s in schemas]
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.user = "openldap" if os.geteuid() == 0 and _user_exists("openldap") else None
        self.ldaps_url: str | None = None
        self.ca_file: Path | None = None
        if tls:
            self.ldaps_url = f"ldaps://127.0.0.1:{free_port()}"
            self.ca_file = self._make_certificates()
        self._process: subprocess.Popen | None = None
        self._loaded = False
        self._held: list[subprocess.Popen] = []  # what the finalizer must kill if close() is never called
        self._finalizer = weakref.finalize(self, _clean_up, self._held, self.directory)

    # --- life cycle ------------------------------------------------------------------

    def __enter__(self) -> Slapd:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Slapd({self.url}, {self.suffix}, {'running' if self.running else 'stopped'})"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20) -> Slapd:
        """Load the seed the first time, start slapd and wait until it answers."""
        if self.running:
            return self
        self.write_config()
        if not self._loaded:
            self._load()
        self._give_to_user()
        urls = " ".join(f"{url}/" for url in (self.url, self.ldaps_url) if url)
        command = [_tool("slapd") or "slapd", "-h", urls, "-f", str(self.conf_path), "-d", "stats"]
        if self.user:
            command += ["-u", self.user, "-g", self.user]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._held[:] = [self._process]
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd exited with {self._process.returncode} at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"slapd did not answer on {self.url} within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.03)
        return self

    def stop(self, timeout: float = 15) -> None:
        """Shut slapd down gracefully (SIGTERM); the data stays for the next start."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL slapd, as a crash or a pulled cable would: open connections break at once."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def restart(self, *, size_limit: int | str | None = None, time_limit: int | str | None = None) -> Slapd:
        """Stop, change the limits given, start again (same data, same port)."""
        self.stop()
        if size_limit is not None:
            self.size_limit = size_limit
        if time_limit is not None:
            self.time_limit = time_limit
        return self.start()

    def reset(self, seed: Iterable[str | os.PathLike] | None = None) -> Slapd:
        """Back to the seed (or a new one): stop, wipe the database, slapadd, start."""
        self.stop()
        if seed is not None:
            self.seed = [Path(p) for p in seed]
        shutil.rmtree(self.db)
        self.db.mkdir()
        self._loaded = False
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its folder (also done at exit if forgotten)."""
        self.stop()
        self._finalizer()

    # --- use -------------------------------------------------------------------------

    def connection(self, dn: str | None = None, password: str | None = None):
        """An ldap3 Connection bound as ``dn`` (default: the root DN); errors raise."""
        from ldap3 import NONE, Connection, Server

        if dn is None:
            dn, password = self.root_dn, self.root_password
        server = Server(self.url, get_info=NONE, connect_timeout=5)
        return Connection(server, dn, password, auto_bind=True, raise_exceptions=True, receive_timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- internals -------------------------------------------------------------------

    def write_config(self) -> None:
        includes = "".join(f"include {path}\n" for path in self.schema_files)
        modules = next((d for d in MODULE_DIRS if (d / "back_mdb.so").exists() or (d / "back_mdb.la").exists()), None)
        module_lines = f"modulepath {modules}\nmoduleload back_mdb\n" if modules else ""
        indexes = "".join(f"index {name} eq\n" for name in self.indexes)
        tls = "".join(
            f"{key} {self.directory / name}\n"
            for key, name in (("TLSCACertificateFile", "ca.pem"), ("TLSCertificateFile", "server.pem"),
                              ("TLSCertificateKeyFile", "server.key"))
        ) if self.ca_file else ""  # fmt: skip
        self.conf_path.write_text(
            f"{includes}{module_lines}{tls}"
            f"pidfile {self.directory}/slapd.pid\n"
            f"argsfile {self.directory}/slapd.args\n"
            f"sizelimit {self.size_limit}\n"
            f"timelimit {self.time_limit}\n"
            "database mdb\n"
            f"maxsize {self.maxsize}\n"
            f'suffix "{self.suffix}"\n'
            f'rootdn "{self.root_dn}"\n'
            f"rootpw {self.root_password}\n"
            f"directory {self.db}\n"
            f"{indexes}"
            "access to attrs=userPassword by self write by anonymous auth by * none\n"
            "access to * by * read\n"
        )

    def _load(self) -> None:
        files = list(self.seed) or [self._write_ldif("base.ldif", base_entry(self.suffix))]
        files.append(self._write_ldif("accounts.ldif", account_entry(self.reader_dn, self.reader_password)))
        for path in files:
            command = [_tool("slapadd") or "slapadd", "-q", "-f", str(self.conf_path), "-l", str(path)]
            if not self.check_schema:
                command.append("-s")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"slapadd {path} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        self._loaded = True

    def _make_certificates(self) -> Path:
        """A throwaway CA and a server certificate for 127.0.0.1/localhost (openssl); returns the CA file."""
        d = self.directory
        (d / "server.ext").write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for command in (
            ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ENT Hub test CA"],
            ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "server.ext"],
        ):  # fmt: skip
            done = subprocess.run(["openssl", *command], cwd=d, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"openssl {command[0]} failed: {done.stderr}")
        return d / "ca.pem"

    def _write_ldif(self, name: str, text: str) -> Path:
        path = self.directory / name
        path.write_text(text, encoding="utf-8")
        return path

    def _copy_schema(self, schema: str | os.PathLike) -> Path:
        source = Path(schema)
        if not source.is_absolute() and not source.exists():
            folder = next((d for d in SYSTEM_SCHEMA_DIRS if _schema_dir(d)), SYSTEM_SCHEMA_DIRS[0])
            source = folder / f"{schema}.schema"
        target = self.directory / f"{len(list(self.directory.glob('*.schema'))):02d}-{source.name}"
        shutil.copyfile(source, target)
        return target

    def _give_to_user(self) -> None:
        if not self.user:
            return
        shutil.chown(self.directory, self.user, self.user)
        for path in self.directory.rglob("*"):  # slapadd ran as root: its files are root's
            shutil.chown(path, self.user, self.user)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(_ANONYMOUS_BIND)
                return sock.recv(64)[:1] == b"\x30"  # an LDAPMessage came back
        except OSError:
            return False


# An anonymous simple bind request (message id 1), BER-encoded: enough to know slapd serves.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")


def base_entry(suffix: str) -> str:
    """An LDIF entry for the suffix itself (dc=, o= or ou= first RDN)."""
    attribute, _, value = suffix.split(",", 1)[0].partition("=")
    attribute = attribute.strip().lower()
    if attribute == "dc":
        body = f"objectClass: dcObject\nobjectClass: organization\ndc: {value}\no: {value}\n"
    elif attribute == "o":
        body = f"objectClass: organization\no: {value}\n"
    elif attribute == "ou":
        body = f"objectClass: organizationalUnit\nou: {value}\n"
    else:
        raise ValueError(f"cannot make a base entry for {suffix!r}: first RDN must be dc=, o= or ou=")
    return f"dn: {suffix}\n{body}\n"


def account_entry(dn: str, password: str) -> str:
    """An ordinary bind account (organizationalRole + simpleSecurityObject)."""
    cn = dn.split(",", 1)[0].partition("=")[2]
    return (
        f"dn: {dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: {cn}\nuserPassword: {password}\n\n"
    )


def _clean_up(held: list[subprocess.Popen], directory: Path) -> None:
    for process in held:
        if process.poll() is None:
            process.kill()
            process.wait()
    shutil.rmtree(directory, ignore_errors=True)


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


def _schema_dir(path: Path) -> bool:
    return (path / "core.schema").exists()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
