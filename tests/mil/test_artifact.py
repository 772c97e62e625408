import numpy as np
import pandas as pd
import pytest
import torch

from scorelens.exceptions import ModelError, ParameterError
from scorelens.mil import InstanceMajorityVote, MILClassifier, SimpleMI
from scorelens.mil.artifact import GenreModel, load_artifact, save_artifact

NAMES = [f"timbre/mfcc_{i:02d}/mean" for i in range(4)]


@pytest.fixture
def fitted(rng, planted):
    bags, Y = planted.shift(rng, 30, n_labels=2, n_features=4)
    return bags, Y


@pytest.mark.parametrize("make, key", [
    (lambda: MILClassifier("attention", hidden=8, epochs=3, random_state=0), "network:attention"),
    (lambda: SimpleMI("svm"), "simple_mi:svm"),
    (lambda: InstanceMajorityVote("knn"), "imv:knn"),
])
def test_round_trip(make, key, fitted, tmp_path):
    bags, Y = fitted
    est = make().fit(bags, Y)
    model = GenreModel(est, key, ("Action", "Drama"), NAMES, "mir", "cue", Y.mean(axis=0), trained_on=["a"])
    path = save_artifact(model, tmp_path / "model.pt")
    back = load_artifact(path, feature_names=NAMES, kind="mir", level="cue")
    assert np.array_equal(back.estimator.predict_proba(bags), est.predict_proba(bags))
    assert back.taxonomy == ("Action", "Drama") and back.feature_names == NAMES and back.key == key
    pred = back.predict_bag(bags[0])
    assert list(pred.probabilities) == ["Action", "Drama"]
    assert pred.instance_weights.shape == (len(bags[0]), 2)
    np.testing.assert_allclose(pred.instance_weights.sum(axis=0), 1.0, atol=1e-5)


def test_features_are_checked_and_reordered(fitted, tmp_path):
    bags, Y = fitted
    est = MILClassifier("average", hidden=4, epochs=1, random_state=0).fit(bags, Y)
    path = save_artifact(GenreModel(est, "network:average", ("A", "B"), NAMES, "mir", "cue", Y.mean(0)),
                         tmp_path / "m.pt")
    with pytest.raises(ModelError, match=r"m.pt: .*1 missing \(e.g. timbre/mfcc_03/mean\)"):
        load_artifact(path, feature_names=NAMES[:3] + ["embedding/vggish_000/mean"])
    with pytest.raises(ModelError, match="trained on 'mir' features, not 'vggish'"):
        load_artifact(path, kind="vggish")
    with pytest.raises(ModelError, match="cue-level instances, not frame-level"):
        load_artifact(path, level="frame")
    model = load_artifact(path)
    shuffled = NAMES[::-1] + ["other/extra/mean"]
    bag = np.c_[bags[0][:, ::-1], np.zeros(len(bags[0]))]
    a = model.predict_bag(bag, feature_names=shuffled).probabilities
    b = model.predict_bag(bags[0]).probabilities
    assert a == pytest.approx(b, abs=1e-6)
    with pytest.raises(ModelError, match="bag has 3 features but the model was trained on 4"):
        model.predict_bag(bags[0][:, :3])


def test_film_without_cues_gets_the_prior(fitted, tmp_path):
    bags, Y = fitted
    model = GenreModel(SimpleMI("knn").fit(bags, Y), "simple_mi:knn", ("A", "B"), NAMES, "mir", "cue",
                       np.array([0.25, 0.5]))
    pred = model.predict_bag(np.zeros((0, 4)))
    assert pred.from_prior and pred.probabilities == {"A": 0.25, "B": 0.5} and pred.instance_weights is None


def test_predict_table_traces_cues(fitted):
    bags, Y = fitted
    est = MILClassifier("attention", hidden=8, epochs=2, random_state=0).fit(bags, Y)
    model = GenreModel(est, "network:attention", ("A", "B"), NAMES, "mir", "cue", Y.mean(0))
    frames = pd.DataFrame(np.repeat(bags[0], 2, axis=0), columns=NAMES)
    frames.insert(0, "time_s", np.arange(len(frames), dtype=float))
    frames.insert(0, "cue_id", np.repeat(np.arange(len(bags[0]))[::-1], 2))
    frames.insert(0, "film_id", "new")
    pred, instances = model.predict_table(frames)
    assert list(instances["cue_id"]) == list(range(len(bags[0])))
    top = pred.top_instances("A", k=2)
    assert len(top) == 2 and top[0][1] >= top[1][1]
    with pytest.raises(ParameterError, match="genre 'Horror' is not in the model's taxonomy"):
        pred.top_instances("Horror")


def test_foreign_and_future_files_are_refused(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a scorelens model artifact"):
        load_artifact(tmp_path / "x.pt")
    future = {"format": "scorelens-genre-model", "version": 99, "header": {},
              "payload": torch.zeros(1, dtype=torch.uint8)}
    torch.save(future, tmp_path / "y.pt")
    with pytest.raises(ModelError, match="format version 99"):
        load_artifact(tmp_path / "y.pt")
    with pytest.raises(ModelError, match="no such model file"):
        load_artifact(tmp_path / "missing.pt")
