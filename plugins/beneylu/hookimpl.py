"""Beneylu School target (the écoles' ENT): per école, the class-roster files its import accepts, over SFTP.

Beneylu has no public provisioning API, so the hub writes what its import screen
takes (`plugins.beneylu.export`: the ONDE three-file extraction, or the fast-input
layout, plus the école's cycle-3 network) and puts them in ``<remote_dir>/<UAI>/``
on the SFTP server Beneylu reads (`plugins.beneylu.sftp`).

Changes are only triggers: each batch collects the écoles it touches (`Touched`), and
each touched école's files are rebuilt from the store as it is now. A pupil who
left (op ``leave``) is no longer in the roster, so no longer in the files; ``archive``
needs nothing more (the rebuilt files are the same, nothing is uploaded). A file whose
content is the one last uploaded there (its SHA-256, kept in ``context.links`` under
entity ``file``) is not sent again, so a delivery repeated after a crash changes
nothing; a file the layout no longer produces (a class gone, in ``fast_input``) is
removed from the server.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, model_validator

from hub.errors import DeliveryError
from hub.hookspecs import ENTITIES, Scope, hookimpl
from hub.model import Change, EstablishmentKind
from hub.settings import Strict
from plugins.beneylu import export

if TYPE_CHECKING:
    from plugins.beneylu.sftp import Server, Session


class Settings(Strict):
    """``[plugins.beneylu]``: the SFTP server Beneylu imports from, and the layout it takes."""

    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    host_key_fingerprint: str = Field(pattern=r"^SHA256:[A-Za-z0-9+/]{43}=?$",
                                      description="the server's key as `ssh-keygen -lf` prints it; others are refused")
    password: SecretStr | None = None  # HUB_PLUGINS__BENEYLU__PASSWORD(_FILE)
    private_key_path: Path | None = None
    private_key_passphrase: SecretStr | None = None  # HUB_PLUGINS__BENEYLU__PRIVATE_KEY_PASSPHRASE(_FILE)
    remote_dir: str = Field("/", description="the folder holding one sub-folder per école (created if missing)")
    layout: Literal["onde", "fast_input"] = "onde"
    uais: list[str] | None = Field(None, description="the écoles served; None: every école")
    timeout_seconds: float = Field(20.0, gt=0)
    batch_size: int = Field(5000, ge=1, description="changes per delivery call; each touched école is rebuilt once")

    @model_validator(mode="after")
    def _one_way_in(self) -> Settings:
        if self.password is None and self.private_key_path is None:
            raise ValueError("set private_key_path, or the password in HUB_PLUGINS__BENEYLU__PASSWORD")
        return self

    def server(self) -> Server:
        from plugins.beneylu.sftp import Server  # paramiko: loaded when a delivery starts

        secret = self.private_key_passphrase
        return Server(self.host, self.port, self.username, self.host_key_fingerprint,
                      password=self.password.get_secret_value() if self.password else None,
                      private_key_path=self.private_key_path,
                      private_key_passphrase=secret.get_secret_value() if secret else None,
                      timeout_seconds=self.timeout_seconds)  # fmt: skip


@hookimpl
def hub_target_scope(settings: Settings) -> Scope:
    return Scope(entities=frozenset(ENTITIES),
                 establishment_kinds=frozenset({EstablishmentKind.ECOLE.value}),
                 uais=frozenset(settings.uais) if settings.uais is not None else None,
                 batch_size=settings.batch_size)  # fmt: skip


@hookimpl
def hub_deliver(context, changes: list[Change]) -> list:
    """Rebuild and upload every école the changes touch; a change fails with the écoles it touches."""
    settings: Settings = context.settings
    wanted = Touched(context.store, settings.uais).ecoles(changes)
    outcomes = Publisher(context, settings).publish(sorted(set().union(*wanted)))
    return [next((outcomes[u] for u in sorted(uais) if outcomes.get(u)), None) for uais in wanted]


class Touched:
    """Which served écoles' files a change may alter.

    A change names where it happens (``uai``, and ``old_uai`` for one who left). Beyond that:
    a parent's change names no establishment, so it touches every école served (their
    children's écoles are not in the change); a cycle-3 network group is kept under the
    collège's UAI, so a change to the group touches the écoles feeding that collège, and a
    membership of it the école of the member (none for a collège pupil).
    """

    def __init__(self, store, uais: list[str] | None):
        self.store = store
        served = set(store.establishments(frozenset({EstablishmentKind.ECOLE.value})))
        self.served = served if uais is None else served & set(uais)
        self._networks: dict[str, set[str]] | None = None

    def ecoles(self, changes: list[Change]) -> list[set[str]]:
        members = [c.key.partition("|")[0] for c in changes if c.entity == "membership" and not self._named(c)]
        where = {key: person.uai for key, person in self.store.people(members).items()} if members else {}
        found = []
        for change in changes:
            if change.entity == "person" and change.uai is None and change.old_uai is None:
                found.append(set(self.served))
            elif self._named(change) or change.entity not in ("group", "membership"):
                found.append(self._named(change))
            elif change.entity == "membership":
                found.append({where.get(change.key.partition("|")[0])} & self.served)
            else:
                found.append(self.networks().get(change.uai, set()))
        return found

    def _named(self, change: Change) -> set[str]:
        return {u for u in (change.uai, change.old_uai) if u in self.served}

    def networks(self) -> dict[str, set[str]]:
        """Collège UAI -> the served écoles feeding it (read once, when a batch needs it)."""
        if self._networks is None:
            self._networks = {}
            for uai in sorted(self.served):
                ecole = self.store.establishment(uai)
                if ecole and ecole.secteur_college:
                    self._networks.setdefault(ecole.secteur_college, set()).add(uai)
        return self._networks


class Publisher:
    """Uploads rebuilt files, connecting only once something differs from what was last uploaded."""

    def __init__(self, context, settings: Settings):
        self.context, self.settings, self.server = context, settings, settings.server()
        self.session: Session | None = None
        self.uploaded = context.links.all("file")  # "<server>/<path>" -> SHA-256 of the content last put there

    def publish(self, uais: list[str]) -> dict[str, DeliveryError | None]:
        outcomes: dict[str, DeliveryError | None] = {}
        try:
            for uai in uais:
                try:
                    self._publish(uai)
                    outcomes[uai] = None
                except DeliveryError as exc:
                    outcomes[uai] = exc
                    if self.session is None:  # no connection: the others would fail the same way
                        outcomes.update({u: exc for u in uais if u not in outcomes})
                        break
        finally:
            if self.session is not None:
                self.session.close()
        return outcomes

    def _publish(self, uai: str) -> None:
        roster = self.context.store.roster(uai)
        if roster is None or roster.establishment.kind != EstablishmentKind.ECOLE or roster.establishment.pseudo:
            return
        secteur = roster.establishment.secteur_college
        college = self.context.store.establishment(secteur) if secteur else None
        files = export.ecole_files(roster, college, self.settings.layout)
        folder = PurePosixPath(self.settings.remote_dir) / uai
        prefix = f"{self.server.name}{folder}/"
        for name, content in files.items():
            digest = hashlib.sha256(content).hexdigest()
            if self.uploaded.get(prefix + name) != digest:
                self._session().put(folder, name, content)
                self.context.links.set("file", prefix + name, digest)
                self.uploaded[prefix + name] = digest
        for key in [k for k in self.uploaded if k.startswith(prefix) and k[len(prefix):] not in files]:
            self._session().remove(folder, key[len(prefix):])
            self.context.links.forget("file", key)
            del self.uploaded[key]

    def _session(self) -> Session:
        from plugins.beneylu.sftp import Session

        if self.session is None:
            self.session = Session(self.server)
        return self.session
