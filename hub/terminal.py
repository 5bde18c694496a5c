"""What the command line prints with, made on first use: importing rich costs every command,
``hub --help`` included, about 35 ms."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


class LazyConsole:
    """A rich ``Console`` that is created when something is first printed."""

    def __init__(self, stderr: bool = False):
        self._stderr = stderr

    @cached_property
    def rich(self) -> Console:
        from rich.console import Console

        return Console(stderr=self._stderr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich, name)


def new_table(*columns: str, **options: Any) -> Table:
    from rich.table import Table

    return Table(*columns, **options)


def escape(text: str) -> str:
    """Text shown as it is, not read as rich markup."""
    from rich.markup import escape

    return escape(text)


console = LazyConsole()
errors = LazyConsole(stderr=True)
