"""AAF source: the académie directory export (Complet and Delta XML files).

Reading lives in `plugins.aaf.reader`, writing the demo in `plugins.aaf.writer`;
this module only binds them to the hooks and declares the settings. It imports them
when a hook runs: every `hub` command loads this module, most never read AAF files.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import field_validator

from hub.hookspecs import hookimpl
from hub.sdet import current_school_year
from hub.settings import Strict
from plugins.aaf import DEFAULT_ENCODING


class Settings(Strict):
    """``[plugins.aaf]``: where the AAF drops its files and how to read them."""

    path: Path
    mode: Literal["auto", "complet", "delta"] = "auto"  # auto: a Complet set if present, else the Deltas
    school_year: int | None = None  # the enrollments' year; None: the current school year
    encoding: str = DEFAULT_ENCODING  # for the files hub_write_demo writes; reading obeys each file
    second_process: bool | None = None  # parse in child processes; None: when the files weigh 16 MB or more

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


@hookimpl
def hub_read_directory(settings: Settings, since: str | None, uai: str | None):
    """Stream the AAF files of ``settings.path``; ``uai`` is left to the core's filter."""
    from plugins.aaf import reader

    return reader.read_feed(
        settings.path,
        mode=settings.mode,
        since=since,
        school_year=settings.school_year or current_school_year(),
        second_process=settings.second_process,
    )


@hookimpl
def hub_write_demo(settings: Settings | None, academie, directory: Path | None) -> list[Path]:
    """Write the académie as an AAF Complet set in ``directory`` (default: the configured path)."""
    from plugins.aaf import writer

    target = Path(directory) if directory is not None else settings.path
    encoding = settings.encoding if settings is not None else DEFAULT_ENCODING
    return writer.write_academie(academie, target, encoding=encoding)
