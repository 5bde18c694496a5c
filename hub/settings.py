"""Settings: one pydantic model, read from ``config/hub.toml`` and ``HUB_*`` environment.

Precedence: environment, then ``HUB_<KEY>_FILE`` secret files, then the TOML file,
then the defaults below. Nested keys use ``__`` in the environment
(``HUB_SYNC__GRACE_DAYS=10``). Secrets never come from the file: a secret field
found there is an error (see ``refuse_secrets_in_file``).
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.errors import SettingsError
from hub.model import EstablishmentKind

DEFAULT_CONFIG = Path("config/hub.toml")
ENV_PREFIX = "HUB_"
_file_data: ContextVar[dict | None] = ContextVar("hub_file_data", default=None)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thresholds(Strict):
    """Safety limits, per establishment (parents counted in each of their children's) and, for deletions, per kind
    of person over the whole directory; a run beyond them is held."""

    delete_ratio: float = Field(0.10, ge=0, le=1)
    update_ratio: float = Field(0.75, ge=0, le=1)
    move_ratio: float = Field(0.30, ge=0, le=1)
    floor: int = Field(5, ge=0, description="a share over its limit holds the run only when it concerns more "
                       "people than this (so one pupil leaving a class of eight is not a mass deletion)")
    min_records_ratio: float = Field(
        0.5, ge=0, le=1, description="a full read with fewer records than this share of the last one is refused"
    )


class SyncSettings(Strict):
    grace_days: int = Field(30, ge=0, description="days a deleted person is kept, suspended, before purge")
    precedence: list[str] = Field([], description="sources, strongest first (default: plugins.enabled order)")
    owners: dict[EstablishmentKind, str] = Field({}, description='establishment kind -> the source that speaks for it, '
                                   'e.g. {ecole = "onde"}')
    thresholds: Thresholds = Thresholds()
    batch_size: int = Field(5000, ge=1, description="rows staged per insert")


class ContinuitySettings(Strict):
    """The école → collège → lycée rules (`hub.continuity`)."""

    rollover: str = Field("08-01", pattern=r"^\d\d-\d\d$", description="MM-DD: the day a new school year "
                          "starts; a run bringing a later year's enrollments before that day is held (unless "
                          "--force), and the first complete read of the new year archives last year's classes")
    networks: bool = Field(True, description="cycle-3 networks: an école and its secteur collège share one "
                           "inter-establishment group per cycle-3 niveau (CM1, CM2, 6e), under the collège's UAI")

    @field_validator("rollover")
    @classmethod
    def _a_real_day(cls, value: str) -> str:
        from datetime import date

        month, day = (int(part) for part in value.split("-"))
        date(2024, month, day)  # a leap year, so 02-29 is a day; ValueError otherwise
        return value


class DeliverySettings(Strict):
    max_attempts: int = Field(8, ge=1)
    backoff_seconds: float = Field(30, ge=0)
    backoff_max_seconds: float = Field(6 * 3600, ge=0)
    batch_size: int = Field(200, ge=1)
    lease_seconds: float = Field(300, gt=0, description="how long a worker's claim on outbox rows holds: one "
                                 "hub_deliver call must end within it; a worker dead on another host keeps its "
                                 "rows this long")


class RetentionSettings(Strict):
    journal_days: int = Field(400, ge=1, description="runs and their events older than this are purged")
    delivered_days: int = Field(30, ge=1, description="delivered outbox rows older than this are purged")
    refresh_token_days: int = Field(7, ge=0, description="SSO refresh tokens used, revoked or expired longer ago "
                                    "than this are purged (kept a while to tell a replayed token from a forged one)")


class JobSettings(Strict):
    name: str
    cron: str = Field(description="5 fields (minute hour day month weekday) or 6 with seconds first")
    action: str = Field(pattern=r"^[a-z][a-z0-9_.:-]*$", description="sync, deliver, purge, or an action a plugin "
                        "registers (hub_register_jobs)")
    source: str | None = Field(None, description='for sync: a source name, or "all" for every enabled source')
    force: bool = False
    full: bool = Field(False, description="for sync: ignore the cursor (an incremental source then finds deletions)")

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str) -> str:
        from hub.cron import cron_trigger

        cron_trigger(value)
        return value

    @model_validator(mode="after")
    def _sync_names_a_source(self) -> JobSettings:
        if self.action == "sync" and not self.source:
            raise ValueError('a sync job needs a source (a source name, or "all")')
        return self


class BlackoutSettings(Strict):
    """A yearly window (MM-DD to MM-DD, inclusive) when matching jobs do not run, unless lifted."""

    name: str
    start: str = Field(pattern=r"^\d\d-\d\d$")
    end: str = Field(pattern=r"^\d\d-\d\d$")
    jobs: list[str] = ["*"]


class PluginsSettings(BaseModel):
    """``enabled`` lists plugin names; every other key is a plugin's own section."""

    model_config = ConfigDict(extra="allow")
    enabled: list[str] = []

    def section(self, name: str) -> dict:
        return dict((self.model_extra or {}).get(name) or {})


class SamlIdpSettings(Strict):
    """One upstream SAML IdP (EduConnect, the académie agents' IdP…), known by its metadata."""

    label: str = Field("", description="shown on the discovery page")
    metadata_file: str | None = None
    metadata_url: str | None = None
    metadata_cert_file: str | None = Field(None, description="when set, the metadata must be signed by this cert")
    metadata_refresh_seconds: int = Field(24 * 3600, ge=1, description="metadata older than this is read again")
    entity_id: str | None = Field(None, description="which IdP of the metadata (default: the only one)")
    plugin: str | None = Field(None, description="the plugin that knows this IdP (its attribute names, how to "
                               "link its accounts), e.g. educonnect; none: the generic rules below")
    profiles: list[str] = Field([], description="person kinds sent to this IdP by the discovery page: eleve, "
                                "parent, enseignant, personnel")
    uais: list[str] = Field([], description="establishments whose users go straight to this IdP")
    jointure_attribute: str = Field("ENTPersonJointure", description="generic IdPs: the attribute holding the "
                                    "person's jointure (staff are linked by it)")
    sign_requests: bool = True

    @model_validator(mode="after")
    def _one_metadata(self) -> SamlIdpSettings:
        if bool(self.metadata_file) == bool(self.metadata_url):
            raise ValueError("set one of metadata_file and metadata_url")
        return self


class SsoClientSettings(Strict):
    """An application trusting the hub (OIDC relying party or CAS service) and what it may see."""

    protocol: str = Field("oidc", pattern="^(oidc|cas)$")
    redirect_uris: list[str] = Field([], description="OIDC: compared exactly")
    post_logout_redirect_uris: list[str] = []
    public: bool = Field(False, description="OIDC: no secret; PKCE S256 is then required")
    secret: SecretStr | None = Field(None, description="OIDC confidential clients: "
                                     "HUB_SSO__CLIENTS__<NAME>__SECRET, never in the file")
    services: list[str] = Field([], description="CAS: allowed service URLs, exact, or a regex anchored with ^…$")
    claims: list[str] = Field([], description="what the client receives beside sub: given_name, family_name, "
                              "email, birthdate, profile, uai, uais, classes, ine, jointure, functions")
    cas_user: str = Field("sub", description="CAS: the claim given as cas:user")
    idp: str | None = Field(None, description="send this client's users straight to this IdP")
    frontchannel_logout_uri: str | None = Field(None, description="OIDC Front-Channel Logout 1.0: loaded in an "
                                                "iframe (with iss and sid) when the user logs out at the hub")
    backchannel_logout_uri: str | None = Field(None, description="OIDC Back-Channel Logout 1.0: a signed "
                                               "logout_token is POSTed here when the user logs out at the hub")


class SsoSettings(Strict):
    """The SSO broker (hub/sso): SAML SP upstream, OIDC provider and CAS server downstream."""

    enabled: bool = False
    base_url: str = Field("http://127.0.0.1:8000", description="the hub's public URL: issuer, ACS, CAS prefix")
    sp_cert_file: str | None = Field(None, description="the SP's signing certificate (PEM)")
    sp_private_key: SecretStr | None = Field(None, description="HUB_SSO__SP_PRIVATE_KEY_FILE=/path/key.pem")
    oidc_signing_keys: SecretStr | None = Field(None, description="PEM RSA keys, oldest first, the last signs; "
                                                "HUB_SSO__OIDC_SIGNING_KEYS_FILE")
    pairwise_salt: SecretStr | None = Field(None, description="makes each client's sub its own: "
                                            "HUB_SSO__PAIRWISE_SALT")
    redis_url: str | None = Field(None, description="sessions, tickets and the replay cache in Redis (shared by "
                                  "every worker); default: the database")
    redis_prefix: str = "hub:sso:"
    session_lifetime_seconds: int = Field(8 * 3600, ge=1, description="a session ends this long after the login")
    session_idle_seconds: int = Field(3600, ge=1, description="…or this long after its last request")
    clock_skew_seconds: int = Field(60, ge=0, le=600)
    request_lifetime_seconds: int = Field(600, ge=30, description="how long an AuthnRequest waits for its answer")
    code_lifetime_seconds: int = Field(60, ge=5)
    access_token_seconds: int = Field(3600, ge=60)
    refresh_token_days: int = Field(30, ge=1)
    cas_ticket_seconds: int = Field(10, ge=1, le=300)
    idps: dict[str, SamlIdpSettings] = {}
    clients: dict[str, SsoClientSettings] = {}


class HelpdeskRule(Strict):
    """One routing rule (seed 001): the incidents it takes, and the destination they go to. Rules are tried in
    order and the first match wins; a condition left out matches anything (`hub.helpdesk.routing`)."""

    name: str = Field(min_length=1)
    destination: str = Field(description="a name under [helpdesk.destinations]")
    domain: list[str] = Field([], description="ZP, ZA, bati, ent, metier, hub")
    reporter: list[Literal["staff", "operator", "hub"]] = []
    za_taken_over: bool | None = Field(None, description="the collège's ZA is taken over by the département "
                                       "(from `hub establishments import-zones`)")
    cite_mixte: bool | None = None
    territorial_unit: list[str] = Field([], description="UT1 … UT4")
    kind: list[EstablishmentKind] = []
    uai: list[str] = []
    fields: dict[str, int | str] = Field({}, description="ticket fields this rule sets, over the destination's "
                                         "(e.g. a GLPI itilcategories_id or _groups_id_assign)")

    @field_validator("domain")
    @classmethod
    def _known_domains(cls, value: list[str]) -> list[str]:
        from hub.helpdesk.routing import normalize_domain

        return [normalize_domain(v) for v in value]

    @field_validator("territorial_unit")
    @classmethod
    def _unit_names(cls, value: list[str]) -> list[str]:
        return [v.replace(" ", "").upper() for v in value]


class HelpdeskDestination(BaseModel):
    """A helpdesk plugin instance (the département's GLPI, the rectorat's PASS…); its other keys are the
    plugin's, validated by it when the helpdesk starts (secrets: HUB_HELPDESK__DESTINATIONS__<NAME>__<KEY>)."""

    model_config = ConfigDict(extra="allow")
    plugin: str
    label: str = ""


class HelpdeskSettings(Strict):
    """Tickets: where each incident goes (rules), the helpdesks (destinations), how requests are retried."""

    destinations: dict[str, HelpdeskDestination] = {}
    rules: list[HelpdeskRule] = []
    retry_seconds: float = Field(60, ge=0, description="first wait before a ticket request is sent again")
    retry_max_seconds: float = Field(3600, ge=0, description="longest wait: requests are retried forever")
    dead_letters: int = Field(1, ge=1, description="a target with this many dead letters gets a ticket")

    @model_validator(mode="after")
    def _rules_can_run(self) -> HelpdeskSettings:
        from hub.helpdesk.routing import check_rules

        if problems := check_rules(self.rules, set(self.destinations)):
            raise ValueError("; ".join(problems))
        return self


CONSOLE_ROLES = ("viewer", "operator", "admin")  # of console accounts, here so `hub admin` need not import hub.web


class ConsoleSettings(Strict):
    """The admin console and its JSON API (hub/web), served by `hub serve`."""

    secret_key: SecretStr | None = Field(None, description="signs the console's session cookie: "
                                         "HUB_CONSOLE__SECRET_KEY(_FILE); without it nobody can log in")
    bind: str = Field("127.0.0.1:8000", description="hub serve: the address:port gunicorn listens on")
    workers: int = Field(2, ge=1)
    timeout_seconds: int = Field(900, ge=30, description="a request may take this long (an approved sync run, "
                                 "a job run now)")
    secure_cookies: bool = Field(True, description="send the session cookie over HTTPS only (false only on "
                                 "127.0.0.1 without TLS)")
    trusted_proxies: int = Field(0, ge=0, description="reverse proxies in front: their X-Forwarded-For gives the "
                                 "address the audit log records")
    session_hours: int = Field(8, ge=1, le=72)
    max_failed_logins: int = Field(5, ge=1, description="an account is locked for lockout_minutes after this many "
                                   "failed logins in a row")
    lockout_minutes: int = Field(15, ge=1)
    indicator_weeks: int = Field(12, ge=1, le=104, description="weeks of connection rates the indicators show")
    indicator_cache_minutes: int = Field(10, ge=0, description="indicators are computed at most this often "
                                         "(0: on every view)")
    totp_key: SecretStr | None = Field(None, description="encrypts the accounts' TOTP secrets at rest: "
                                       "HUB_CONSOLE__TOTP_KEY(_FILE), a Fernet key (`hub admin totp-key` makes one)")


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    database_url: SecretStr = SecretStr("sqlite:///var/hub.db")
    timezone: str = "Europe/Paris"  # cron schedules and blackout dates are read in this zone
    lock_ttl_seconds: int = Field(4 * 3600, ge=1)
    plugins: PluginsSettings = PluginsSettings()
    sync: SyncSettings = SyncSettings()
    continuity: ContinuitySettings = ContinuitySettings()
    delivery: DeliverySettings = DeliverySettings()
    retention: RetentionSettings = RetentionSettings()
    jobs: list[JobSettings] = []
    blackouts: list[BlackoutSettings] = []
    helpdesk: HelpdeskSettings = HelpdeskSettings()
    sso: SsoSettings = SsoSettings()
    console: ConsoleSettings = ConsoleSettings()

    _config_file: Path | None = None
    _file_data: dict = {}

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, _without_file_pointers(env_settings), SecretFileSource(settings_cls), \
            FileDataSource(settings_cls)

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from, if any."""
        return self._config_file

    @property
    def file_data(self) -> dict:
        """The raw content of that file, to tell file values from environment values."""
        return self._file_data


class SecretFileSource(PydanticBaseSettingsSource):
    """``HUB_A__B_FILE=/run/secrets/x`` sets ``a.b`` to the file's content (Docker/Kubernetes secrets)."""

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the base class
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, path in os.environ.items():
            if not (name.startswith(ENV_PREFIX) and name.endswith("_FILE")):
                continue
            keys = name[len(ENV_PREFIX):-len("_FILE")].lower().split("__")
            try:
                content = Path(path).read_text().strip()
            except OSError as exc:
                raise SettingsError(f"setting {'.'.join(keys)}: cannot read {name}={path}: {exc.strerror}") from exc
            node = values
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = content
        return values


def _without_file_pointers(env_settings):
    """The environment source, minus the ``*_FILE`` variables that SecretFileSource reads."""

    def strip(values: dict) -> dict:
        return {k: strip(v) if isinstance(v, dict) else v for k, v in values.items() if not k.endswith("_file")}

    return lambda: strip(env_settings())


class FileDataSource(PydanticBaseSettingsSource):
    def get_field_value(self, field, field_name):  # pragma: no cover - required by the base class
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _file_data.get() or {}


def config_path(explicit: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The settings file to read, and whether someone asked for it (then it must exist)."""
    if explicit:
        return Path(explicit), True
    if os.environ.get("HUB_CONFIG"):
        return Path(os.environ["HUB_CONFIG"]), True
    return DEFAULT_CONFIG, False


def load_settings(path: str | os.PathLike | None = None, *, require_file: bool = False) -> HubSettings:
    """Read and validate the settings, or raise SettingsError naming the key, the file and the reason.

    ``require_file``: without a settings file, say which one was looked for rather than
    run on defaults (the command line: a hub started in the wrong folder would otherwise
    create a fresh database there).
    """
    file, required = config_path(path)
    data: dict = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise SettingsError(f"settings file {file}: cannot read it: {exc.strerror}") from exc
    elif required:
        raise SettingsError(f"settings file {file} does not exist")
    elif require_file:
        raise SettingsError(f"no settings file: looked for {file.absolute()}; run the hub from its folder, "
                            "or pass --config FILE (or set HUB_CONFIG)")
    token = _file_data.set(data)
    try:
        settings = HubSettings()
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, data, file)) from None
    finally:
        _file_data.reset(token)
    settings._config_file = file if file.exists() else None
    settings._file_data = data
    if "database_url" in data and _has_password(data["database_url"]):
        raise SettingsError(f"setting database_url in {file}: a URL with a password is a secret; "
                            "set HUB_DATABASE_URL or HUB_DATABASE_URL_FILE instead")
    return settings


def describe_errors(exc: ValidationError, file_data: dict, file: Path, prefix: tuple = ()) -> str:
    """One line per invalid key: where it came from and why it is refused."""
    lines = []
    for error in exc.errors():
        loc = prefix + tuple(error["loc"])
        key = ".".join(str(p) for p in loc)
        env = f"{ENV_PREFIX}{'__'.join(map(str, loc)).upper()}"
        if _lookup(file_data, loc):
            origin = f"in {file}"
        elif any(name == env or name.startswith(env + "__") for name in os.environ):
            origin = f"from {env}"
        else:
            origin = f"not set in {file} nor by {env}"
        reason = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"setting {key} ({origin}): {reason}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def refuse_secrets_in_file(model: type[BaseModel], file_data: dict, loc: tuple, file: Path | None) -> None:
    """Secrets belong to the environment: a SecretStr field set in the file is an error."""
    for name, info in model.model_fields.items():
        if info.annotation in (SecretStr, SecretStr | None) and _lookup(file_data, loc + (name,)):
            env = ENV_PREFIX + "__".join(loc + (name,)).upper()
            raise SettingsError(f"setting {'.'.join(loc + (name,))} in {file}: secrets are not read from the file; "
                                f"set {env} or {env}_FILE instead")


def _lookup(data: dict, loc: tuple) -> bool:
    node: Any = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and part < len(node)):
            node = node[part]
        else:
            return False
    return True


def _has_password(url: str) -> bool:
    """Database URLs are URLs (``postgresql+psycopg://user:secret@host/db``): no need to load SQLAlchemy here."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False
