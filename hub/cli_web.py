"""``hub serve`` (the web app under gunicorn), ``hub admin`` (the console's local accounts) and ``hub approve``.

Kept apart from `hub.cli`, which adds these commands to the ``hub`` command.
"""

from __future__ import annotations

import getpass

import click

from hub.errors import HubError
from hub.settings import CONSOLE_ROLES as ROLES
from hub.terminal import new_table


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(admin)
    cli.add_command(approve)


@click.command("serve")
@click.option("--bind", help="address:port to listen on (default: console.bind, 127.0.0.1:8000)")
@click.option("--workers", type=int, help="worker processes (default: console.workers)")
@click.option("--access-log", is_flag=True, help="log every request to stderr (URLs may hold searched INEs)")
def serve(bind, workers, access_log):
    """Serve the admin console (/admin/), its API (/api/) and the SSO broker with gunicorn."""
    from gunicorn.app.base import BaseApplication

    from hub.app import create_app
    from hub.cli import errors, ready_hub

    h = ready_hub()
    h.engine.dispose()  # no connection crosses gunicorn's fork
    settings = h.settings.console
    if settings.secret_key is None:
        raise HubError("the console needs a secret key: set HUB_CONSOLE__SECRET_KEY (or HUB_CONSOLE__SECRET_KEY_FILE), "
                       "e.g. to the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    options = {"bind": bind or settings.bind, "workers": workers or settings.workers,
               "timeout": settings.timeout_seconds, "accesslog": "-" if access_log else None, "errorlog": "-",
               "forwarded_allow_ips": "*" if settings.trusted_proxies else "127.0.0.1"}
    app = create_app(h.settings)

    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    errors.print(f"console on http://{options['bind']}/admin/ (Ctrl-C stops it)", highlight=False)
    Server().run()


@click.command("approve")
@click.argument("run_id", type=int)
@click.option("--reason", required=True, help="why the held run may be applied (journaled)")
def approve(run_id, reason):
    """Apply held run RUN_ID over the safety limits, with its own options (--uai, --no-*): what the console's
    "Approve and apply" does."""
    from hub.cli import EXIT_HELD, console, ready_hub
    from hub.web.accounts import audit
    from hub.web.actions import approve_held_run

    h, who = ready_hub(), _who()
    try:
        report = approve_held_run(h, run_id, by=who, reason=reason, trigger=who)
    except HubError as exc:
        audit(h.engine, who, "approve-held-run", f"run {run_id}", f"reason: {reason} → {exc}", outcome="failed")
        raise
    outcome = f"run {run_id} approved; applied as run {report.run_id}: {report.status} {report.message}".strip()
    audit(h.engine, who, "approve-held-run", f"run {run_id}", f"reason: {reason} → {outcome}")
    console.print(outcome, highlight=False, soft_wrap=True)
    if report.status != "applied":
        raise SystemExit(EXIT_HELD)


@click.group("admin")
def admin():
    """Local console accounts (roles: viewer, operator, admin)."""


def _who() -> str:
    return f"cli:{getpass.getuser()}"


def _password_option(function):
    return click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                        envvar="HUB_ADMIN_PASSWORD", help="asked for when not set in HUB_ADMIN_PASSWORD")(function)


@admin.command("add-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--totp", is_flag=True, help="also ask for a 6-digit code from an authenticator app at login")
@_password_option
def add_user_command(username, role, totp, password):
    """Create a console account (the first one: --role admin)."""
    from hub.cli import console, ready_hub
    from hub.web.accounts import add_user, audit, provisioning_uri

    h = ready_hub()
    engine = h.engine
    secret = add_user(engine, username, password, role, totp=totp, settings=_console_settings(h))
    audit(engine, _who(), "add-user", username, f"role {role}{', TOTP' if totp else ''}")
    console.print(f"user {username} ({role}) created", highlight=False)
    if secret:
        console.print(f"enrol this in an authenticator app (shown once):\n{provisioning_uri(username, secret)}",
                      highlight=False, soft_wrap=True)


