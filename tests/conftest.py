"""Fixtures shared by every test folder: running the ``scorelens`` command in-process."""

import sys

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def cli():
    """``cli(*args)``: run a command through typer's CliRunner; anything but SystemExit is re-raised."""
    from scorelens.cli.main import _register, app

    _register()

    def invoke(*args):
        result = CliRunner().invoke(app, list(map(str, args)))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """``run_cli(*args) -> (exit code, stderr)`` through the console-script entry (one-line errors, exit codes)."""
    from scorelens.cli.main import run

    def run_(*args):
        monkeypatch.setattr(sys, "argv", ["scorelens", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            run()
        return exit_info.value.code, capsys.readouterr().err

    return run_
