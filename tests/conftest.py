"""Fixtures shared by every test folder: running the ``scorelens`` command in-process."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


#: Settings that keep a whole run to seconds: MIR only, tiny networks, few permutation runs.
FAST = {"run.kinds": ["mir"], "model.epochs": 3, "model.hidden": 8, "model.hidden_sizes": [8],
        "model.poolings": ["average", "attention"],
        "model.base_classifiers": ["knn"], "importance.runs": 3, "importance.hidden": 8,
        "crossmodal.model": "attention"}


@pytest.fixture(autouse=True)
def _library_cache(tmp_path_factory, monkeypatch):
    """Whole-index stamping outside a workspace caches its library index under XDG_CACHE_HOME:
    keep it in the test's temporary folders, not the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def fast_settings():
    """:data:`FAST` as ``{"section.name": value}`` overrides."""
    return dict(FAST)


@pytest.fixture
def default_kinds_settings():
    """:data:`FAST` with the product's default feature kinds (mir and musicnn) as overrides."""
    return {**FAST, "run.kinds": ["mir", "musicnn"]}


@pytest.fixture
def fast_sets():
    """:data:`FAST` as ``--set SECTION.NAME=VALUE`` options of ``scorelens run`` / ``demo``."""
    return [f"--set={k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in FAST.items()]


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


# --- a private PostgreSQL server (the fingerprint store's tests, the distributed run) -------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A private PostgreSQL server on a free loopback port, for the session."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed; run scripts/setup.sh")
    # Not under pytest's tmp folder: as root, the server runs as the postgres user, who cannot
    # enter pytest's private folders.
    root = Path(tempfile.mkdtemp(prefix="scorelens-pg-"))
    data = root / "data"
    port = _free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use its own system user
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run(prefix + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = data.parent / "server.log"
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-o",
                             f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield url
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_postgres(postgres_url):
    """An empty database on the session's server, dropped afterwards."""
    import psycopg

    name = f"t{time.time_ns()}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
