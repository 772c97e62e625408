"""Fixtures of the Score Stamper tests: a soundtrack and a film with known cues, real files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorelens.config import StamperConfig
from scorelens.demo import synth
from scorelens.demo.films import CueSpec, FilmSpec, render_film_audio
from scorelens.demo.media import write_audio, write_film

TRACK_SR = 44100
FILM_SR = 48000


@pytest.fixture(scope="session")
def config() -> StamperConfig:
    return StamperConfig()


@pytest.fixture(scope="session")
def speech():
    return synth.speech_pool(FILM_SR, n=6, seed=1)


@pytest.fixture(scope="session")
def soundtrack(tmp_path_factory) -> dict:
    """Three tracks in three formats: titles -> (path, samples at 44.1 kHz)."""
    folder = tmp_path_factory.mktemp("soundtrack")
    out = {}
    for k, (style, ext) in enumerate([("action", "mp3"), ("romance", "flac"), ("scifi", "wav")]):
        title = f"track{k + 1}_{style}"
        samples = synth.synth_track(style, duration_s=30.0, sr=TRACK_SR, seed=100 + k)
        out[title] = (write_audio(folder / f"{title}.{ext}", samples, TRACK_SR, bitrate=160_000), samples)
    return out


@pytest.fixture(scope="session")
def film(tmp_path_factory, soundtrack, speech) -> tuple[Path, pd.DataFrame]:
    """A 100 s MP4 (H.264 + AAC 128 kbps, 5.1, 48 kHz) with four known cues under dialogue and effects.

    track1 is used twice (two cues), one cue is 10 dB under the rest, and music that is not
    on the soundtrack plays at 50-60 s.
    """
    tracks = {title: samples for title, (_, samples) in soundtrack.items()}
    cues = [CueSpec("track1_action", 4.0, 6.5, 14.0, 0.0), CueSpec("track2_romance", 24.0, 2.0, 18.0, -10.0),
            CueSpec("track3_scifi", 64.0, 11.0, 12.0, -5.0), CueSpec("track1_action", 81.0, 0.0, 15.0, 0.0)]
    spec = FilmSpec(duration_s=100.0, cues=cues, foreign_music=[(48.0, 11.0, "comedy", 999)], seed=5)
    audio, truth = render_film_audio(spec, tracks, track_sr=TRACK_SR, film_sr=FILM_SR, channels=6, speech=speech)
    path = write_film(tmp_path_factory.mktemp("film") / "film.mp4", audio, FILM_SR, audio_codec="aac",
                      audio_bitrate=128_000)
    truth.insert(0, "film_id", "film")
    return path, truth


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


def _seconds_agreement(truth: pd.DataFrame, cues: pd.DataFrame) -> tuple[float, float]:
    """(precision, recall) of (second, track) pairs, computed independently of scorelens.stamp.evaluate."""
    def pairs(df):
        out = set()
        for r in df.itertuples():
            # second s counts when its midpoint s + 0.5 lies inside the cue
            out |= {(s, r.track) for s in range(int(np.ceil(r.start_s - 0.5)), int(np.ceil(r.end_s - 0.5)))}
        return out
    t, p = pairs(truth), pairs(cues)
    return len(t & p) / max(len(p), 1), len(t & p) / max(len(t), 1)


@pytest.fixture(scope="session")
def seconds_agreement():
    return _seconds_agreement
