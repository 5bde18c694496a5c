"""ONDE source: the 1st-degree pupil base's CSV exports, a folder per école or a file per école or circonscription.

Reading lives in `plugins.onde.reader` (whose docstring describes the accepted
export), writing the demo in `plugins.onde.writer`; this module only binds them
to the hooks and declares the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from hub.hookspecs import hookimpl
from hub.sdet import current_school_year
from hub.settings import Strict
from plugins.onde import columns, reader, writer


class Settings(Strict):
    """``[plugins.onde]``: where the ONDE exports are dropped and how to read them."""

    path: Path = Field(
        description="folder of ONDE exports: a sub-folder per école named by its UAI (its CSVExtraction-*.csv), "
        "and/or single *.csv files with INE and UAI columns; see plugins.onde.reader"
    )
    school_year: int | None = Field(None, description="the enrollments' year; None: the current school year")
    delimiter: str = Field(";", min_length=1, max_length=1)
    column_names: dict[str, str] = Field(
        default_factory=dict,
        description='field -> header as a local export spells it, e.g. {ine = "Identifiant élève"}; '
        "fields: see plugins.onde.reader",
    )
    demo_layout: Literal["extraction", "ecole", "circonscription"] = Field(
        writer.DEFAULT_LAYOUT,
        description="what hub_write_demo writes: extraction (a folder per école, its three files, no INE), "
        "ecole (one file per école, with INE) or circonscription (one file per collège's écoles, with INE)",
    )

    @field_validator("column_names")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return columns.check_column_names(value)


@hookimpl
def hub_read_directory(settings: Settings, since: str | None, uai: str | None):
    """Stream the ONDE files of ``settings.path`` as a complete snapshot; ``uai`` is left to the core's filter."""
    return reader.read_feed(
        settings.path,
        school_year=settings.school_year or current_school_year(),
        delimiter=settings.delimiter,
        column_names=settings.column_names,
    )


@hookimpl
def hub_write_demo(settings: Settings | None, academie, directory: Path | None) -> list[Path]:
    """Write the académie's écoles as ONDE exports in ``directory`` (default: the configured path)."""
    target = Path(directory) if directory is not None else settings.path
    layout = settings.demo_layout if settings is not None else writer.DEFAULT_LAYOUT
    return writer.write_academie(academie, target, layout=layout)
