"""Tables on stdout that read well anywhere: a terminal's width on a terminal; elsewhere (a file,
a pipe, a CI log) the full width of their content, so that no name is cut."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

_UNBOUNDED = 100_000  # columns: wide enough for any table's natural width


def print_table(table: Table, *lines: str) -> None:
    """Print ``table`` on stdout, then each of ``lines`` as plain text (no markup). Off a
    terminal rich would wrap and cut to 80 columns; the table gets its natural width instead."""
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        natural = Console(width=_UNBOUNDED).measure(table).maximum
        console = Console(soft_wrap=False, width=max(natural, 40))
    console.print(table)
    for line in lines:
        console.print(line, markup=False, highlight=False)
