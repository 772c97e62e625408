"""Shared pieces of the CLI: console, progress bars, logging set-up."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

__all__ = ["console", "err_console", "progress", "setup_logging", "state"]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # messages stay one line, whatever the width


class _State:
    quiet: bool = False
    verbose: int = 0


state = _State()


def setup_logging(quiet: bool, verbose: int) -> None:
    """Route scorelens' logging to stderr through rich, at a level set by -q / -v."""
    state.quiet, state.verbose = quiet, verbose
    level = logging.ERROR if quiet else (logging.DEBUG if verbose >= 2 else
                                         logging.INFO if verbose == 1 else logging.WARNING)
    logging.basicConfig(level=level, format="%(message)s", force=True,
                        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)])
    logging.captureWarnings(True)


@contextlib.contextmanager
def progress() -> Iterator[Progress]:
    """A rich progress display on stderr (hidden with --quiet)."""
    bar = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=err_console, disable=state.quiet, transient=False)
    with bar:
        yield bar
