"""Fixtures of the Score Stamper tests: a soundtrack and a film with known cues, real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scorelens.config import StamperConfig
from scorelens.demo import _synth as synth
from scorelens.demo._films import CueSpec, FilmSpec, render_film_audio
from scorelens.demo._media import write_audio, write_film

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


def _seconds_agreement(truth: pd.DataFrame, cues: pd.DataFrame) -> tuple[float, float]:
    """(precision, recall) of (second, track) pairs, computed independently of scorelens.stamp._evaluate."""
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
