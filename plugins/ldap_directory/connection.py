"""The LDAP connection: open, secure and bind it, search it by pages, close it, and say in one sentence why it
failed.

Two clients read the directory (``[plugins.ldap] client``): ldap3, pure Python, here; python-ldap
(libldap, C), in `plugins.ldap_directory.python_ldap`. Both give the reader the same thing,
a `Directory`: ``search`` yields ``(DN, {lower-cased attribute: [text values]})`` one page in
memory at a time (`texts`), and raises `SourceError` for anything that makes the read incomplete.
Their failures become the same sentences (`failure`): what failed, against which server, and
what to do. The password never appears in a message, even if a server were to echo it.
"""

from __future__ import annotations

import contextlib
import importlib
import ssl
from collections.abc import Iterable, Iterator
from typing import Protocol

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as lx

from hub.errors import SourceError

PASSWORD_ENV = "HUB_PLUGINS__LDAP__BIND_PASSWORD"
# In an entry's dict: the name of an attribute one of whose values is not UTF-8 text (the value is left out)
NOT_TEXT = "\0not-text"


class Directory(Protocol):
    """A bound connection the reader searches; `open_directory` gives the one the settings name."""

    def search(self, base: str, flt: str, attributes: Iterable[str], doing: str) -> Iterator[tuple[str, dict]]:
        """(DN, {lower-cased attribute: [values]}) of each entry under ``base``, paged; SourceError otherwise."""
        ...

    def attribute_types(self) -> list[str]:
        """The server's schema: its attribute type definitions (RFC 4512), or [] when it does not say."""
        ...

    def close(self) -> None: ...


def open_directory(settings) -> Directory:
    """Bind now with the client the settings name, so a refused bind fails before any reading."""
    check_password(settings)
    if settings.client == "python-ldap":
        try:  # libldap's binding is imported only when asked for
            python_ldap = importlib.import_module("plugins.ldap_directory.python_ldap")
        except ImportError as exc:
            if exc.name != "ldap":
                raise
            raise SourceError(
                f'plugins.ldap.client = "python-ldap" needs the python-ldap module ({exc}): install it with '
                "pip install 'ent-hub[ldap-c]' (on Debian, apt-get install libldap-dev libsasl2-dev gcc first), "
                'or set client = "ldap3"'
            ) from None
        return python_ldap.connect(settings)
    return Ldap3Directory(connect(settings), settings)


def check_password(settings) -> None:
    if settings.bind_dn and settings.bind_password is None:
        raise SourceError(
            f"no password for the LDAP bind as {settings.bind_dn}: set {PASSWORD_ENV} or {PASSWORD_ENV}_FILE"
        )


def connect(settings) -> Connection:
    """An ldap3 connection, opened, secured and bound."""
    check_password(settings)
    tls = None
    if settings.url.lower().startswith("ldaps://") or settings.start_tls:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(settings.ca_file) if settings.ca_file else None)
    password = settings.bind_password.get_secret_value() if settings.bind_password else None
    try:
        server = Server(settings.url, get_info=NONE, tls=tls, connect_timeout=settings.timeout_seconds)
        conn = Connection(
            server, user=settings.bind_dn or None, password=password, raise_exceptions=True, read_only=True,
            auto_referrals=False, receive_timeout=settings.timeout_seconds, return_empty_attributes=False,
        )  # fmt: skip
    except lx.LDAPException as exc:
        raise source_error(exc, settings, "preparing the connection") from None
    doing = "connecting"
    try:
        conn.open()
        if settings.start_tls:
            doing = "starting TLS"
            conn.start_tls()
        doing = binding(settings)
        conn.bind()
    except Exception as exc:  # ldap3 lets a few non-LDAP errors through; none may escape as a traceback
        close(conn)
        raise source_error(exc, settings, doing) from exc
    return conn


def binding(settings) -> str:
    return f"binding as {settings.bind_dn}" if settings.bind_dn else "binding anonymously"


