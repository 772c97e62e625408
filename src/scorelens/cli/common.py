"""Shared pieces of the CLI: console, progress display, logging set-up, options used by several commands."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from scorelens.config import ModelConfig

__all__ = ["console", "err_console", "progress", "stage_progress", "setup_logging", "state", "DEFAULT_WORKSPACE",
           "WorkspaceOpt", "ManifestOpt", "OptionalManifestOpt", "DbOpt", "KeepGoingOpt", "ForceOpt", "FilmOpt",
           "Level", "LevelOpt", "SeedOpt", "EpochsOpt", "LrOpt", "BatchOpt", "Precision", "PrecisionOpt",
           "ImvBinaryOpt", "MaxInstOpt", "model_config", "print_failures"]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # messages stay one line, whatever the width

DEFAULT_WORKSPACE = Path("scorelens-work")
_STUDY = ModelConfig()


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
    # Dask's own chatter (cluster start and stop) only with -vv.
    logging.getLogger("distributed").setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)


@contextlib.contextmanager
def progress() -> Iterator[Progress]:
    """A rich progress display on stderr (hidden with --quiet)."""
    bar = Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=err_console, disable=state.quiet, transient=False)
    with bar:
        yield bar


def stage_progress(bar: Progress) -> Callable:
    """The stages' progress hook (``progress(description, total) -> advance``) on a rich display."""
    def make(description: str, total=None):
        task = bar.add_task(description, total=total)

        def advance(n=1, item=None):
            bar.update(task, advance=n, description=f"{description} · {item}" if item else description)
        return advance
    return make


def print_failures(failed: dict[str, str]) -> None:
    """One line per failed film on stderr."""
    for film_id, message in failed.items():
        err_console.print(f"[red]failed:[/] {film_id}: {message}", highlight=False, soft_wrap=True)


# --- options shared by several commands -------------------------------------------------------

WorkspaceOpt = Annotated[Path, typer.Option("--workspace", "-w", help="Output folder shared by all stages.",
                                            file_okay=False)]
ManifestOpt = Annotated[Path, typer.Option("--manifest", "-m", help="Corpus manifest (TOML or CSV): the films, "
                                           "their files and genre labels.", dir_okay=False, exists=True)]
OptionalManifestOpt = Annotated[Optional[Path], typer.Option(
    "--manifest", "-m", help="Corpus manifest (TOML or CSV): which films, and where their files are.",
    dir_okay=False, exists=True)]
DbOpt = Annotated[Optional[str], typer.Option("--db", help="Fingerprint database: a SQLite file, or a "
                                              "postgresql://user@host/db URL. Default: WORKSPACE/fingerprints.sqlite.")]
KeepGoingOpt = Annotated[bool, typer.Option("--keep-going", help="Go on past failing films; report them all at the "
                                            "end (non-zero exit).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Recompute even what the workspace already holds.")]
FilmOpt = Annotated[Optional[list[str]], typer.Option("--film", help="Only these film ids (repeatable).")]


class Level(str, Enum):
    cue = "cue"
    frame = "frame"


LevelOpt = Annotated[Level, typer.Option("--level", help="Instances: cues (mean of their frames, the study's "
                                         "better representation) or frames.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random choice; same seed, same numbers.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", help=f"Network training epochs (study: {_STUDY.epochs}).", min=1)]
LrOpt = Annotated[float, typer.Option("--learning-rate", help=f"Adam's step size (study: {_STUDY.learning_rate:g}).",
                                      min=0.0)]
BatchOpt = Annotated[int, typer.Option("--batch-size", help=f"Films per mini-batch (study: {_STUDY.batch_size}).",
                                       min=1)]


class Precision(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"


PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Network arithmetic: bfloat16 mixed precision "
                                                 "(several times faster on CPUs with AMX), float32, or auto (bfloat16 "
                                                 "where the CPU has native bfloat16 products).")]
ImvBinaryOpt = Annotated[bool, typer.Option(
    "--imv-binary-relevance/--imv-multi-output", help="Instance majority voting with a random forest: one binary "
    "forest per genre, as the study decomposes it (default), or one multi-output forest (about 5x faster, "
    "slightly lower F1).")]
MaxInstOpt = Annotated[int, typer.Option("--max-instances", help="Frame level: at most this many evenly spaced "
                                         "frames per film (0: all).", min=0)]


def model_config(**options) -> ModelConfig:
    """A :class:`ModelConfig` from command-line options (``None`` keeps the study's default).

    ``imv_binary_relevance`` maps to ``imv_multi_output``; enum values are unwrapped.
    """
    if "imv_binary_relevance" in options:
        flag = options.pop("imv_binary_relevance")
        options["imv_multi_output"] = None if flag is None else not flag
    kwargs = {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items() if v is not None}
    return ModelConfig(**kwargs)
