"""GAR roster feed: per served establishment the five GAR-ENT files, validated, packed and put on GAR's SFTP.

Why a job and not an outbox target: GAR takes whole files per delivery (a
``.tar.gz`` and its ``.md5``), not one change at a time, so a change alone means
nothing to it. A delivery (`deliver`: the ``gar.deliver`` job action, or
``hub gar deliver``) rebuilds the files from the store as it is now:

* **never lost**: a Delta sends each person whose records differ from what the
  last *acknowledged* delivery sent (digests in table ``gar_sent``, promoted only
  once the upload succeeded), so whatever a failed delivery carried is in the next;
* **retried**: the upload is tried ``attempts`` times with a growing pause, then
  the job's next run starts over (a refusal that retrying cannot help, such as an
  unknown host key or an invalid record, stops at once);
* **journaled**: each delivery is one ``run`` row (action ``gar``) with its counts
  and summary line, ``failed`` with the reason, plus one event per person left out;
* one at a time: the ``gar`` lock is held while a delivery runs.

Settings ``[plugins.gar]``; secrets (SFTP password, private key, its passphrase)
only from ``HUB_PLUGINS__GAR__…`` or ``…_FILE``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import click
from pydantic import Field, SecretStr, model_validator

from hub.errors import DeliveryError, HubError
from hub.hookspecs import hookimpl
from hub.model import UAI_PATTERN, EstablishmentKind
from hub.settings import Strict
from hub.store import locks
from hub.sync.journal import Journal
from plugins.gar import feed

if TYPE_CHECKING:
    from plugins.beneylu.sftp import Server

NAME = "gar"
SERVED_KINDS = [k for k in EstablishmentKind if k != EstablishmentKind.OTHER]


class Settings(Strict):
    """``[plugins.gar]``: who GAR gets, how the files are made, and the SFTP server GAR reads."""

    id_ent: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$", description="the ENT identifier GAR assigned (idENT)")
    uais: list[str] | None = Field(None, description="the establishments served; None: every one of "
                                   "establishment_kinds")
    establishment_kinds: list[EstablishmentKind] = Field(SERVED_KINDS, min_length=1)
    resp_aff_functions: list[str] = Field(["DIR"], description="function codes making someone RespAff "
                                          "(resource-assignment manager) where they hold them")
    resp_aff: dict[str, list[str]] = Field({}, description="UAI -> person keys (jnt:…) named RespAff there too")
    version: str = Field("1.0", description="the Version attribute of every root element")
    max_nodes: int = Field(10000, ge=1, description="children per file; more start the next numbered file")
    work_dir: Path | None = Field(None, description="where deliveries are built (default: the system's temp folder)")
    processes: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 8), ge=1,
                           description="processes building and validating the files (default: one per core, "
                           "at most 8; each holds a database connection)")
    host: str | None = None
    port: int = Field(22, ge=1, le=65535)
    username: str | None = None
    host_key_fingerprint: str | None = Field(None, pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$")
    password: SecretStr | None = None  # HUB_PLUGINS__GAR__PASSWORD(_FILE)
    private_key: SecretStr | None = None  # HUB_PLUGINS__GAR__PRIVATE_KEY(_FILE): the key itself, OpenSSH or PEM
    private_key_passphrase: SecretStr | None = None  # HUB_PLUGINS__GAR__PRIVATE_KEY_PASSPHRASE(_FILE)
    remote_dir: str = "/"
    timeout_seconds: float = Field(20.0, gt=0)
    attempts: int = Field(3, ge=1, description="uploads tried per delivery before it fails")
    retry_seconds: float = Field(30.0, ge=0, description="pause after the first failed upload, doubled after each")
    # The SAML IdP GAR trusts (`plugins.gar.idp`), on when idp_cert_file is set; it needs the SSO broker.
    idp_cert_file: Path | None = Field(None, description="the IdP's signing certificate (PEM)")
    idp_key_file: Path | None = Field(None, description="its private key (PEM): a file outside the repository, "
                                      "readable by the hub only")
    idp_entity_id: str | None = Field(None, description="default: {sso.base_url}/gar/idp/metadata")
    idp_sp_metadata_file: Path | None = Field(None, description="GAR's SP metadata, as a file…")
    idp_sp_metadata_url: str | None = Field(None, description="…or fetched from GAR (refreshed hourly)")
    idp_want_signed_requests: bool = Field(True, description="refuse AuthnRequests GAR did not sign")
    idp_assertion_seconds: int = Field(300, ge=30, le=3600, description="how long an assertion stays valid")

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        bad = [u for u in (self.uais or []) + list(self.resp_aff) if not UAI_PATTERN.match(u)]
        if bad:
            raise ValueError(f"not UAIs: {', '.join(bad)}")
        if self.host and not (self.username and self.host_key_fingerprint):
            raise ValueError("with host, set username and host_key_fingerprint")
        if self.host and self.password is None and self.private_key is None:
            raise ValueError("set HUB_PLUGINS__GAR__PRIVATE_KEY (or …_FILE) or HUB_PLUGINS__GAR__PASSWORD")
        if self.idp_cert_file and not self.idp_key_file:
            raise ValueError("with idp_cert_file, set idp_key_file (the IdP signs its answers)")
        if self.idp_cert_file and (self.idp_sp_metadata_file is None) == (self.idp_sp_metadata_url is None):
            raise ValueError("with idp_cert_file, set one of idp_sp_metadata_file and idp_sp_metadata_url "
                             "(GAR's SP metadata)")
        return self

    def server(self) -> Server:
        from plugins.beneylu.sftp import Server  # paramiko: loaded by the commands that upload

        if not self.host:
            raise HubError("[plugins.gar] host is not set: no SFTP server to deliver to")
        return Server(self.host, self.port, self.username, self.host_key_fingerprint,
                      password=self.password.get_secret_value() if self.password else None,
                      timeout_seconds=self.timeout_seconds)


def deliver(engine, settings: Settings, mode: str, *, trigger: str = "cli", lock_ttl_seconds: int = 4 * 3600
            ) -> feed.Summary:
    """Build, upload and acknowledge one delivery; journaled as one run, failed runs with their reason."""
    server = settings.server()
    with locks.hold(engine, "gar", lock_ttl_seconds):
        journal = Journal(engine)
        journal.mark_interrupted("gar", NAME, message="the process died; the next delivery sends what it carried")
        run_id = journal.start("gar", source=NAME, trigger=trigger)
        try:
            with tempfile.TemporaryDirectory(prefix="hub-gar-", dir=settings.work_dir) as folder:
                summary = feed.build(engine, settings, Path(folder), mode, pending=True, keep_files=False)
                _upload(server, settings, Path(folder), summary)
            feed.acknowledge(engine, summary)
        except Exception as exc:
            journal.finish(run_id, "failed", message=f"nothing acknowledged: {exc}")
            raise
        for note in summary.notes:
            journal.event(run_id, "warning", note.partition(":")[0], note)
        journal.finish(run_id, "applied", counts=summary.counts(), message=summary.line())
        time.sleep(max(0.0, 1 - (time.time() % 1)))  # the next delivery's name (stamped to the second) differs
    return summary


def _upload(server: Server, settings: Settings, folder: Path, summary: feed.Summary) -> None:
    from plugins.gar.sftp import Session, private_key

    pkey = None
    if settings.private_key is not None:
        secret = settings.private_key_passphrase
        try:
            pkey = private_key(settings.private_key.get_secret_value(), secret.get_secret_value() if secret else None)
        except ValueError as exc:
            raise DeliveryError(f"{server.name}: HUB_PLUGINS__GAR__PRIVATE_KEY: {exc}", retryable=False) from None
    remote = PurePosixPath(settings.remote_dir)
    archive = folder / summary.archive
    for attempt in range(1, settings.attempts + 1):
        try:
            with Session(server, pkey) as session:
                session.upload(remote, archive)
                session.upload(remote, archive.with_name(archive.name.removesuffix(".tar.gz") + ".md5"))
            return
        except DeliveryError as exc:
            if not exc.retryable or attempt == settings.attempts:
                raise
            time.sleep(settings.retry_seconds * 2 ** (attempt - 1))


@hookimpl
def hub_register_commands(cli):
    @cli.group(NAME)
    def gar():
        """GAR roster feed: export files, deliver them."""

    @gar.command("export")
    @click.option("--uai", "uais", multiple=True, help="an establishment (repeatable; default: every one served)")
    @click.option("--mode", type=click.Choice(feed.MODES), default="complet", show_default=True)
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
    @click.option("--archive-only", is_flag=True, help="write only the archive and its .md5 (what a delivery "
                  "uploads), not the XML files beside")
    def export(uais, mode, out, archive_only):
        """Write and validate the GAR files (and their archive) in OUT; nothing is sent, Delta state unchanged."""
        from hub.cli import ready_hub

        h = ready_hub()
        summary = feed.build(h.engine, h.plugins.settings[NAME], out, mode, list(uais) or None,
                             keep_files=not archive_only)
        _report(summary, out)

    @gar.command("deliver")
    @click.option("--mode", type=click.Choice(feed.MODES), default="delta", show_default=True)
    def deliver_command(mode):
        """Build, validate and upload a delivery to GAR's SFTP server (a Delta sends what changed since the last
        one acknowledged: everything, the first time)."""
        from hub.cli import ready_hub

        h = ready_hub()
        summary = deliver(h.engine, h.plugins.settings[NAME], mode, lock_ttl_seconds=h.settings.lock_ttl_seconds)
        _report(summary, None)


def _report(summary: feed.Summary, out: Path | None) -> None:
    if out is not None:
        (out / f"{summary.archive.removesuffix('.tar.gz')}.summary.json").write_text(
            json.dumps(summary.__dict__, indent=2, default=str) + "\n")
    for note in summary.notes:
        click.echo(f"note: {note}")
    click.echo(summary.line())


@hookimpl
def hub_register_blueprints(app):
    """The SAML IdP GAR trusts, when ``idp_cert_file`` is set."""
    if app.extensions["hub"].plugins.settings[NAME].idp_cert_file is not None:
        from plugins.gar import idp

        idp.register(app)


@hookimpl
def hub_register_jobs():
    def deliver_job(hub, job) -> str:
        """``action = "gar.deliver"``: a Delta, or a Complet when the job says ``full = true``."""
        summary = deliver(hub.engine, hub.plugins.settings[NAME], "complet" if job.full else "delta",
                          trigger=f"scheduler:{job.name}", lock_ttl_seconds=hub.settings.lock_ttl_seconds)
        return summary.line()

    return {"gar.deliver": deliver_job}