class Ldap3Directory:
    """The ldap3 client: its paged search, with every page's result checked."""

    def __init__(self, conn: Connection, settings):
        self.conn, self.settings = conn, settings

    def search(self, base: str, flt: str, attributes: Iterable[str], doing: str) -> Iterator[tuple[str, dict]]:
        try:
            entries = self.conn.extend.standard.paged_search(
                base, flt, SUBTREE, attributes=list(attributes), paged_size=self.settings.page_size, generator=True
            )
            for entry in entries:
                self.check(self.conn.result, doing)  # the result of the page this entry came in
                if entry["type"] == "searchResRef":
                    raise referral(self.settings, entry.get("uri"), doing)
                if entry["type"] == "searchResEntry":  # values come in lists: no schema says one is single
                    yield entry["dn"], texts(entry["attributes"])
            self.check(self.conn.result, doing)
        except (lx.LDAPException, OSError) as exc:
            raise source_error(exc, self.settings, doing) from exc

    def attribute_types(self) -> list[str]:
        try:
            self.conn.search("", "(objectClass=*)", BASE, attributes=["subschemaSubentry"])
            subschema = (self.conn.response[0]["attributes"].get("subschemaSubentry") or ["cn=Subschema"])[0]
            self.conn.search(subschema, "(objectClass=subschema)", BASE, attributes=["attributeTypes"])
            return [v.decode() for v in self.conn.response[0]["raw_attributes"].get("attributeTypes", [])]
        except (lx.LDAPException, OSError, IndexError, KeyError, UnicodeDecodeError):
            return []

    def check(self, result: dict | None, doing: str) -> None:
        """Raise for a page that did not end in success.

        ldap3 (2.9.1) raises for most result codes but not for sizeLimitExceeded,
        timeLimitExceeded or a referral: its paged search then just stops, and a
        truncated directory would look complete. Those are caught here.
        """
        if not result:
            return
        if result.get("referrals") or result.get("result") == 10:
            raise referral(self.settings, result.get("referrals"), doing)
        if result.get("result") not in (0, None):
            error = lx.LDAPOperationResult(
                result=result["result"],
                description=result.get("description"),
                dn=result.get("dn"),
                message=result.get("message"),
                response_type=result.get("type"),
            )
            raise source_error(error, self.settings, doing)

    def close(self) -> None:
        close(self.conn)


def texts(attributes: dict) -> dict[str, list[str]]:
    """An entry's attributes as the reader takes them from either client: {lower-cased name: [values]},
    each value text, stripped, blank ones left out.

    ldap3 gives text (bytes when a value is not UTF-8); python-ldap gives bytes. A value
    that is not UTF-8 is left out and its attribute named under `NOT_TEXT`, for the reader
    to reject the entry. This runs for every entry of the directory: one comprehension.
    """
    try:
        return {
            name.lower(): [t for v in values if (t := (v.decode() if type(v) is bytes else v).strip())]
            for name, values in attributes.items()
        }
    except (UnicodeDecodeError, TypeError, AttributeError):  # a value that is not UTF-8, or not text at all
        return _texts_one_by_one(attributes)


def _texts_one_by_one(attributes: dict) -> dict[str, list[str]]:
    result: dict = {}
    for name, values in attributes.items():
        kept = []
        for value in values if isinstance(values, list | tuple) else [values]:
            if isinstance(value, bytes):
                try:
                    value = value.decode()
                except UnicodeDecodeError:
                    result[NOT_TEXT] = name
                    continue
            if text := str(value).strip():
                kept.append(text)
        result[name.lower()] = kept
    return result


def referral(settings, uris, doing: str) -> SourceError:
    where = ", ".join(map(str, uris)) if isinstance(uris, list | tuple) else str(uris or "another server")
    return SourceError(
        f"LDAP server {settings.url} returned a referral to {where} while {doing}: part of the "
        "directory lives elsewhere, so this read would be incomplete; point plugins.ldap at the server "
        "holding it, or narrow the search base"
    )


