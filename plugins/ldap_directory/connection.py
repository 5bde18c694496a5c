"""The LDAP connection: open, secure and bind it, close it, and say in one sentence why it failed.

ldap3 reports failures as exception classes and result codes; `source_error` turns each into
a `SourceError` naming the server, the account and what to do. The password never appears
in a message, even if a server were to echo it.
"""

from __future__ import annotations

import contextlib
import ssl

from ldap3 import NONE, Connection, Server, Tls
from ldap3.core import exceptions as lx

from hub.errors import SourceError

PASSWORD_ENV = "HUB_PLUGINS__LDAP__BIND_PASSWORD"


def connect(settings) -> Connection:
    """Open, secure and bind a connection now, so a refused bind fails before any reading."""
    if settings.bind_dn and settings.bind_password is None:
        raise SourceError(
            f"no password for the LDAP bind as {settings.bind_dn}: set {PASSWORD_ENV} or {PASSWORD_ENV}_FILE"
        )
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
        doing = f"binding as {settings.bind_dn}" if settings.bind_dn else "binding anonymously"
        conn.bind()
    except Exception as exc:  # ldap3 lets a few non-LDAP errors through; none may escape as a traceback
        close(conn)
        raise source_error(exc, settings, doing) from exc
    return conn


def source_error(exc: BaseException, settings, doing: str) -> SourceError:
    """An ldap3 failure as one sentence: what failed, against which server, and what to do."""
    where = f"LDAP server {settings.url}"
    who = settings.bind_dn or "anonymous"
    if isinstance(exc, lx.LDAPInvalidCredentialsResult):
        text = (
            f"{where} refused the bind as {who}: invalid credentials; "
            f"check the DN and {PASSWORD_ENV} (or {PASSWORD_ENV}_FILE)"
        )
    elif isinstance(exc, lx.LDAPSizeLimitExceededResult):
        text = (
            f"{where} stopped {doing} at its size limit for {who}: a partial directory is not a snapshot; "
            "lift the limit for this account on the server (OpenLDAP: limits dn.exact=... size=unlimited)"
        )
    elif isinstance(exc, lx.LDAPTimeLimitExceededResult):
        text = (
            f"{where} stopped {doing} at its time limit for {who}; lift the limit for this account on the "
            "server, or read by smaller subtrees"
        )
    elif isinstance(exc, lx.LDAPAdminLimitExceededResult):
        text = (
            f"{where} refused {doing}: administrative limit exceeded for {who} (paged searches may be "
            "capped); lift it for this account or lower plugins.ldap.page_size"
        )
    elif isinstance(exc, lx.LDAPNoSuchObjectResult):
        text = f"{where}: {exc.dn or 'the search base'} does not exist ({doing}); check plugins.ldap.base_dn"
    elif isinstance(exc, lx.LDAPInsufficientAccessRightsResult):
        text = f"{where} denied {who} the right to read while {doing}"
    elif isinstance(exc, lx.LDAPOperationResult):
        detail = f": {exc.message}" if exc.message else ""
        text = f"{where} answered {exc.description} while {doing}{detail}"
    elif isinstance(exc, lx.LDAPSocketOpenError | lx.LDAPStartTLSError) and "certificate verify failed" in str(exc):
        text = (
            f"the TLS certificate of {where} is not trusted (certificate verify failed); set plugins.ldap.ca_file "
            "to the CA that signed it"
        )
    elif isinstance(exc, lx.LDAPSocketOpenError):
        text = f"cannot connect to {where} ({_socket_reason(exc)}); is the server up and the URL right?"
    elif isinstance(exc, lx.LDAPStartTLSError):
        text = f"StartTLS with {where} failed ({_socket_reason(exc)}); check plugins.ldap.ca_file"
    elif isinstance(exc, lx.LDAPResponseTimeoutError) or "timed out" in str(exc):
        text = f"{where} did not answer within {settings.timeout_seconds} s while {doing}"
    elif isinstance(exc, lx.LDAPCommunicationError | OSError):
        text = f"lost the connection to {where} while {doing} ({_socket_reason(exc)})"
    else:
        text = f"{where}: {exc} while {doing}"
    if settings.bind_password and settings.bind_password.get_secret_value():
        text = text.replace(settings.bind_password.get_secret_value(), "***")
    return SourceError(text)


def _socket_reason(exc: BaseException) -> str:
    text = str(exc)
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
