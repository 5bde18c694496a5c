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
from typing import Any

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


class RetentionSettings(Strict):
    journal_days: int = Field(400, ge=1, description="runs and their events older than this are purged")
    delivered_days: int = Field(30, ge=1, description="delivered outbox rows older than this are purged")


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
        from hub.scheduler import cron_trigger

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
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password is not None
    except Exception:
        return False
