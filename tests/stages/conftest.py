"""A small synthetic corpus for the stage and run tests, made once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """Four 30-second films (MP4/AAC and MKV/AC-3, H.264) with two soundtrack tracks each and known cues."""
    from scorelens.demo._films import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"), n_films=4, film_duration_s=30, tracks_per_film=2,
                       track_duration_s=12, seed=1, containers=("mp4", "mkv"))
