"""stamp → features → train → predict on a new film, as a user runs it."""

import json
import subprocess
import sys

import pytest

from scorelens.demo.films import make_corpus


def scorelens(*args):
    return subprocess.run([sys.executable, "-m", "scorelens", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_train_then_predict_a_new_film(tmp_path):
    root = tmp_path / "corpus"
    manifest = make_corpus(root, n_films=4, film_duration_s=40.0, tracks_per_film=2, track_duration_s=20.0, seed=3,
                           containers=("mp4",), foreign_music=False)
    ws = tmp_path / "ws"
    for args in (("stamp", "--manifest", manifest), ("features", "--kind", "mir", "--manifest", manifest),
                 ("train", "--manifest", manifest, "--features", "mir", "--model", "attention", "--epochs", "20",
                  "--hidden", "16", "--out", tmp_path / "model.pt")):
        r = scorelens(*args, "--workspace", ws)
        assert r.returncode == 0, (args, r.stderr)
    new = make_corpus(tmp_path / "new", n_films=1, film_duration_s=40.0, tracks_per_film=2, track_duration_s=20.0,
                      seed=11, containers=("mkv",), foreign_music=False)
    film = next((new.parent / "films").iterdir())
    r = scorelens("-q", "predict", film, "--soundtrack", new.parent / "soundtracks" / "film01", "--model",
                  tmp_path / "model.pt", "--workspace", tmp_path / "ws2", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["probabilities"]) == {"Action", "Comedy", "Drama", "Horror", "Romance", "Science Fiction"}
    assert all(0.0 <= p <= 1.0 for p in out["probabilities"].values())
    assert out["cues"] == 3 and not out["from_prior"]
    for genre in out["predicted"]:
        drivers = out["cues_that_weighed_most"][genre]
        assert drivers and all(d["end_s"] > d["start_s"] for d in drivers)
        # attention weights of one genre sum to one over the film's cues
        assert sum(d["weight"] for d in drivers) == pytest.approx(1.0, abs=1e-4)
    r = scorelens("predict", film, "--soundtrack", new.parent / "soundtracks" / "film01", "--model",
                  tmp_path / "ws" / "fingerprints.sqlite", "--workspace", tmp_path / "ws3")
    assert r.returncode == 1
    assert "fingerprints.sqlite: not a scorelens model artifact" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1  # one line, not torch's paragraphs
