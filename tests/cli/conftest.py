"""A small study the model commands share: synthetic Comedy and Horror films, stamped, described and learned."""

from types import SimpleNamespace

import pytest
import torch

from scorelens.config import FeatureConfig, ModelConfig, StudyConfig
from scorelens.corpus import load_corpus
from scorelens.demo._films import make_corpus
from scorelens.stages._evaluate import run_train
from scorelens.stages._features import compute_features, film_sources
from scorelens.stages._stamp import run_stamp
from scorelens.workspace import Workspace

#: MIR settings the study does not use: a 4-s texture window (the study's is 5 s), so that a model
#: that forgot them would be given other features under the same column names.
MIR_OPTIONS = {"texture_window_s": 4.0}


@pytest.fixture(scope="session")
def mir_study(tmp_path_factory):
    """Six films (Comedy, Horror in turn; the demo's genre-typical music), their cue tables, MIR features with
    :data:`MIR_OPTIONS` and an attention model trained on them (``model.pt``)."""
    root = tmp_path_factory.mktemp("mir_study")
    manifest = make_corpus(root / "corpus", n_films=6, film_duration_s=30.0, tracks_per_film=2, track_duration_s=14.0,
                           seed=5, containers=("mkv",), track_formats=("flac",), foreign_music=False,
                           taxonomy=("Comedy", "Horror"))
    corpus = load_corpus(manifest)
    ws = Workspace(root / "ws")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only oversubscribe the shared cores
    try:
        run_stamp(ws, StudyConfig(), corpus)
        compute_features(ws, FeatureConfig(), film_sources(ws, corpus), kind="mir", kind_options=MIR_OPTIONS)
        run_train(ws, ModelConfig(epochs=100, hidden=16, learning_rate=1e-3, seed=0), corpus, features="mir",
                  model="attention", out=root / "model.pt")
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(root=root, manifest=manifest, corpus=corpus, workspace=ws, model=root / "model.pt",
                           films=root / "corpus" / "films", soundtracks=root / "corpus" / "soundtracks")
