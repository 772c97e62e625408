"""Entry point of the ``scorelens`` command: global options and the one place errors are caught."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from scorelens._version import __version__
from scorelens.cli.common import err_console, setup_logging
from scorelens.exceptions import ScorelensError

app = typer.Typer(
    name="scorelens",
    help="Find where a film's soundtrack plays in the film, describe that music, and predict the "
         "film's genre from it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"scorelens {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors; no progress bars.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="More detail on stderr (-vv for debugging).")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """scorelens: film music, found, described and related to genre."""
    setup_logging(quiet, verbose)


def _register() -> None:
    # Command groups, in pipeline order. Each module adds its commands to ``app``.
    from scorelens.cli import demo, features, importance, models, predict, profile, report, run, stamp, summary  # noqa: F401


#: The global options, accepted after the command name too (moved before it).
_GLOBAL_FLAGS = {"-q", "--quiet", "-v", "-vv", "-vvv", "--verbose"}


def _global_flags_first(args: list[str]) -> list[str]:
    """``scorelens stamp … -q`` as ``scorelens -q stamp …``: -q/-v work on either side of the command."""
    if "--" in args:
        cut = args.index("--")
        head, tail = args[:cut], args[cut:]
    else:
        head, tail = args, []
    flags = [a for a in head if a in _GLOBAL_FLAGS]
    return flags + [a for a in head if a not in _GLOBAL_FLAGS] + tail


def run() -> None:
    """Console-script entry: run the app; a ScorelensError becomes one line on stderr and exit 1."""
    import signal

    # SIGTERM (a scheduler's or a user's `kill`) ends the command through Python's own exit, as Ctrl-C
    # does, so that every `finally` runs: a local Dask cluster is closed (its workers' semaphores
    # released, no "leaked semaphore objects" warning) and the run's record is written.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    _register()
    try:
        # With standalone_mode=False click returns a command's typer.Exit code instead of exiting.
        code = app(args=_global_flags_first(sys.argv[1:]), prog_name="scorelens", standalone_mode=False)
    except ScorelensError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option values, missing files named on the line
        if hasattr(exc, "show"):
            exc.show()
        else:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
