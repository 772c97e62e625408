"""A small synthetic corpus for the stage and run tests, made once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """Four 30-second films (MP4/AAC and MKV/AC-3, H.264) with two soundtrack tracks each and known cues."""
    from scorelens.demo.films import make_corpus

    return make_corpus(tmp_path_factory.mktemp("corpus"), n_films=4, film_duration_s=30, tracks_per_film=2,
                       track_duration_s=12, seed=1, containers=("mp4", "mkv"))


#: Settings that keep a whole run to seconds: MIR only, tiny networks, few permutation runs.
FAST = {"run.kinds": ["mir"], "model.epochs": 3, "model.hidden": 8, "model.hidden_sizes": [8],
        "model.poolings": ["average", "attention"],
        "model.base_classifiers": ["knn"], "importance.runs": 3, "importance.hidden": 8,
        "crossmodal.model": "attention"}


@pytest.fixture
def fast_settings():
    return dict(FAST)
