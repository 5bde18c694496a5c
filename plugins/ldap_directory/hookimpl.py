"""LDAP source: the académie directory read over LDAP (ldap3 or python-ldap), in full or by ``modifyTimestamp``.

Reading lives in `plugins.ldap_directory.reader` (the connection and its errors in
`plugins.ldap_directory.connection`), the demo LDIF in `plugins.ldap_directory.ldif`; this
module binds them to the hooks and declares the settings. ``ent.schema`` beside it defines
the ENT attributes for an OpenLDAP server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.hookspecs import hookimpl
from hub.sdet import current_school_year
from hub.settings import Strict
from plugins.ldap_directory import reader
from plugins.ldap_directory.presets import DEFAULT_ATTRIBUTES, PRESETS

DEFAULT_DEMO_DIR = Path("var/demo/ldap")


class Settings(Strict):
    """``[plugins.ldap]``: which server, as whom, where the entries are and how their attributes are named.

    The bind password is a secret: ``HUB_PLUGINS__LDAP__BIND_PASSWORD`` or ``..._FILE``, never the file.

    ``preset`` names the directory's layout (`plugins.ldap_directory.presets`):

    - ``"sdet"`` (default): the hub's own schema (``ent.schema``), fed from the AAF as it is:
      ``ENTPersonJointure`` is the AAF key, parents are named by it.
    - ``"esco"``: the GIP-RECIA ESCO schema used by many ENT directories: ``ENTPersonJointure``
      holds ``<source id>$<key>`` values (``ENT`` for manual entries, ``MENESR`` or an académie
      code such as ``AC-RENNES`` for the ministry feed), parents are named by uid or DN,
      structure keys are DNs, establishments are ``ENTEtablissement`` entries. Needs
      ``jointure_sources``.

    ``jointure_sources`` (ordered) is the jointure rule: the first source listed that a person's
    ``ENTPersonJointure`` has gives the key, its ``<source id>$`` prefix cut, so it equals the
    AAF ``<identifier><id>`` and the same person read from the AAF and from the directory is
    one person. Someone with no value from these sources is rejected (journaled) — add ``"ENT"``
    to keep manual entries. Empty: the first value is taken as it is (``sdet``).

    ``attributes`` and the filters, when given, apply on top of the preset.

    ``client`` says which library reads: ``"ldap3"`` (default, pure Python, always installed) or
    ``"python-ldap"`` (libldap, in C: several times faster on a large directory; the ``ldap-c``
    extra). Both give the same records. ``second_process`` (None: for full reads) turns entries
    into records in a forked child while the core works, on a second core.
    """

    url: str = Field(description="ldap://host[:port] or ldaps://host[:port]")
    bind_dn: str | None = Field(None, description="simple bind DN; None binds anonymously")
    bind_password: SecretStr | None = None
    client: Literal["ldap3", "python-ldap"] = Field(
        "ldap3", description="ldap3 (pure Python) or python-ldap (libldap, faster; pip extra ldap-c)"
    )
    start_tls: bool = Field(False, description="upgrade an ldap:// connection with StartTLS")
    ca_file: Path | None = Field(None, description="CA bundle that signed the server's certificate (LDAPS/StartTLS)")
    base_dn: str
    people_dn: str | None = Field(None, description="search base for people; default base_dn")
    structures_dn: str | None = Field(None, description="search base for structures; default base_dn")
    preset: Literal["sdet", "esco"] = Field("sdet", description="the directory's layout: sdet (ours) or esco")
    jointure_sources: list[str] = Field(
        default_factory=list,
        description='source ids whose ENTPersonJointure to keep, in order, e.g. ["AC-RENNES", "MENESR"]',
    )
    people_filter: str | None = Field(None, description="default: the preset's, (objectClass=ENTPerson)")
    structures_filter: str | None = Field(
        None, description="default: the preset's, (objectClass=ENTStructure) or (objectClass=ENTEtablissement)"
    )
    second_process: bool | None = Field(
        None, description="turn entries into records in a second process while the core works; None: for full reads"
    )
    page_size: int = Field(1000, ge=1, le=100_000, description="entries per page of the paged search")
    timeout_seconds: int = Field(60, ge=1, description="connect timeout, and the longest wait for one page")
    school_year: int | None = Field(None, description="the enrollments' year; None: the current school year")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="SDET attribute name -> this server's name for it ('' to leave it out); "
        "only the names given replace the preset's",
    )

    @field_validator("url")
    @classmethod
    def _ldap_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname:
            raise ValueError("expected ldap://host[:port] or ldaps://host[:port]")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("the URL holds no base DN or filter here: use base_dn and *_filter")
        return value

    @field_validator("people_filter", "structures_filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        depth = 0
        for char in value:
            depth += (char == "(") - (char == ")")
            if depth < 0:
                break
        if not (value.startswith("(") and value.endswith(")")) or depth != 0:
            raise ValueError(f"{value!r} is not an LDAP filter in parentheses")
        return value

    @field_validator("attributes")
    @classmethod
    def _known_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(DEFAULT_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attribute(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_ATTRIBUTES)}")
        return {k: v.strip() for k, v in value.items()}

    @field_validator("jointure_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        if any(not s.strip() or "$" in s for s in value):
            raise ValueError("each source id is a non-empty name without '$', e.g. AC-RENNES or MENESR")
        return [s.strip() for s in value]

    @model_validator(mode="after")
    def _apply_preset(self) -> Settings:
        if self.start_tls and self.url.lower().startswith("ldaps://"):
            raise ValueError("start_tls is for ldap:// URLs; ldaps:// is TLS already")
        preset = PRESETS[self.preset]
        if preset.prefixed_jointure and not self.jointure_sources:
            raise ValueError(
                f"preset {self.preset!r} needs jointure_sources: the source ids whose ENTPersonJointure to keep, "
                'in order, e.g. ["AC-RENNES", "MENESR"]'
            )
        self.attributes = {**preset.attributes, **self.attributes}
        self.people_filter = self.people_filter or preset.people_filter
        self.structures_filter = self.structures_filter or preset.structures_filter
        return self


@hookimpl
def hub_read_directory(settings: Settings, since: str | None, uai: str | None):
    """Stream the directory: everything, or what changed since the cursor; ``uai`` is left to the core."""
    return reader.read_feed(settings, since=since, school_year=settings.school_year or current_school_year())


@hookimpl
def hub_write_demo(settings: Settings | None, academie, directory: Path | None) -> list[Path]:
    """Write the académie as one LDIF file (load it with ``slapadd`` or ``ldapadd``).

    LDAP has no drop folder: without ``directory`` the file goes to ``var/demo/ldap/academie.ldif``
    under the current directory.
    """
    from plugins.ldap_directory import ldif  # the demo's writer, with hub.demo: no sync needs them

    target = (Path(directory) if directory is not None else DEFAULT_DEMO_DIR) / "academie.ldif"
    if settings is None:
        return [ldif.write_academie(academie, target)]
    return [
        ldif.write_academie(
            academie, target, base_dn=settings.base_dn, people_dn=settings.people_dn,
            structures_dn=settings.structures_dn, attributes=settings.attributes, preset=settings.preset,
            jointure_source=settings.jointure_sources[0] if settings.jointure_sources else "AC-DEMO",
        )
    ]  # fmt: skip