def source_error(exc: BaseException, settings, doing: str) -> SourceError:
    """An ldap3 failure as one sentence (`failure`)."""
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        return failure("credentials", settings, doing)
    if isinstance(exc, lx.LDAPSizeLimitExceededResult):
        return failure("size limit", settings, doing)
    if isinstance(exc, lx.LDAPTimeLimitExceededResult):
        return failure("time limit", settings, doing)
    if isinstance(exc, lx.LDAPAdminLimitExceededResult):
        return failure("admin limit", settings, doing)
    if isinstance(exc, lx.LDAPNoSuchObjectResult):
        return failure("no such object", settings, doing)  # exc.dn is the matched DN: the part that exists
    if isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        return failure("access", settings, doing)
    if isinstance(exc, lx.LDAPOperationResult):
        return failure("answered", settings, doing, str(exc.description), exc.message or "")
    if isinstance(exc, lx.LDAPSocketOpenError | lx.LDAPStartTLSError) and "certificate verify failed" in str(exc):
        return failure("untrusted", settings, doing)
    if isinstance(exc, lx.LDAPSocketOpenError):
        return failure("cannot connect", settings, doing, socket_reason(str(exc)))
    if isinstance(exc, lx.LDAPStartTLSError):
        return failure("starttls", settings, doing, socket_reason(str(exc)))
    if isinstance(exc, lx.LDAPResponseTimeoutError) or "timed out" in str(exc):
        return failure("timeout", settings, doing)
    if isinstance(exc, lx.LDAPCommunicationError | OSError):
        return failure("lost", settings, doing, socket_reason(str(exc)))
    return failure("other", settings, doing, str(exc))


def failure(kind: str, settings, doing: str, detail: str = "", message: str = "") -> SourceError:
    """One sentence for each way a read fails, whichever client met it: what, where, what to do."""
    where = f"LDAP server {settings.url}"
    who = settings.bind_dn or "anonymous"
    texts = {
        "credentials": f"{where} refused the bind as {who}: invalid credentials; "
        f"check the DN and {PASSWORD_ENV} (or {PASSWORD_ENV}_FILE)",
        "size limit": f"{where} stopped {doing} at its size limit for {who}: a partial directory is not a "
        "snapshot; lift the limit for this account on the server (OpenLDAP: limits dn.exact=... size=unlimited)",
        "time limit": f"{where} stopped {doing} at its time limit for {who}; lift the limit for this account on "
        "the server, or read by smaller subtrees",
        "admin limit": f"{where} refused {doing}: administrative limit exceeded for {who} (paged searches may "
        "be capped); lift it for this account or lower plugins.ldap.page_size",
        "no such object": f"{where}: the search base does not exist ({doing}); check plugins.ldap.base_dn",
        "access": f"{where} denied {who} the right to read while {doing}",
        "answered": f"{where} answered {detail} while {doing}" + (f": {message}" if message else ""),
        "untrusted": f"the TLS certificate of {where} is not trusted (certificate verify failed); "
        "set plugins.ldap.ca_file to the CA that signed it",
        "cannot connect": f"cannot connect to {where} ({detail}); is the server up and the URL right?",
        "starttls": f"StartTLS with {where} failed ({detail}); check plugins.ldap.ca_file",
        "timeout": f"{where} did not answer within {settings.timeout_seconds} s while {doing}",
        "lost": f"lost the connection to {where} while {doing} ({detail})",
        "other": f"{where}: {detail} while {doing}",
    }
    text = texts[kind]
    if settings.bind_password and settings.bind_password.get_secret_value():
        text = text.replace(settings.bind_password.get_secret_value(), "***")
    return SourceError(text)


def socket_reason(text: str) -> str:
    for known in (
        "Connection refused",
        "timed out",
        "certificate verify failed",
        "Name or service not known",
        "No route to host",
        "Connection reset by peer",
        "connection closed",
        "Broken pipe",
    ):
        if known.lower() in text.lower():
            return known
    return text[:200]


def close(conn: Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection must not hide the error that broke it
        conn.unbind()
