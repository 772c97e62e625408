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

from scorelens.config import ModelConfig, StudyConfig

__all__ = ["console", "err_console", "progress", "stage_progress", "setup_logging", "state", "DEFAULT_WORKSPACE",
           "WorkspaceOpt", "ManifestOpt", "OptionalManifestOpt", "DbOpt", "KeepGoingOpt", "ForceOpt", "FilmOpt",
           "Level", "LevelOpt", "SeedOpt", "EpochsOpt", "LrOpt", "BatchOpt", "Precision", "PrecisionOpt", "DeviceOpt",
           "ImvBinaryOpt", "MaxInstOpt", "model_config", "print_failures", "ConfigOpt", "SetOpt", "RetryOpt",
           "study_settings", "print_stage"]

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # messages stay one line, whatever the width

DEFAULT_WORKSPACE = Path("scorelens-work")


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
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Seed of every random choice; same seed, same "
                                                "numbers (model.seed).")]
EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Network training epochs (model.epochs).", min=1)]
LrOpt = Annotated[Optional[float], typer.Option("--learning-rate", help="Adam's step size (model.learning_rate).",
                                                min=0.0)]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", help="Films per mini-batch (model.batch_size).",
                                                 min=1)]


class Precision(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"


PrecisionOpt = Annotated[Optional[Precision], typer.Option("--precision", help="Network arithmetic: bfloat16 mixed "
                                                           "precision, float32, or auto: bfloat16 only on a CPU with "
                                                           "native bfloat16 products where a timing at the networks' "
                                                           "shapes finds it faster (model.precision).")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="Where the networks train and predict: cpu, "
                                                 "cuda, cuda:N, or auto: a CUDA GPU when PyTorch sees one "
                                                 "(model.device).")]
ImvBinaryOpt = Annotated[Optional[bool], typer.Option(
    "--imv-binary-relevance/--imv-multi-output", help="Instance majority voting with a random forest: one binary "
    "forest per genre, as the study decomposes it, or one multi-output forest (faster, slightly lower F1) "
    "(model.imv_multi_output).", show_default=False)]
MaxInstOpt = Annotated[Optional[int], typer.Option("--max-instances", help="Frame level: at most this many evenly "
                                                   "spaced frames per film, 0 for all (model.max_instances).", min=0)]


ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="A TOML file of settings (same keys as the "
                                                   "manifest's \\[settings] table; overrides it).", dir_okay=False,
                                                   exists=True)]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="One setting, SECTION.NAME=VALUE (repeatable; "
                                                     "overrides the manifest and --config), e.g. --set model.epochs=50 "
                                                     "--set mir.texture_window_s=4.")]
RetryOpt = Annotated[bool, typer.Option("--retry-failed", help="Try again the films that failed before on the same "
                                        "files and settings (otherwise their recorded failure stands).")]


def study_settings(manifest: Path | None = None, config_file: Path | None = None, sets: list[str] | None = None,
                   **flags) -> StudyConfig:
    """Every setting of a command, as ``scorelens run`` resolves them.

    In rising priority: the study's defaults, the manifest's ``[settings]``, ``--config``,
    ``--set``, then the command's own flags (sugar for settings keys).

    Parameters
    ----------
    manifest : path, optional
    config_file : path, optional
    sets : list of str, optional
        ``SECTION.NAME=VALUE`` items.
    **flags
        ``section__name=value``; None (a flag not given) is left out.

    Returns
    -------
    StudyConfig
    """
    from scorelens.config import parse_assignments
    from scorelens.stages._run import resolve_settings

    overrides = parse_assignments(sets)
    overrides.update({k.replace("__", ".", 1): (v.value if isinstance(v, Enum) else v)
                      for k, v in flags.items() if v is not None})
    return resolve_settings(manifest, config_file, overrides)


def model_config(**options) -> ModelConfig:
    """A :class:`ModelConfig` from command-line options (``None`` keeps the study's default).

    ``imv_binary_relevance`` maps to ``imv_multi_output``; enum values are unwrapped.
    """
    if "imv_binary_relevance" in options:
        flag = options.pop("imv_binary_relevance")
        options["imv_multi_output"] = None if flag is None else not flag
    kwargs = {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items() if v is not None}
    return ModelConfig(**kwargs)


def print_stage(report) -> None:
    """A stage's warnings and failures on stderr, one line each."""
    for w in report.warnings:
        subject = w.get("film") or w.get("track") or w.get("kind") or w.get("figure") or ""
        err_console.print(f"[yellow]warning:[/] {subject}: {w['reason']}", highlight=False, soft_wrap=True)
    for f in report.failures:
        subject = f.get("film") or f.get("kind") or ""
        kind = f" ({f['kind']})" if "film" in f and "kind" in f else ""
        again = " (as in the last run; --retry-failed tries again)" if f.get("recorded") else ""
        err_console.print(f"[red]failed:[/] {subject}{kind}: {f['reason']}{again}", highlight=False, soft_wrap=True)
