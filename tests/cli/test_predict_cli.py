"""``predict`` on a film: the features the model was trained on, and the genre planted in the film's music."""

import json

import numpy as np
import pytest
import torch

from scorelens.config import FeatureConfig, StamperConfig
from scorelens.corpus import load_corpus
from scorelens.demo._films import make_corpus
from scorelens.features._base import get_kind
from scorelens.features._pipeline import compute_film, cue_level, feature_columns
from scorelens.mil._artifact import load_artifact
from scorelens.stages._features import load_features
from scorelens.stages._predict import run_predict
from scorelens.workspace import Workspace

pytestmark = pytest.mark.slow


def test_predict_computes_the_features_the_model_was_trained_on(mir_study, tmp_path):
    film = next(mir_study.films.glob("film02.*"))
    report = run_predict(Workspace(tmp_path / "ws"), StamperConfig(), film,
                         soundtrack=sorted((mir_study.soundtracks / "film02").iterdir()), model=mir_study.model)
    model = load_artifact(mir_study.model)
    stored = load_features(mir_study.workspace, "mir", level="cue")
    stored = stored[stored["film_id"] == "film02"]
    assert list(report.cues["cue_id"]) == list(stored["cue_id"])   # the same cues as in training
    on_stored, _ = model.predict_table(stored)
    assert report.prediction.probabilities == pytest.approx(on_stored.probabilities, abs=1e-5)
    assert report.to_json()["feature_settings"]["settings"]["texture_window_s"] == 4.0
    # The check has teeth: the kind's defaults (5-s texture windows) describe the same cues otherwise,
    # under the same column names.
    default = cue_level(compute_film(get_kind("mir"), report.cues, config=FeatureConfig()))
    names = feature_columns(stored)
    assert feature_columns(default) == names
    assert not np.allclose(default[names].to_numpy(), stored[names].to_numpy(), rtol=1e-2, atol=1e-3)


@pytest.fixture(scope="module")
def new_films(tmp_path_factory):
    """Two films the model has never heard: a Comedy and a Horror (other pieces in the same styles)."""
    manifest = make_corpus(tmp_path_factory.mktemp("new"), n_films=2, film_duration_s=30.0, tracks_per_film=2,
                           track_duration_s=14.0, seed=8, containers=("mp4",), track_formats=("wav",),
                           foreign_music=False, taxonomy=("Comedy", "Horror"))
    return manifest.parent, load_corpus(manifest)


def test_predict_finds_the_genre_planted_in_a_new_films_music(mir_study, new_films, tmp_path, cli):
    root, corpus = new_films
    assert [f.genres for f in corpus.films] == [("Comedy",), ("Horror",)]
    for film in corpus.films:
        res = cli("-q", "predict", film.film, "--soundtrack", root / "soundtracks" / film.id, "--model",
                  mir_study.model, "--workspace", tmp_path / "ws", "--json")
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        (genre,) = film.genres
        other = ({"Comedy", "Horror"} - {genre}).pop()
        assert out["predicted"] == [genre], (film.id, out["probabilities"])
        assert out["probabilities"][genre] > 0.5 > out["probabilities"][other]
        assert out["cues"] == 3 and not out["from_prior"]
        assert out["feature_settings"]["kind"] == "mir" and out["level"] == "cue"
        assert out["feature_settings"]["settings"]["texture_window_s"] == 4.0
        drivers = out["cues_that_weighed_most"][genre]
        assert drivers and all(d["end_s"] > d["start_s"] for d in drivers)
        # attention weights of one genre sum to one over the film's cues (all three are listed)
        assert sum(d["weight"] for d in drivers) == pytest.approx(1.0, abs=1e-4)


def test_a_model_predict_cannot_use_is_one_line(mir_study, new_films, tmp_path, run_cli):
    root, corpus = new_films
    film = corpus.films[0]
    args = ("predict", film.film, "--soundtrack", root / "soundtracks" / film.id, "--workspace", tmp_path / "ws")
    code, err = run_cli(*args, "--model", mir_study.workspace.layout.fingerprints)
    assert code == 1 and "fingerprints.sqlite: not a scorelens model artifact" in err
    assert len(err.strip().splitlines()) == 1  # one line, not torch's paragraphs
    # A model saved before models recorded their features (format 1): its settings are unknown.
    data = torch.load(mir_study.model, weights_only=True)
    data["version"] = 1
    data["header"].pop("features")
    torch.save(data, tmp_path / "old.pt")
    code, err = run_cli(*args, "--model", tmp_path / "old.pt")
    assert code == 1 and len(err.strip().splitlines()) == 1, err   # the error says it all: no warning before it
    assert "old.pt: the model does not record how its mir features were computed" in err


def test_predict_reads_the_settings_as_run_does(mir_study, new_films, tmp_path, cli, run_cli):
    root, corpus = new_films
    film = corpus.films[0]
    args = ("predict", film.film, "--soundtrack", root / "soundtracks" / film.id, "--model", mir_study.model,
            "--workspace", tmp_path / "ws")
    # A stamper that asks for more aligned hashes than any 5-s window holds finds no cue: the
    # prediction falls back to the training corpus' genre shares.
    strict = tmp_path / "strict.toml"
    strict.write_text("[stamp]\nmin_votes = 100000\n")
    res = cli("-q", *args, "--json", "--config", strict, "--set", "stamp.min_votes_single=100000")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["cues"] == 0 and out["from_prior"]
    code, err = run_cli(*args, "--set", "stamp.no_such_setting=1")
    assert code != 0 and "no_such_setting" in err and len(err.strip().splitlines()) == 1, err
