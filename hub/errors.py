"""Error types. The CLI prints them without a traceback; logs keep the detail."""

import re

# scheme://user:password@host → scheme://user:***@host, wherever a URL is printed or stored
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]+)@")


def redact(text: str) -> str:
    """The text with the password of every URL in it replaced by ***."""
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def database_cause(exc: Exception) -> str:
    """"database error: " and the first line of the database's own message (the next ones may quote a row:
    a pupil's data, which the journal does not keep), without credentials."""
    return f"database error: {redact(str(getattr(exc, 'orig', None) or exc)).splitlines()[0]}"


class HubError(Exception):
    """Base of every error the hub expects and explains."""


class SettingsError(HubError):
    """A setting is missing, unknown or invalid; raised at start, before any work."""


class PluginError(HubError):
    """A plugin is unknown, broken, or its settings section is invalid."""


class RecordError(HubError):
    """One record is unusable; the run journals it, skips it and goes on."""

    def __init__(self, record: str, reason: str):
        super().__init__(f"{record}: {reason}" if record else reason)
        self.record = record
        self.reason = reason


class SourceError(HubError):
    """A source cannot be read as a whole (malformed file, lost connection): nothing is applied."""


class LockedError(HubError):
    """Another process holds the lock of this job."""


class DeliveryError(HubError):
    """A target could not take a change. Retryable errors are tried again with backoff."""

    def __init__(self, reason: str, *, retryable: bool = True):
        super().__init__(reason)
        self.retryable = retryable
