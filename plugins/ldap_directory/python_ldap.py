"""The python-ldap client (``[plugins.ldap] client = "python-ldap"``): libldap, in C, reads the directory.

ldap3 decodes every entry in Python; libldap does it in C, which reads a large directory
several times faster (see the README). The reader gets the same entries either way
(`connection.Directory`, `connection.texts`): DN, lower-cased attribute names, values
as text; an entry with a value that is not UTF-8 is rejected, naming the attribute.

Pages are pipelined: as soon as a page has arrived, the next one is asked for, with its
cookie, and the server prepares it while this page is turned into records. Only one
search is still open at a time, as the paged-results control requires.

python-ldap is an optional dependency (the ``ldap-c`` extra; building it needs
libldap-dev, libsasl2-dev and gcc on Debian): this module is imported only when the settings
name it, and `connection.open_directory` says how to install it when it is missing.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator

import ldap
from ldap.controls import SimplePagedResultsControl

from hub.errors import SourceError
from plugins.ldap_directory.connection import binding, close, failure, referral, socket_reason, texts
from plugins.ldap_directory.connection import connect as connect_ldap3

PAGED = "1.2.840.113556.1.4.319"  # RFC 2696 paged results


def connect(settings) -> PythonLdapDirectory:
    """A libldap connection, opened, secured and bound now."""
    directory = PythonLdapDirectory(settings)
    directory.bind()
    return directory


class PythonLdapDirectory:
    """One libldap connection; `search` yields entries page by page, `close` unbinds."""

    def __init__(self, settings):
        self.settings = settings
        self.connected = False  # set once bound: a connection failure before that is "cannot connect"
        timeout = settings.timeout_seconds
        try:
            self.conn = ldap.initialize(settings.url)
            self.conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
            self.conn.set_option(ldap.OPT_REFERRALS, 0)  # a referral is reported, never followed
            self.conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
            self.conn.set_option(ldap.OPT_TIMEOUT, timeout)
            self.conn.timeout = timeout  # python-ldap's own wait in its synchronous calls (the bind)
            if settings.url.lower().startswith("ldaps://") or settings.start_tls:
                self.conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
                if ca_file := settings.ca_file or ssl.get_default_verify_paths().cafile:
                    self.conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(ca_file))
                self.conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)  # last: makes the TLS options above take effect
        except ldap.LDAPError as exc:
            raise self.error(exc, "preparing the connection") from None

    def bind(self) -> None:
        s = self.settings
        doing = "connecting"
        try:
            if s.start_tls:
                doing = "starting TLS"
                self.conn.start_tls_s()
            doing = binding(s)
            password = s.bind_password.get_secret_value() if s.bind_password and s.bind_dn else ""
            self.conn.simple_bind_s(s.bind_dn or "", password)  # no DN: anonymous, whatever the password
        except ldap.LDAPError as exc:
            self.close()
            raise self.error(exc, doing) from None
        self.connected = True

    def search(self, base: str, flt: str, attributes: Iterable[str], doing: str) -> Iterator[tuple[str, dict]]:
        attributes = list(attributes)
        # not critical, as ldap3 sends it: a server without paging answers in one go (or hits its size limit)
        page = SimplePagedResultsControl(False, size=self.settings.page_size, cookie="")
        try:
            msgid = self.conn.search_ext(base, ldap.SCOPE_SUBTREE, flt, attributes, serverctrls=[page])
            while msgid is not None:
                _, data, _, controls = self.conn.result3(msgid, all=1, timeout=self.settings.timeout_seconds)
                cookie = next((c.cookie for c in controls if c.controlType == PAGED), None)
                msgid = None
                if cookie:  # ask for the next page now: the server prepares it while this one is converted
                    page.cookie = cookie
                    msgid = self.conn.search_ext(base, ldap.SCOPE_SUBTREE, flt, attributes, serverctrls=[page])
                for dn, entry in data:
                    if dn is None:  # a search continuation reference: part of the tree is on another server
                        raise referral(self.settings, list(entry), doing)
                    yield dn, texts(entry)
        except ldap.LDAPError as exc:
            raise self.error(exc, doing) from None

    def attribute_types(self) -> list[str]:
        try:
            root = self.conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["subschemaSubentry"])
            subschema = (root[0][1].get("subschemaSubentry") or [b"cn=Subschema"])[0].decode()
            found = self.conn.search_s(subschema, ldap.SCOPE_BASE, "(objectClass=subschema)", ["attributeTypes"])
            return [v.decode() for v in found[0][1].get("attributeTypes", [])]
        except (ldap.LDAPError, IndexError, UnicodeDecodeError):
            return []

    def error(self, exc: ldap.LDAPError, doing: str) -> SourceError:
        """A libldap failure as the sentence ldap3's would give (`connection.failure`)."""
        info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        detail = " ".join(str(info.get(k, "")) for k in ("desc", "info")).strip() or str(exc)
        s = self.settings
        kinds = {
            ldap.INVALID_CREDENTIALS: "credentials",
            ldap.SIZELIMIT_EXCEEDED: "size limit",
            ldap.TIMELIMIT_EXCEEDED: "time limit",
            ldap.ADMINLIMIT_EXCEEDED: "admin limit",
            ldap.INSUFFICIENT_ACCESS: "access",
            ldap.TIMEOUT: "timeout",
        }
        if kind := kinds.get(type(exc)):
            return failure(kind, s, doing)
        if isinstance(exc, ldap.NO_SUCH_OBJECT):
            return failure("no such object", s, doing)
        if isinstance(exc, ldap.REFERRAL):
            return referral(s, info.get("info", "").split("\n")[1:] or None, doing)
        if isinstance(exc, ldap.SERVER_DOWN | ldap.CONNECT_ERROR):
            if not self.connected:
                return self.diagnosed(doing, socket_reason(detail))
            return failure("lost", s, doing, socket_reason(detail))
        if "result" in info:
            return failure("answered", s, doing, info.get("desc", ""), info.get("info", ""))
        return failure("other", s, doing, detail)

    def diagnosed(self, doing: str, reason: str) -> SourceError:
        """Why the connection could not be made, in ldap3's words.

        libldap says only "Can't contact LDAP server" for a refused connection and for an
        untrusted certificate alike; ldap3 tells them apart, so it tries the same connection.
        """
        try:
            close(connect_ldap3(self.settings))
        except SourceError as exc:
            return exc
        return failure("starttls" if doing == "starting TLS" else "cannot connect", self.settings, doing, reason)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection must not hide the error that broke it
            self.conn.unbind_s()
