"""Local console accounts (argon2id passwords, optional TOTP, three roles) and the audit log of what they do.

TOTP secrets are stored encrypted (Fernet, key ``console.totp_key`` from the environment or a
file, never the settings file): a copy of the database alone does not give the second factor.

Used by `hub admin …` and by the console's login. An account linked to a hub person
(`hub admin link-person`) is also reached through the hub's SSO: the member of staff
logs in at their académie IdP and gets the account's role, with the same audit log.
"""

from __future__ import annotations

import hmac
import re
from binascii import Error as Base64Error
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.clock import now
from hub.errors import HubError
from hub.settings import CONSOLE_ROLES as ROLES  # each role may do what the ones before it may
from hub.settings import ConsoleSettings
from hub.store.tables import admin_user, audit_event

MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")
_hasher = PasswordHasher()
SEALED = "fernet:"  # starts an encrypted TOTP secret; a clear one (base32) never holds a colon
_SET_KEY = "set HUB_CONSOLE__TOTP_KEY (or HUB_CONSOLE__TOTP_KEY_FILE) to a key made by `hub admin totp-key`"


@cache
def _dummy_hash() -> str:
    """Verified for unknown names, so they cost as much as wrong passwords; made on first use (it takes 0.1 s)."""
    return _hasher.hash("not a password of anyone")


class LoginRefused(HubError):
    """A login that did not succeed; the message is safe to show (it never says which part was wrong)."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    stamp: str  # changes with the password: sessions opened before a change end

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _account(row) -> Account:
    return Account(row.id, row.username, row.role, row.password_hash[-16:])


def _check(username: str, password: str | None, role: str | None) -> None:
    if not _USERNAME.match(username):
        raise HubError(f"user name {username!r}: use 2 to 100 lower-case letters, digits, '.', '_', '-' or '@'")
    if password is not None and len(password) < MIN_PASSWORD:
        raise HubError(f"user {username}: the password needs at least {MIN_PASSWORD} characters")
    if role is not None and role not in ROLES:
        raise HubError(f"user {username}: role {role!r} is not one of {', '.join(ROLES)}")


def totp_cipher(settings: ConsoleSettings) -> Fernet:
    """The key TOTP secrets are encrypted with, or HubError saying how to set it."""
    if settings.totp_key is None:
        raise HubError(f"TOTP secrets are encrypted at rest: {_SET_KEY}")
    try:
        return Fernet(settings.totp_key.get_secret_value().encode())
    except (ValueError, Base64Error):
        raise HubError(f"HUB_CONSOLE__TOTP_KEY is not a Fernet key (32 bytes in URL-safe base64): {_SET_KEY}") from None


def new_totp_key() -> str:
    return Fernet.generate_key().decode()


def _seal(cipher: Fernet, secret: str) -> str:
    return SEALED + cipher.encrypt(secret.encode()).decode()


def _unseal(cipher: Fernet, stored: str, username: str) -> str:
    if not stored.startswith(SEALED):
        raise HubError(f"user {username}: the TOTP secret is stored in clear (from before it was encrypted at rest): "
                       "run `hub admin encrypt-totp` with HUB_CONSOLE__TOTP_KEY set")
    try:
        return cipher.decrypt(stored.removeprefix(SEALED).encode()).decode()
    except InvalidToken:
        raise HubError(f"user {username}: HUB_CONSOLE__TOTP_KEY does not open the stored TOTP secret (was the key "
                       "changed? the key it was encrypted with opens it)") from None


def check_totp_secrets(engine: Engine, settings: ConsoleSettings) -> None:
    """At start: every stored TOTP secret opens with the configured key; else HubError saying what to do."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(admin_user.c.username, admin_user.c.totp_secret)
                                .where(admin_user.c.totp_secret.is_not(None)).order_by(admin_user.c.username)).all()
    except SQLAlchemyError:  # a database not upgraded yet holds no account (`hub serve` says so on its own)
        return
    if rows and settings.totp_key is None:
        names = ", ".join(name for name, _ in rows[:5]) + (", …" if len(rows) > 5 else "")
        raise HubError(f"{len(rows)} console account(s) ({names}) log in with a TOTP code, whose secrets are "
                       f"encrypted at rest: {_SET_KEY}")
    for username, stored in rows:
        _unseal(totp_cipher(settings), stored, username)


def encrypt_clear_totp(engine: Engine, settings: ConsoleSettings) -> list[str]:
    """Encrypt the TOTP secrets stored in clear before encryption at rest; returns the accounts changed."""
    cipher = totp_cipher(settings)
    changed = []
    with engine.begin() as conn:
        for user_id, username, stored in conn.execute(select(admin_user.c.id, admin_user.c.username,
                                                             admin_user.c.totp_secret)
                                                      .where(admin_user.c.totp_secret.is_not(None))).all():
            if not stored.startswith(SEALED):
                conn.execute(update(admin_user).where(admin_user.c.id == user_id)
                             .values(totp_secret=_seal(cipher, stored)))
                changed.append(username)
    return changed


def add_user(engine: Engine, username: str, password: str, role: str, *, totp: bool = False,
             settings: ConsoleSettings | None = None) -> str | None:
    """Create an account; returns its TOTP secret (to enrol in an authenticator app) when ``totp``, which
    needs ``settings.totp_key`` to encrypt it."""
    _check(username, password, role)
    secret = pyotp.random_base32() if totp else None
    sealed = _seal(totp_cipher(settings or ConsoleSettings()), secret) if secret else None
    with engine.begin() as conn:
        if conn.execute(select(admin_user.c.id).where(admin_user.c.username == username)).first():
            raise HubError(f"user {username} exists already (hub admin set-password / set-role change it)")
        conn.execute(insert(admin_user).values(username=username, password_hash=_hasher.hash(password), role=role,
                                               totp_secret=sealed, disabled=False, failed_logins=0,
                                               created_at=now()))
    return secret


