import numpy as np
import pandas as pd
import pytest
import torch

from scorelens.exceptions import ModelError, ParameterError
from scorelens.mil import InstanceMajorityVote, MILClassifier, SimpleMI
from scorelens.mil._artifact import GenreModel, load_artifact, save_artifact

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


# --------------------------------------------------------------------------- the feature record

def _record(kind, config=None):
    from scorelens.config import FeatureConfig
    from scorelens.features._pipeline import kind_record

    record = kind_record(kind, config or FeatureConfig())
    record.pop("scorelens")
    return record


def test_the_feature_record_travels_and_rebuilds_the_kind(fitted, tmp_path):
    from scorelens.config import FeatureConfig
    from scorelens.features._mir import MIRKind

    bags, Y = fitted
    trained_with = FeatureConfig(grid_method="nearest", min_cue_s=2.0)
    trained_on = MIRKind(texture_window_s=4.0, n_mfcc=8)
    record = _record(trained_on, trained_with)
    est = SimpleMI("knn").fit(bags, Y)
    path = save_artifact(GenreModel(est, "simple_mi:knn", ("A", "B"), trained_on.column_names()[-4:], "mir", "cue",
                                    Y.mean(0), features=record), tmp_path / "m.pt")
    model = load_artifact(path)
    assert model.features["settings"]["texture_window_s"] == 4.0 and model.path == path
    kind, config = model.feature_pipeline()
    assert config == trained_with
    assert kind.config.texture_window_s == 4.0 and kind.config.n_mfcc == 8
    assert kind.config.texture_overlap == 0.33 and kind.frame_rate_hz == pytest.approx(1 / (4.0 * 0.67))


def test_format_1_loads_with_a_warning_but_cannot_rebuild_its_features(fitted, tmp_path):
    import pickle

    from scorelens.mil._artifact import LegacyArtifactWarning

    bags, Y = fitted
    est = SimpleMI("knn").fit(bags, Y)
    header = GenreModel(est, "simple_mi:knn", ("A", "B"), NAMES, "mir", "cue", Y.mean(0)).header()
    header.pop("features")  # as scorelens 0.2.0 wrote them
    torch.save({"format": "scorelens-genre-model", "version": 1, "header": header,
                "payload": torch.frombuffer(bytearray(pickle.dumps(est)), dtype=torch.uint8)}, tmp_path / "old.pt")
    with pytest.warns(LegacyArtifactWarning, match="old.pt: a model of format 1"):
        model = load_artifact(tmp_path / "old.pt")
    assert model.features is None
    # Features the caller computed are still scored ...
    assert model.predict_bag(bags[0]).probabilities == pytest.approx(
        dict(zip(("A", "B"), est.predict_proba([bags[0]])[0])))
    # ... but nothing may guess the settings they were computed with.
    with pytest.raises(ModelError, match=r"old.pt: the model does not record how its mir features were computed"):
        model.feature_pipeline()


def _saved_with(record, fitted, tmp_path, name="m.pt", names=NAMES):
    bags, Y = fitted
    est = SimpleMI("knn").fit(bags, Y)
    return load_artifact(save_artifact(GenreModel(est, "simple_mi:knn", ("A", "B"), list(names), record["kind"],
                                                  "cue", Y.mean(0), features=record), tmp_path / name))


def test_a_kind_that_cannot_be_rebuilt_is_one_line_naming_what_is_missing(fitted, tmp_path, monkeypatch):
    from scorelens.features._base import get_kind

    mir = _record(get_kind("mir"))
    cases = [
        ({**mir, "version": "1"},
         rf"the model was trained on mir features version 1; this scorelens computes version "
         rf"{get_kind('mir').version}, whose values differ"),
        ({**mir, "kind": "clap"}, r"the model was trained on 'clap' features, a kind this scorelens does not have"),
        ({**mir, "pipeline": {**mir["pipeline"], "hop": 3}},
         r"the model's feature pipeline settings .* are not understood here .*'hop'"),
        ({"kind": "vggish", "version": "1", "settings": {"final_relu": False, "postprocess": True,
                                                         "checkpoint": "vggish_model.ckpt:0123abcd"},
          "sample_rate": 16000, "native_frame_rate_hz": 1 / 0.96, "grid_rate_hz": 1.0, "pipeline": mir["pipeline"]},
         r"the model's vggish features cannot be computed here: VGGish weights not found"),
    ]
    monkeypatch.delenv("SCORELENS_VGGISH_DIR", raising=False)
    for i, (record, message) in enumerate(cases):
        model = _saved_with(record, fitted, tmp_path, f"m{i}.pt")
        with pytest.raises(ModelError, match=f"m{i}.pt: " + message) as info:
            model.feature_pipeline()
        assert "\n" not in str(info.value)


def test_a_kind_whose_settings_come_out_different_here_is_refused(fitted, tmp_path):
    from scorelens.features._base import get_kind

    try:
        trained_on = get_kind("musicnn", model="MTT_musicnn", tags=False)
    except Exception as exc:  # noqa: BLE001 - the musicnn wheel (its weights) is an optional install
        pytest.skip(f"musicnn is not installed: {exc}")
    musicnn = _record(trained_on)
    model = _saved_with(musicnn, fitted, tmp_path, names=trained_on.column_names()[:4])
    kind, _ = model.feature_pipeline()
    # Options come from the record, not from this machine's defaults (MSD_musicnn with tags).
    assert kind.model == "MTT_musicnn" and kind.tags is False
    other = {**musicnn, "settings": {**musicnn["settings"], "musicnn_wheel": "0.0.9"}}
    model = _saved_with(other, fitted, tmp_path, "other.pt", names=trained_on.column_names()[:4])
    with pytest.raises(ModelError, match=r"other.pt: the musicnn features computed here would differ from the "
                                         r"model's: settings.musicnn_wheel \"0.0.9\" in the model, \"0.1.0\" here"):
        model.feature_pipeline()
