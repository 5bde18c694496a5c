"""A plugin whose only hook is a health check: ok while its folder exists (the console tests enable it)."""

from __future__ import annotations

from pathlib import Path

from hub.hookspecs import hookimpl
from hub.settings import Strict


class Settings(Strict):
    folder: Path


@hookimpl
def hub_health_check(settings: Settings):
    if not settings.folder.is_dir():
        raise OSError(f"{settings.folder} is not a folder")
    return True, f"{settings.folder} is there"