def change_user(engine: Engine, username: str, *, password: str | None = None, role: str | None = None,
                disabled: bool | None = None) -> None:
    """Change what is given; a new password also unlocks the account and ends its open sessions."""
    _check(username, password, role)
    values: dict = {}
    if password is not None:
        values.update(password_hash=_hasher.hash(password), failed_logins=0, locked_until=None)
    if role is not None:
        values["role"] = role
    if disabled is not None:
        values["disabled"] = disabled
    with engine.begin() as conn:
        if not conn.execute(update(admin_user).where(admin_user.c.username == username).values(**values)).rowcount:
            raise HubError(f"no console user named {username} (hub admin users lists them)")


def users(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(admin_user).order_by(admin_user.c.username)).all()


def provisioning_uri(username: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="ENT Hub console")


def authenticate(engine: Engine, settings: ConsoleSettings, username: str, password: str, code: str) -> Account:
    """The account, or LoginRefused. Failures are counted; too many in a row lock the account for a while."""
    with engine.connect() as conn:
        row = conn.execute(select(admin_user).where(admin_user.c.username == username.strip().lower())).first()
    try:
        _hasher.verify(row.password_hash if row else _dummy_hash(), password)
        password_ok = row is not None
    except (VerificationError, InvalidHashError):
        password_ok = False
    moment = now()
    if row is not None and row.locked_until is not None and row.locked_until > moment:
        raise LoginRefused(f"too many failed logins: try again after {row.locked_until:%H:%M} UTC")
    step = None
    if row is not None and row.totp_secret:
        step = _totp_step(_unseal(totp_cipher(settings), row.totp_secret, row.username), code)
    code_ok = row is not None and (not row.totp_secret or (step is not None and step > (row.totp_step or 0)))
    if not (password_ok and code_ok) or row.disabled:
        if row is not None:
            failed = row.failed_logins + 1
            locked = moment + timedelta(minutes=settings.lockout_minutes) \
                if failed >= settings.max_failed_logins else None
            with engine.begin() as conn:
                conn.execute(update(admin_user).where(admin_user.c.id == row.id).values(
                    failed_logins=0 if locked else failed, locked_until=locked))
        raise LoginRefused("unknown user, wrong password or wrong code")
    with engine.begin() as conn:
        conn.execute(update(admin_user).where(admin_user.c.id == row.id).values(
            failed_logins=0, locked_until=None, last_login_at=moment, totp_step=step))
    return _account(row)


def link_person(engine: Engine, username: str, person_key: str | None) -> None:
    """Let the person with ``person_key`` (a member of staff) log in to this account through the SSO; None unlinks."""
    from hub.store.tables import person

    with engine.begin() as conn:
        if person_key is not None:
            kind = conn.execute(select(person.c.kind).where(person.c.person_key == person_key)).scalar()
            if kind not in ("enseignant", "personnel"):
                raise HubError(f"{person_key}: " + ("no such person" if kind is None else f"of kind {kind}, not staff"))
            other = conn.execute(select(admin_user.c.username).where(admin_user.c.person_key == person_key,
                                                                     admin_user.c.username != username)).scalar()
            if other:
                raise HubError(f"{person_key} is already linked to user {other}")
        if not conn.execute(update(admin_user).where(admin_user.c.username == username)
                            .values(person_key=person_key)).rowcount:
            raise HubError(f"no user {username}")


def sso_account(engine: Engine, person_key: str) -> Account:
    """The enabled account linked to the person the SSO logged in, or LoginRefused."""
    with engine.begin() as conn:
        row = conn.execute(select(admin_user).where(admin_user.c.person_key == person_key)).first()
        if row is None or row.disabled:
            raise LoginRefused("your ENT account gives no access to the console: ask an admin "
                               "(hub admin link-person)")
        conn.execute(update(admin_user).where(admin_user.c.id == row.id).values(last_login_at=now()))
    return _account(row)


def _totp_step(secret: str, code: str) -> int | None:
    """The time step whose code this is (the current one, or one step either side for clock drift), else None."""
    code = code.strip()
    if not (code.isascii() and code.isdigit()):
        return None
    totp, moment = pyotp.TOTP(secret), now()
    for drift in (0, -1, 1):
        at = moment + timedelta(seconds=drift * totp.interval)
        if hmac.compare_digest(totp.at(at), code):
            return totp.timecode(at)
    return None


def load_account(engine: Engine, user_id: int, stamp: str) -> Account | None:
    """The account of a session, unless it was disabled or its password changed since."""
    with engine.connect() as conn:
        row = conn.execute(select(admin_user).where(admin_user.c.id == user_id)).first()
    if row is None or row.disabled or row.password_hash[-16:] != stamp:
        return None
    return _account(row)


def audit(engine: Engine, actor: str, action: str, target: str = "", detail: str = "", *, remote_addr: str = "",
          outcome: str = "ok") -> None:
    with engine.begin() as conn:
        conn.execute(insert(audit_event).values(at=now(), actor=actor[:100], action=action[:60], target=target[:300],
                                                detail=detail, remote_addr=remote_addr[:64], outcome=outcome))


def audit_events(engine: Engine, *, limit: int = 200, actor: str | None = None) -> list:
    query = select(audit_event).order_by(audit_event.c.id.desc()).limit(limit)
    if actor:
        query = query.where(func.lower(audit_event.c.actor) == actor.lower())
    with engine.connect() as conn:
        return conn.execute(query).all()