def _console_settings(h):
    """The console's settings, its secrets (the TOTP key) refused in the settings file as `hub serve` does."""
    from hub.settings import ConsoleSettings, refuse_secrets_in_file

    refuse_secrets_in_file(ConsoleSettings, h.settings.file_data, ("console",), h.settings.config_file)
    return h.settings.console


@admin.command("totp-key")
def totp_key_command():
    """Print a new key to encrypt TOTP secrets with: put it in HUB_CONSOLE__TOTP_KEY (or a file named by
    HUB_CONSOLE__TOTP_KEY_FILE), never in the settings file nor the repository."""
    from hub.web.accounts import new_totp_key

    click.echo(new_totp_key())


@admin.command("encrypt-totp")
def encrypt_totp_command():
    """Encrypt the TOTP secrets stored in clear by a hub from before their encryption at rest."""
    from hub.cli import console, ready_hub
    from hub.web.accounts import audit, encrypt_clear_totp

    h = ready_hub()
    changed = encrypt_clear_totp(h.engine, _console_settings(h))
    for username in changed:
        audit(h.engine, _who(), "encrypt-totp", username, "TOTP secret encrypted at rest")
    console.print(f"{len(changed)} TOTP secret(s) encrypted" + (f": {', '.join(changed)}" if changed else ""),
                  highlight=False)


@admin.command("users")
def users_command():
    """List the console accounts."""
    from hub.cli import console, ready_hub
    from hub.web.accounts import users

    table = new_table("user", "role", "TOTP", "state", "last login (UTC)")
    for row in users(ready_hub().engine):
        state = "disabled" if row.disabled else f"locked until {row.locked_until:%H:%M}" if row.locked_until else ""
        table.add_row(row.username, row.role, "yes" if row.totp_secret else "no", state,
                      f"{row.last_login_at:%Y-%m-%d %H:%M}" if row.last_login_at else "never")
    console.print(table)


def _change(username: str, action: str, detail: str, **values) -> None:
    from hub.cli import console, ready_hub
    from hub.web.accounts import audit, change_user

    engine = ready_hub().engine
    change_user(engine, username, **values)
    audit(engine, _who(), action, username, detail)
    console.print(f"user {username}: {detail}", highlight=False)


@admin.command("set-password")
@click.argument("username")
@_password_option
def set_password_command(username, password):
    """Give USERNAME a new password (unlocks the account, ends its open sessions)."""
    _change(username, "set-password", "new password", password=password)


@admin.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
def set_role_command(username, role):
    """Give USERNAME another role (viewer, operator or admin)."""
    _change(username, "set-role", f"role {role}", role=role)


@admin.command("link-person")
@click.argument("username")
@click.argument("person_key", required=False)
@click.option("--unlink", is_flag=True, help="the account no longer opens through the SSO")
def link_person_command(username, person_key, unlink):
    """Let a member of staff (PERSON_KEY, e.g. jnt:1234) open USERNAME's account by logging in through the SSO."""
    from hub.cli import console, ready_hub
    from hub.web.accounts import audit, link_person

    if bool(person_key) == unlink:
        raise click.UsageError("give a PERSON_KEY, or --unlink")
    engine = ready_hub().engine
    link_person(engine, username, None if unlink else person_key)
    audit(engine, _who(), "link-person", username, "unlinked" if unlink else person_key)
    console.print(f"user {username}: " + ("no SSO login" if unlink else f"opens through the SSO for {person_key}"),
                  highlight=False)


@admin.command("disable")
@click.argument("username")
def disable_command(username):
    """Refuse USERNAME's logins and end their sessions (``enable`` undoes it)."""
    _change(username, "disable-user", "disabled", disabled=True)


@admin.command("enable")
@click.argument("username")
def enable_command(username):
    """Let a disabled USERNAME log in again."""
    _change(username, "enable-user", "enabled", disabled=False)
